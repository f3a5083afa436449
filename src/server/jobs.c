/* Job queue and the worker thread that owns the device: see jobs.h. */
#define _DEFAULT_SOURCE
#include "server/jobs.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "cli/preview.h"
#include "server/encode.h"

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static uint64_t random_u64(void) {
  uint64_t v = 0;
  if (getrandom(&v, sizeof v, 0) != (ssize_t)sizeof v) v = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull;
  return v;
}

const char *job_state_name(job_state s) {
  static const char *names[] = {"queued", "running", "done", "failed", "cancelled"};
  return names[s];
}

static void free_strings(char **s, uint32_t n) {
  for (uint32_t i = 0; s && i < n; i++) free(s[i]);
  free(s);
}

static void job_free(job *j) {
  request_free(&j->req);
  free_strings(j->preview, j->preview_count);
  free_strings(j->result, j->result_count);
  free(j->scores);
  free(j);
}

/* Under js->mu. */
static void touch(job_server *js, job *j) {
  j->version++;
  pthread_cond_broadcast(&js->changed);
}

void jobs_release(job_server *js, job *j) {
  if (!j) return;
  pthread_mutex_lock(&js->mu);
  int last = --j->refs == 0;
  pthread_mutex_unlock(&js->mu);
  if (last) job_free(j);
}

/* Base64 PNGs of im's images (malloc'ed array), or NULL when out of memory. */
static char **encode_all(const dvk_images *im) {
  char **out = calloc(im->count, sizeof *out);
  for (uint32_t i = 0; out && i < im->count; i++)
    if (!(out[i] = png_base64(im->pixels[i], im->width, im->height, im->stride))) {
      free_strings(out, im->count);
      return NULL;
    }
  return out;
}

typedef struct run_state {
  job_server *js;
  job *j;
} run_state;

static int on_progress(void *user, uint32_t done, uint32_t total) {
  run_state *rs = user;
  pthread_mutex_lock(&rs->js->mu);
  rs->j->done = done;
  rs->j->total = total;
  touch(rs->js, rs->j);
  const int stop = rs->j->cancel || rs->js->stopping;
  pthread_mutex_unlock(&rs->js->mu);
  return stop;
}

static void on_preview(void *user, const dvk_images *im, uint32_t rows_done) {
  run_state *rs = user;
  char **png = encode_all(im);
  if (!png) return; /* out of memory: skip this preview */
  pthread_mutex_lock(&rs->js->mu);
  char **old = rs->j->preview;
  const uint32_t old_count = rs->j->preview_count;
  rs->j->preview = png;
  rs->j->preview_count = im->count;
  rs->j->preview_rows_done = rows_done;
  rs->j->preview_version++;
  touch(rs->js, rs->j);
  pthread_mutex_unlock(&rs->js->mu);
  free_strings(old, old_count);
}

/* Runs one job on the device (without js->mu) and records its outcome (with it). */
static void run_job(job_server *js, job *j) {
  const gen_request *r = &j->req;
  dvk_generate_params p;
  request_params(r, &p);
  p.seed = j->seed;
  run_state rs = {js, j};
  p.progress = on_progress;
  p.progress_user = &rs;
  p.cancel = &j->cancel;
  preview pv = {0};
  int previews = r->preview_rows > 0 && preview_attach(&pv, js->model, &p, r->candidates, r->preview_rows, on_preview, &rs) == DVK_OK;
  dvk_images *im = NULL;
  dvk_status s = dvk_generate(js->model, &p, &im);
  if (previews) preview_free(&pv);
  char **png = s == DVK_OK ? encode_all(im) : NULL;
  float *scores = s == DVK_OK && im->scores ? malloc(im->count * sizeof *scores) : NULL;
  if (scores) memcpy(scores, im->scores, im->count * sizeof *scores);
  pthread_mutex_lock(&js->mu);
  if (s == DVK_OK && png) {
    j->state = JOB_DONE;
    j->result = png;
    j->result_count = im->count;
    j->scores = scores;
    scores = NULL;
  } else if (s == DVK_ERR_CANCELLED) {
    j->state = JOB_CANCELLED;
  } else {
    j->state = JOB_FAILED;
    j->error_is_request = s == DVK_ERR_INVALID_ARGUMENT;
    snprintf(j->error, sizeof j->error, "%s", s == DVK_OK ? "out of host memory encoding the PNGs" : dvk_last_error(js->ctx));
  }
  free(scores);
  pthread_mutex_unlock(&js->mu);
  dvk_images_free(im);
}

/* Drops the oldest finished jobs past JOBS_HISTORY from the list; under js->mu. Returns the dropped jobs whose last
 * reference was the list's, chained by next_all, for freeing outside the lock. */
static job *trim_history(job_server *js) {
  job *dead = NULL;
  uint32_t finished = 0;
  for (job **pp = &js->all; *pp;) {
    job *j = *pp;
    if (job_finished(j) && ++finished > JOBS_HISTORY) {
      *pp = j->next_all;
      if (--j->refs == 0) {
        j->next_all = dead;
        dead = j;
      }
    } else {
      pp = &j->next_all;
    }
  }
  return dead;
}

static void free_chain(job *dead) {
  while (dead) {
    job *next = dead->next_all;
    job_free(dead);
    dead = next;
  }
}

