/* HTTP layer of `dalle-vk serve` on libmicrohttpd (one thread per connection, so a handler may wait for its
 * job): the daemon, body limits, the API key and Host checks, routing and the endpoints (README.md "Serve"). */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "server/access_log.h"
#include "server/respond.h"

#define DRAIN_LIMIT (1024 * 1024) /* an oversized body is read and dropped up to this size, then the connection closes */

typedef struct conn_state {
  char *body;
  size_t len;
  int too_big;
  access_entry log; /* printed when the request ends (on_completed) */
} conn_state;

static int key_ok(const server *srv, struct MHD_Connection *c) {
  if (!srv->api_key) return 1;
  const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
  if (!h || strncmp(h, "Bearer ", 7) != 0) return 0;
  h += 7;
  const size_t n = strlen(h), k = strlen(srv->api_key);
  unsigned diff = n != k;
  for (size_t i = 0; i < n; i++) diff |= (unsigned char)h[i] ^ (unsigned char)srv->api_key[i < k ? i : 0];
  return diff == 0;
}

/* On a loopback server the Host header must name a loopback host: a page from another site that rebinds its own
 * name to 127.0.0.1 sends its own name and is refused. */
static int host_ok(const server *srv, struct MHD_Connection *c) {
  if (!srv->loopback) return 1;
  const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
  if (!h) return 1; /* HTTP/1.0 clients may omit it; a browser never does */
  size_t n = h[0] == '[' ? (strchr(h, ']') ? (size_t)(strchr(h, ']') - h) + 1 : strlen(h)) : strcspn(h, ":");
  return (n == 9 && strncasecmp(h, "localhost", 9) == 0) || (n == 5 && strncmp(h, "[::1]", 5) == 0) ||
         (n >= 7 && n <= 15 && strncmp(h, "127.", 4) == 0 && strspn(h, "0123456789.") >= n);
}

/* ---- endpoints ---- */

static int parse_body(server *srv, struct MHD_Connection *c, const conn_state *cs, int job_api, gen_request *req,
                      enum MHD_Result *res) {
  const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
  if (!type || strncasecmp(type, "application/json", 16) != 0 || (type[16] && type[16] != ';' && type[16] != ' ')) {
    *res = send_error(srv, c, 415, "Content-Type", "the body must be JSON: send Content-Type: application/json");
    return -1;
  }
  char param[64], msg[512];
  if (request_parse(cs->body ? cs->body : "", cs->len, &srv->jobs.rules, job_api, req, param, sizeof param, msg,
                    sizeof msg) != 0) {
    *res = send_error(srv, c, 400, param, msg);
    return -1;
  }
  return 0;
}

/* Queues the job; the access log names it. */
static job *submit(server *srv, struct MHD_Connection *c, gen_request *req, conn_state *cs, enum MHD_Result *res) {
  uint32_t retry;
  job *j = jobs_submit(&srv->jobs, req, &retry);
  request_free(req);
  if (j) snprintf(cs->log.job_id, sizeof cs->log.job_id, "%s", j->id);
  if (!j) {
    char secs[16], msg[160];
    snprintf(secs, sizeof secs, "%u", retry);
    snprintf(msg, sizeof msg, "the queue is full (%u waiting); retry in about %u s", srv->jobs.max_queue, retry);
    *res = send_error_h(srv, c, 429, NULL, msg, "Retry-After", secs);
  }
  return j;
}

