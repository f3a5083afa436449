/* HTTP responses and shared connection helpers: see respond.h. */
#define _GNU_SOURCE
#include "server/respond.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- responses ---- */

void common_headers(const server *srv, struct MHD_Response *r) {
  MHD_add_response_header(r, "Cache-Control", "no-store");
  MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
  if (srv->cors_origin) {
    MHD_add_response_header(r, "Access-Control-Allow-Origin", srv->cors_origin);
    MHD_add_response_header(r, "Vary", "Origin");
  }
}

enum MHD_Result send_text(const server *srv, struct MHD_Connection *c, unsigned status, const char *type,
                                 char *text, size_t len, enum MHD_ResponseMemoryMode mode, const char *h1,
                                 const char *v1) {
  struct MHD_Response *r = MHD_create_response_from_buffer(len, text, mode);
  if (!r) return MHD_NO;
  MHD_add_response_header(r, "Content-Type", type);
  common_headers(srv, r);
  if (h1) MHD_add_response_header(r, h1, v1);
  enum MHD_Result ok = MHD_queue_response(c, status, r);
  MHD_destroy_response(r);
  return ok;
}

/* Sends obj (consumed) as JSON; h1/v1: one more header, or NULL. */
enum MHD_Result send_json(const server *srv, struct MHD_Connection *c, unsigned status, cJSON *obj,
                                 const char *h1, const char *v1) {
  char *text = obj ? cJSON_PrintUnformatted(obj) : NULL;
  cJSON_Delete(obj);
  if (!text) return MHD_NO;
  return send_text(srv, c, status, "application/json", text, strlen(text), MHD_RESPMEM_MUST_FREE, h1, v1);
}

/* OpenAI's error shape: {"error": {"message", "type", "param", "code"}}; param "" or NULL: null. */
enum MHD_Result send_error_h(const server *srv, struct MHD_Connection *c, unsigned status, const char *param,
                                    const char *msg, const char *h1, const char *v1) {
  cJSON *root = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(root, "error");
  cJSON_AddStringToObject(e, "message", msg);
  cJSON_AddStringToObject(e, "type", status == 401 ? "authentication_error"
                                     : status == 429 ? "rate_limit_error"
                                     : status >= 500 ? "server_error" : "invalid_request_error");
  if (param && *param) cJSON_AddStringToObject(e, "param", param);
  else cJSON_AddNullToObject(e, "param");
  cJSON_AddNullToObject(e, "code");
  return send_json(srv, c, status, root, h1, v1);
}

enum MHD_Result send_error(const server *srv, struct MHD_Connection *c, unsigned status, const char *param,
                                  const char *msg) {
  return send_error_h(srv, c, status, param, msg, NULL, NULL);
}

/* ---- jobs as JSON ---- */

/* A float setting as the shortest decimal that reads back as it (0.7f prints 0.7, not 0.699999988). */
double num(float f) {
  char b[32];
  snprintf(b, sizeof b, "%.9g", (double)f);
  for (int digits = 1; digits < 9; digits++) {
    char t[32];
    snprintf(t, sizeof t, "%.*g", digits, (double)f);
    if ((float)strtod(t, NULL) == f) return strtod(t, NULL);
  }
  return strtod(b, NULL);
}

void add_sampling(cJSON *o, const dvk_settings *s) {
  cJSON_AddNumberToObject(o, "candidates", s->candidates);
  cJSON_AddNumberToObject(o, "temperature", num(s->temperature));
  cJSON_AddNumberToObject(o, "top_k", s->top_k);
  cJSON_AddNumberToObject(o, "top_p", num(s->top_p));
  cJSON_AddNumberToObject(o, "cond_scale", num(s->cond_scale));
  cJSON_AddStringToObject(o, "decoding", s->decoding == DVK_DECODING_BEAM ? "beam" : "sample");
  cJSON_AddNumberToObject(o, "beam_sampled_rows", s->beam_sampled_rows);
}

/* The settings a job uses, as the engine resolved them (the model's recommended values where the request left
 * them unset). */
static void add_settings(cJSON *o, const job *j) {
  const gen_request *r = &j->req;
  const dvk_settings *s = &r->settings;
  cJSON_AddStringToObject(o, "prompt", r->prompt);
  cJSON_AddNumberToObject(o, "seed", (double)j->seed);
  cJSON_AddNumberToObject(o, "n", s->n_images);
  add_sampling(o, s);
}

/* OpenAI's "data": [{"b64_json": ...}, ...]. */
void add_images(cJSON *o, const char *name, char **png, uint32_t count) {
  cJSON *data = cJSON_AddArrayToObject(o, name);
  for (uint32_t i = 0; i < count; i++) {
    cJSON *item = cJSON_CreateObject();
    cJSON_AddStringToObject(item, "b64_json", png[i]);
    cJSON_AddItemToArray(data, item);
  }
}

/* A job's state, settings and (when done) images; under js->mu. */
cJSON *job_json(const server *srv, const job *j) {
  cJSON *o = cJSON_CreateObject();
  cJSON_AddStringToObject(o, "id", j->id);
  cJSON_AddStringToObject(o, "object", "image.generation.job");
  cJSON_AddStringToObject(o, "status", job_state_name(j->state));
  cJSON_AddNumberToObject(o, "created", floor(j->created));
  cJSON_AddNumberToObject(o, "position", jobs_position(&srv->jobs, j));
  cJSON_AddNumberToObject(o, "done", j->done);
  cJSON_AddNumberToObject(o, "total", j->total);
  add_settings(o, j);
  if (j->finished > 0) cJSON_AddNumberToObject(o, "seconds", j->finished - (j->started > 0 ? j->started : j->created));
  if (j->state == JOB_DONE) {
    add_images(o, "data", j->result, j->result_count);
    if (j->scores) cJSON_AddItemToObject(o, "scores", cJSON_CreateFloatArray(j->scores, (int)j->result_count));
  }
  if (j->state == JOB_FAILED) cJSON_AddStringToObject(o, "error", j->error);
  return o;
}

/* ---- connections ---- */

/* Whether the client has closed its end (an orderly shutdown or an error on the socket). */
int client_gone(int fd) {
  char ch;
  ssize_t n = recv(fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

int connection_fd(struct MHD_Connection *c) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  return ci ? ci->connect_fd : -1;
}

void deadline_in(struct timespec *ts, long ms) {
  clock_gettime(CLOCK_REALTIME, ts);
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (ms % 1000) * 1000000L;
  if (ts->tv_nsec >= 1000000000L) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000L;
  }
}

/* Constant-time comparison of the Authorization header with "Bearer KEY". */