static void *worker(void *arg) {
  job_server *js = arg;
  pthread_mutex_lock(&js->mu);
  for (;;) {
    while (!js->stopping && !js->queue_head) pthread_cond_wait(&js->work, &js->mu);
    if (js->stopping) break;
    job *j = js->queue_head;
    js->queue_head = j->next_queued;
    if (!js->queue_head) js->queue_tail = NULL;
    js->queued--;
    j->state = JOB_RUNNING;
    j->started = wall_now();
    js->running = j;
    touch(js, j);
    pthread_mutex_unlock(&js->mu);
    run_job(js, j);
    pthread_mutex_lock(&js->mu);
    j->finished = wall_now();
    const double took = j->finished - j->started;
    js->avg_seconds = js->completed ? 0.8 * js->avg_seconds + 0.2 * took : took;
    js->completed++;
    js->running = NULL;
    touch(js, j);
    job *dead = trim_history(js);
    pthread_mutex_unlock(&js->mu);
    free_chain(dead);
    pthread_mutex_lock(&js->mu);
  }
  pthread_mutex_unlock(&js->mu);
  return NULL;
}

int jobs_start(job_server *js) {
  pthread_mutex_init(&js->mu, NULL);
  pthread_cond_init(&js->work, NULL);
  pthread_cond_init(&js->changed, NULL);
  return pthread_create(&js->worker, NULL, worker, js) == 0 ? 0 : -1;
}

void jobs_shutdown(job_server *js) {
  pthread_mutex_lock(&js->mu);
  js->stopping = 1;
  if (js->running) js->running->cancel = 1;
  for (job *j = js->queue_head; j; j = j->next_queued) {
    j->state = JOB_CANCELLED;
    touch(js, j);
  }
  js->queue_head = js->queue_tail = NULL;
  js->queued = 0;
  pthread_cond_broadcast(&js->work);
  pthread_cond_broadcast(&js->changed);
  pthread_mutex_unlock(&js->mu);
}

void jobs_stop(job_server *js) {
  jobs_shutdown(js);
  pthread_join(js->worker, NULL);
  for (job *j = js->all, *next; j; j = next) { /* the HTTP daemon is stopped: the list holds the only references */
    next = j->next_all;
    job_free(j);
  }
  js->all = js->queue_head = js->queue_tail = NULL;
  pthread_cond_destroy(&js->changed);
  pthread_cond_destroy(&js->work);
  pthread_mutex_destroy(&js->mu);
}

job *jobs_submit(job_server *js, gen_request *req, uint32_t *retry_after) {
  job *j = calloc(1, sizeof *j);
  if (!j) {
    *retry_after = 1;
    return NULL;
  }
  pthread_mutex_lock(&js->mu);
  if (js->queued + (js->running ? 1 : 0) > js->max_queue || js->stopping) { /* max_queue wait behind a running one */
    const double wait = js->avg_seconds * (js->queued + 1);
    *retry_after = wait < 1 ? 1 : (uint32_t)ceil(wait);
    pthread_mutex_unlock(&js->mu);
    free(j);
    return NULL;
  }
  snprintf(j->id, sizeof j->id, "job-%016llx", (unsigned long long)random_u64());
  j->req = *req;
  *req = (gen_request){0};
  j->seed = j->req.seed_given ? j->req.seed : random_u64() % 1000000;
  j->state = JOB_QUEUED;
  j->created = wall_now();
  j->refs = 2; /* the list's and the caller's */
  j->next_all = js->all;
  js->all = j;
  if (js->queue_tail) js->queue_tail->next_queued = j;
  else js->queue_head = j;
  js->queue_tail = j;
  js->queued++;
  pthread_cond_signal(&js->work);
  job *dead = trim_history(js); /* jobs cancelled while queued are finished too: keep the list bounded */
  pthread_mutex_unlock(&js->mu);
  free_chain(dead);
  return j;
}

job *jobs_find(job_server *js, const char *id) {
  pthread_mutex_lock(&js->mu);
  job *j = js->all;
  while (j && strcmp(j->id, id) != 0) j = j->next_all;
  if (j) j->refs++;
  pthread_mutex_unlock(&js->mu);
  return j;
}

int jobs_cancel(job_server *js, job *j) {
  pthread_mutex_lock(&js->mu);
  int rc = 0;
  if (j->state == JOB_QUEUED) { /* unlink from the queue: it never reaches the device */
    for (job **pp = &js->queue_head, *prev = NULL; *pp; prev = *pp, pp = &(*pp)->next_queued)
      if (*pp == j) {
        *pp = j->next_queued;
        if (js->queue_tail == j) js->queue_tail = prev;
        js->queued--;
        break;
      }
    j->state = JOB_CANCELLED;
    j->finished = wall_now();
    touch(js, j);
  } else if (j->state == JOB_RUNNING) {
    j->cancel = 1; /* the worker records CANCELLED after the engine stops at its next step */
  } else {
    rc = -1;
  }
  pthread_mutex_unlock(&js->mu);
  return rc;
}

uint32_t jobs_position(const job_server *js, const job *j) {
  if (j->state != JOB_QUEUED) return 0;
  uint32_t pos = js->running ? 1 : 0;
  for (const job *q = js->queue_head; q && q != j; q = q->next_queued) pos++;
  return pos;
}