/* POST /v1/images/generations: waits for the job; the client closing the connection cancels it. */
static enum MHD_Result images_generations(server *srv, struct MHD_Connection *c, conn_state *cs) {
  gen_request req;
  enum MHD_Result res = MHD_NO;
  if (parse_body(srv, c, cs, 0, &req, &res) != 0) return res;
  job *j = submit(srv, c, &req, cs, &res);
  if (!j) return res;
  job_server *js = &srv->jobs;
  const int fd = connection_fd(c);
  int gone = 0;
  pthread_mutex_lock(&js->mu);
  while (!job_finished(j) && !gone) {
    struct timespec dl;
    deadline_in(&dl, 200);
    pthread_cond_timedwait(&js->changed, &js->mu, &dl);
    if (!job_finished(j) && fd >= 0 && client_gone(fd)) gone = 1;
  }
  pthread_mutex_unlock(&js->mu);
  if (gone) { /* nobody to answer: free the device at the next step */
    jobs_cancel(js, j);
    jobs_release(js, j);
    return MHD_NO;
  }
  pthread_mutex_lock(&js->mu);
  if (j->state == JOB_DONE) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "created", floor(j->created));
    add_images(o, "data", j->result, j->result_count);
    cJSON_AddNumberToObject(o, "seed", (double)j->seed);
    pthread_mutex_unlock(&js->mu);
    res = send_json(srv, c, 200, o, NULL, NULL);
  } else {
    char msg[sizeof j->error];
    const unsigned status = j->state == JOB_CANCELLED ? 409 : j->error_is_request ? 400 : 500;
    snprintf(msg, sizeof msg, "%s", j->state == JOB_CANCELLED ? "the job was cancelled" : j->error);
    pthread_mutex_unlock(&js->mu);
    res = send_error(srv, c, status, NULL, msg);
  }
  jobs_release(js, j);
  return res;
}

static enum MHD_Result models(server *srv, struct MHD_Connection *c) {
  const request_rules *ru = &srv->jobs.rules;
  const dvk_model_info *mi = &ru->info;
  cJSON *root = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(root, "data"), *m = cJSON_CreateObject();
  cJSON_AddStringToObject(root, "object", "list");
  cJSON_AddItemToArray(data, m);
  cJSON_AddStringToObject(m, "id", ru->model_id);
  cJSON_AddStringToObject(m, "object", "model");
  cJSON_AddNumberToObject(m, "created", 0);
  cJSON_AddStringToObject(m, "owned_by", "dalle-vk");
  char size[32];
  snprintf(size, sizeof size, "%ux%u", mi->image_width, mi->image_height);
  cJSON_AddStringToObject(m, "size", size);
  cJSON_AddStringToObject(m, "license", mi->license ? mi->license : "");
  cJSON_AddNumberToObject(m, "grid", mi->grid);
  cJSON_AddBoolToObject(m, "reranker", mi->has_reranker);
  cJSON *d = cJSON_AddObjectToObject(m, "defaults");
  cJSON_AddNumberToObject(d, "n", 1);
  add_sampling(d, &ru->defaults);
  cJSON_AddNumberToObject(d, "preview_rows", ru->default_preview_rows);
  cJSON *l = cJSON_AddObjectToObject(m, "limits");
  cJSON_AddNumberToObject(l, "n", ru->max_n);
  cJSON_AddNumberToObject(l, "candidates", ru->max_candidates);
  cJSON_AddNumberToObject(l, "queue", srv->jobs.max_queue);
  return send_json(srv, c, 200, root, NULL, NULL);
}

static enum MHD_Result health(server *srv, struct MHD_Connection *c) {
  job_server *js = &srv->jobs;
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "status", "ok");
  pthread_mutex_lock(&js->mu);
  cJSON_AddNumberToObject(o, "queued", js->queued);
  cJSON_AddBoolToObject(o, "running", js->running != NULL);
  cJSON_AddNumberToObject(o, "completed", (double)js->completed);
  pthread_mutex_unlock(&js->mu);
  return send_json(srv, c, 200, o, NULL, NULL);
}

static enum MHD_Result job_list(server *srv, struct MHD_Connection *c) {
  cJSON *root = cJSON_CreateObject(), *data = cJSON_AddArrayToObject(root, "data");
  cJSON_AddStringToObject(root, "object", "list");
  pthread_mutex_lock(&srv->jobs.mu);
  for (const job *j = srv->jobs.all; j; j = j->next_all) cJSON_AddItemToArray(data, job_json(srv, j));
  pthread_mutex_unlock(&srv->jobs.mu);
  return send_json(srv, c, 200, root, NULL, NULL);
}

