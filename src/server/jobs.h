/* The server's generation jobs: one device, one worker thread, one bounded FIFO queue. Each job records its
 * state, progress, latest previews and result under the queue's mutex; every change bumps job->version and
 * wakes all waiters (HTTP handlers, event streams). Jobs are reference-counted: the job list holds one
 * reference (the newest JOBS_HISTORY finished jobs are kept for GET /v1/jobs), each handler using a job another. */
#ifndef DVK_SERVER_JOBS_H
#define DVK_SERVER_JOBS_H

#include <pthread.h>
#include <stdint.h>

#include "dallevk.h"
#include "server/request.h"

#define JOBS_HISTORY 100 /* finished jobs kept for GET /v1/jobs */

typedef enum job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE, JOB_FAILED, JOB_CANCELLED } job_state;

typedef struct job {
  char id[40];
  gen_request req;
  uint64_t seed;       /* the request's, or a random one */
  job_state state;
  uint64_t version;    /* bumped on every change */
  uint32_t done, total; /* image tokens sampled of one candidate */
  char **preview;      /* [preview_count] base64 PNGs of every candidate, the latest (NULL: none yet) */
  uint32_t preview_count, preview_rows_done;
  uint64_t preview_version;
  char **result;       /* [result_count] base64 PNGs, best first (DONE) */
  uint32_t result_count;
  float *scores;       /* [result_count] reranker scores, or NULL */
  char error[1024];    /* FAILED: the engine's message */
  int error_is_request; /* FAILED because the engine rejected the request (HTTP 400, not 500) */
  volatile int cancel; /* read by the engine between steps */
  double created, started, finished; /* unix seconds; 0 = not yet */
  int refs;
  struct job *next_queued, *next_all;
} job;

typedef struct job_server {
  pthread_mutex_t mu;
  pthread_cond_t work;    /* the worker waits for a job */
  pthread_cond_t changed; /* broadcast on every job change */
  dvk_model *model;
  dvk_context *ctx;
  request_rules rules;
  uint32_t max_queue, queued;
  job *queue_head, *queue_tail;
  job *running;
  job *all;               /* newest first */
  double avg_seconds;     /* moving average of a job's run time, for Retry-After */
  uint64_t completed;     /* jobs finished since start */
  int stopping;
  pthread_t worker;
} job_server;

/* Starts the worker. Returns 0, or -1 when the thread cannot be created. */
int jobs_start(job_server *js);
/* Cancels every queued and running job and refuses new ones (waiters wake as their jobs finish). */
void jobs_shutdown(job_server *js);
/* jobs_shutdown, then waits for the worker and frees the jobs (no handler may hold one: stop HTTP first). */
void jobs_stop(job_server *js);

/* Queues a generation (takes ownership of *req's memory) and returns the job with a reference for the caller,
 * or NULL when the queue is full (*retry_after: seconds to suggest). */
job *jobs_submit(job_server *js, gen_request *req, uint32_t *retry_after);
/* The job with this id, with a reference for the caller, or NULL. */
job *jobs_find(job_server *js, const char *id);
void jobs_release(job_server *js, job *j);
/* Asks a queued or running job to stop (a running one stops at its next step). Returns 0, or -1 when it had
 * already finished. */
int jobs_cancel(job_server *js, job *j);

/* Whether a job is finished (DONE, FAILED or CANCELLED). */
static inline int job_finished(const job *j) { return j->state >= JOB_DONE; }
const char *job_state_name(job_state s);
/* Jobs ahead of a queued job (0 when it runs or has finished); call with js->mu held. */
uint32_t jobs_position(const job_server *js, const job *j);

#endif
