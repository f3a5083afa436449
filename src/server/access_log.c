/* The access log: see access_log.h. */
#define _GNU_SOURCE
#include "server/access_log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Copies src into dst [cap] with every byte outside printable ASCII as '?', so a line stays one line. */
static void printable(char *dst, size_t cap, const char *src) {
  size_t i = 0;
  for (; src && src[i] && i + 1 < cap; i++) dst[i] = src[i] > ' ' && src[i] < 127 ? src[i] : '?';
  dst[i] = 0;
}

void access_begin(access_entry *e, const char *method, const char *url) {
  memset(e, 0, sizeof *e);
  clock_gettime(CLOCK_MONOTONIC, &e->start);
  clock_gettime(CLOCK_REALTIME, &e->start_wall);
  printable(e->method, sizeof e->method, method);
  printable(e->path, sizeof e->path, url);
}

enum MHD_Result access_sent(access_entry *e, struct MHD_Connection *c, enum MHD_Result r) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_HTTP_STATUS);
  if (ci) e->status = ci->http_status;
  return r;
}

/* The client's address as text ("?" when unknown). */
static void client_address(struct MHD_Connection *c, char *out, size_t cap) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  const struct sockaddr *a = ci ? ci->client_addr : NULL;
  const void *bytes = !a                        ? NULL
                      : a->sa_family == AF_INET ? (const void *)&((const struct sockaddr_in *)a)->sin_addr
                      : a->sa_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)a)->sin6_addr
                                                 : NULL;
  if (!bytes || !inet_ntop(a->sa_family, bytes, out, (socklen_t)cap)) snprintf(out, cap, "?");
}

void access_print(const access_entry *e, struct MHD_Connection *c) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  const double secs = (double)(now.tv_sec - e->start.tv_sec) + 1e-9 * (double)(now.tv_nsec - e->start.tv_nsec);
  struct tm tm;
  char when[32], addr[INET6_ADDRSTRLEN], status[16];
  gmtime_r(&e->start_wall.tv_sec, &tm);
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
  client_address(c, addr, sizeof addr);
  if (e->status) snprintf(status, sizeof status, "%u", e->status);
  else snprintf(status, sizeof status, "-");
  fprintf(stderr, "%s %s %s %s %s%s%s %.3fs\n", when, addr, e->method, e->path, status, *e->job_id ? " " : "",
          e->job_id, secs);
}