/* /v1/jobs/{id}[/events|/cancel] */
static enum MHD_Result job_route(server *srv, struct MHD_Connection *c, const char *method, const char *rest) {
  char id[48];
  const size_t n = strcspn(rest, "/");
  const char *tail = rest + n;
  if (n == 0 || n >= sizeof id) return send_error(srv, c, 404, NULL, "no such job");
  memcpy(id, rest, n);
  id[n] = 0;
  const int events = strcmp(tail, "/events") == 0, cancel = strcmp(tail, "/cancel") == 0;
  if (*tail && !events && !cancel) return send_error(srv, c, 404, NULL, "no such endpoint");
  const char *want = cancel ? "POST" : "GET";
  if (strcmp(method, want) != 0)
    return send_error_h(srv, c, 405, NULL, cancel ? "use POST" : "use GET", "Allow", want);
  job *j = jobs_find(&srv->jobs, id);
  if (!j) return send_error(srv, c, 404, NULL, "no such job (finished jobs are kept for the last 100)");
  if (events) return send_events(srv, c, j); /* the stream keeps the reference */
  enum MHD_Result res;
  if (cancel && jobs_cancel(&srv->jobs, j) != 0) {
    res = send_error(srv, c, 409, NULL, "the job has already finished");
  } else {
    pthread_mutex_lock(&srv->jobs.mu);
    cJSON *o = job_json(srv, j);
    pthread_mutex_unlock(&srv->jobs.mu);
    res = send_json(srv, c, cancel ? 202 : 200, o, NULL, NULL);
  }
  jobs_release(&srv->jobs, j);
  return res;
}

