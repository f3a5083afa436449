/* Server-Sent Events of one job: see respond.h (send_events). The stream waits on the jobs' condition variable and
 * writes what changed since it last looked: status (and queue position), progress, the latest preview, the result. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/respond.h"

#define KEEPALIVE_SECONDS 1 /* an idle stream sends a comment this often (which also finds closed clients) */

typedef struct event_stream {
  server *srv;
  job *j;
  int fd;
  uint64_t seen_version, seen_preview;
  uint32_t seen_done, seen_position;
  int seen_state; /* -1: nothing sent yet */
  char *buf;
  size_t len, cap, off;
  int ended;
} event_stream;

static int append(event_stream *es, const char *s) {
  const size_t n = strlen(s);
  if (es->len + n + 1 > es->cap) {
    size_t cap = es->cap ? es->cap : 4096;
    while (cap < es->len + n + 1) cap *= 2;
    char *b = realloc(es->buf, cap);
    if (!b) return -1;
    es->buf = b;
    es->cap = cap;
  }
  memcpy(es->buf + es->len, s, n + 1);
  es->len += n;
  return 0;
}

/* "event: NAME\ndata: JSON\n\n" (obj consumed). */
static int append_event(event_stream *es, const char *name, cJSON *obj) {
  char *text = cJSON_PrintUnformatted(obj);
  cJSON_Delete(obj);
  char head[64];
  snprintf(head, sizeof head, "event: %s\ndata: ", name);
  int rc = text && !append(es, head) && !append(es, text) && !append(es, "\n\n") ? 0 : -1;
  free(text);
  return rc;
}

/* Waits (up to KEEPALIVE_SECONDS) for the job to change and writes the events that say how; under no lock. */
static int compose(event_stream *es) {
  job_server *js = &es->srv->jobs;
  job *j = es->j;
  pthread_mutex_lock(&js->mu);
  struct timespec dl;
  deadline_in(&dl, KEEPALIVE_SECONDS * 1000);
  while (es->seen_state >= 0 && j->version == es->seen_version && jobs_position(js, j) == es->seen_position &&
         !js->stopping && pthread_cond_timedwait(&js->changed, &js->mu, &dl) != ETIMEDOUT) {
  }
  int rc = 0;
  const uint32_t pos = jobs_position(js, j);
  if ((int)j->state != es->seen_state || pos != es->seen_position) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "status", job_state_name(j->state));
    cJSON_AddNumberToObject(o, "position", pos);
    cJSON_AddNumberToObject(o, "seed", (double)j->seed);
    rc |= append_event(es, "status", o);
  }
  if (j->done != es->seen_done) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "done", j->done);
    cJSON_AddNumberToObject(o, "total", j->total);
    rc |= append_event(es, "progress", o);
  }
  if (j->preview_version != es->seen_preview && j->preview) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "rows", j->preview_rows_done);
    cJSON_AddNumberToObject(o, "grid", es->srv->jobs.rules.info.grid);
    add_images(o, "data", j->preview, j->preview_count);
    rc |= append_event(es, "preview", o);
  }
  if (job_finished(j)) {
    rc |= append_event(es, "result", job_json(es->srv, j));
    es->ended = 1;
  } else if (js->stopping) {
    es->ended = 1;
  }
  if (es->len == 0) rc |= append(es, ": keepalive\n\n");
  es->seen_version = j->version;
  es->seen_preview = j->preview_version;
  es->seen_done = j->done;
  es->seen_state = (int)j->state;
  es->seen_position = pos;
  pthread_mutex_unlock(&js->mu);
  return rc;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max) {
  (void)pos;
  event_stream *es = cls;
  while (es->off == es->len) {
    if (es->ended) return MHD_CONTENT_READER_END_OF_STREAM;
    if (client_gone(es->fd)) return MHD_CONTENT_READER_END_WITH_ERROR;
    es->off = es->len = 0;
    if (compose(es) != 0) return MHD_CONTENT_READER_END_WITH_ERROR;
  }
  const size_t n = es->len - es->off < max ? es->len - es->off : max;
  memcpy(buf, es->buf + es->off, n);
  es->off += n;
  return (ssize_t)n;
}

/* The response is gone: finished, or the client went away, which cancels an unfinished job. */
static void sse_free(void *cls) {
  event_stream *es = cls;
  pthread_mutex_lock(&es->srv->jobs.mu);
  const int unfinished = !job_finished(es->j);
  pthread_mutex_unlock(&es->srv->jobs.mu);
  if (unfinished) jobs_cancel(&es->srv->jobs, es->j);
  jobs_release(&es->srv->jobs, es->j);
  free(es->buf);
  free(es);
}

enum MHD_Result send_events(server *srv, struct MHD_Connection *c, job *j) {
  event_stream *es = calloc(1, sizeof *es);
  if (!es) {
    jobs_release(&srv->jobs, j);
    return send_error(srv, c, 500, NULL, "out of host memory");
  }
  *es = (event_stream){.srv = srv, .j = j, .fd = connection_fd(c), .seen_state = -1};
  struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, sse_read, es, sse_free);
  if (!r) {
    sse_free(es);
    return MHD_NO;
  }
  MHD_add_response_header(r, "Content-Type", "text/event-stream");
  common_headers(srv, r);
  enum MHD_Result ok = MHD_queue_response(c, 200, r);
  MHD_destroy_response(r);
  return ok;
}