static enum MHD_Result route(server *srv, struct MHD_Connection *c, const char *url, const char *method,
                             conn_state *cs) {
  const int get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0, post = strcmp(method, "POST") == 0;
  if (!host_ok(srv, c))
    return send_error(srv, c, 403, "Host", "this server listens on a loopback address; the Host header must name "
                                           "localhost or a loopback address");
  if (srv->cors_origin && strcmp(method, "OPTIONS") == 0) {
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    common_headers(srv, r);
    MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST");
    MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
    MHD_add_response_header(r, "Access-Control-Max-Age", "600");
    enum MHD_Result ok = MHD_queue_response(c, 204, r);
    MHD_destroy_response(r);
    return ok;
  }
  if (strcmp(url, "/") == 0 || strcmp(url, "/index.html") == 0) {
    if (!get) return send_error_h(srv, c, 405, NULL, "use GET", "Allow", "GET");
    return send_text(srv, c, 200, "text/html; charset=utf-8", (char *)dvk_page_html, dvk_page_html_len,
                     MHD_RESPMEM_PERSISTENT, "Content-Security-Policy",
                     "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; "
                     "connect-src 'self'; base-uri 'none'; form-action 'none'");
  }
  if (strcmp(url, "/health") == 0) return get ? health(srv, c) : send_error_h(srv, c, 405, NULL, "use GET", "Allow", "GET");
  if (strncmp(url, "/v1/", 4) != 0) return send_error(srv, c, 404, NULL, "no such endpoint");
  if (!key_ok(srv, c))
    return send_error_h(srv, c, 401, NULL, "missing or wrong API key: send Authorization: Bearer KEY",
                        "WWW-Authenticate", "Bearer");
  if (strcmp(url, "/v1/models") == 0) return get ? models(srv, c) : send_error_h(srv, c, 405, NULL, "use GET", "Allow", "GET");
  if (strcmp(url, "/v1/images/generations") == 0)
    return post ? images_generations(srv, c, cs) : send_error_h(srv, c, 405, NULL, "use POST", "Allow", "POST");
  if (strcmp(url, "/v1/jobs") == 0) {
    if (get) return job_list(srv, c);
    if (!post) return send_error_h(srv, c, 405, NULL, "use GET or POST", "Allow", "GET, POST");
    gen_request req;
    enum MHD_Result res = MHD_NO;
    if (parse_body(srv, c, cs, 1, &req, &res) != 0) return res;
    job *j = submit(srv, c, &req, cs, &res);
    if (!j) return res;
    pthread_mutex_lock(&srv->jobs.mu);
    cJSON *o = job_json(srv, j);
    pthread_mutex_unlock(&srv->jobs.mu);
    jobs_release(&srv->jobs, j);
    return send_json(srv, c, 202, o, NULL, NULL);
  }
  if (strncmp(url, "/v1/jobs/", 9) == 0) return job_route(srv, c, method, url + 9);
  return send_error(srv, c, 404, NULL, "no such endpoint");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls) {
  server *srv = cls;
  conn_state *cs = *con_cls;
  if (!cs) { /* headers only so far */
    if (!(cs = calloc(1, sizeof *cs))) return MHD_NO;
    *con_cls = cs;
    access_begin(&cs->log, method, url);
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (cl && strtoull(cl, NULL, 10) > DRAIN_LIMIT) /* too large to read and drop: answer now, then close */
      return access_sent(&cs->log, c, send_error(srv, c, 413, NULL, "the request body is larger than 64 KiB"));
    return MHD_YES;
  }
  if (*upload_size) {
    if (!cs->too_big && cs->len + *upload_size > SERVER_MAX_BODY) {
      cs->too_big = 1;
      free(cs->body);
      cs->body = NULL;
    }
    if (!cs->too_big) {
      char *b = realloc(cs->body, cs->len + *upload_size + 1);
      if (!b) return MHD_NO;
      memcpy(b + cs->len, upload, *upload_size);
      cs->body = b;
      cs->body[cs->len + *upload_size] = 0;
    }
    cs->len += *upload_size;
    *upload_size = 0;
    if (cs->too_big && cs->len > DRAIN_LIMIT)
      return access_sent(&cs->log, c, send_error(srv, c, 413, NULL, "the request body is larger than 64 KiB"));
    return MHD_YES;
  }
  if (cs->too_big) return access_sent(&cs->log, c, send_error(srv, c, 413, NULL, "the request body is larger than 64 KiB"));
  return access_sent(&cs->log, c, route(srv, c, url, method, cs));
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
  const server *srv = cls;
  conn_state *cs = *con_cls;
  (void)toe;
  if (cs && !srv->quiet) access_print(&cs->log, c);
  if (cs) free(cs->body);
  free(cs);
  *con_cls = NULL;
}

int http_start(server *srv, const struct sockaddr *addr) {
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
  if (addr->sa_family == AF_INET6) flags |= MHD_USE_IPv6;
  const uint16_t port = addr->sa_family == AF_INET6 ? ntohs(((const struct sockaddr_in6 *)addr)->sin6_port)
                                                    : ntohs(((const struct sockaddr_in *)addr)->sin_port);
  srv->daemon = MHD_start_daemon(flags, port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR, addr,
                                 MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_CONNECTION_LIMIT, 64u,
                                 MHD_OPTION_CONNECTION_TIMEOUT, 120u, MHD_OPTION_END);
  if (!srv->daemon) {
    fprintf(stderr, "dalle-vk serve: cannot listen on port %u: %s\n", port, errno ? strerror(errno) : "libmicrohttpd failed");
    return -1;
  }
  return 0;
}

unsigned http_port(const server *srv) {
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
  return di ? di->port : 0;
}

void http_stop(server *srv) {
  if (srv->daemon) MHD_stop_daemon(srv->daemon);
  srv->daemon = NULL;
}
