/* HTTP responses of `dalle-vk serve` (libmicrohttpd + cJSON): JSON bodies, OpenAI's error object, jobs as JSON,
 * and the connection helpers the waiting handlers and event streams share. */
#ifndef DVK_SERVER_RESPOND_H
#define DVK_SERVER_RESPOND_H

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <time.h>

#include "server/server.h"

/* Cache-Control, nosniff, and the CORS headers when --cors gave an origin. */
void common_headers(const server *srv, struct MHD_Response *r);
/* Queues text [len] of MIME type `type` (mode: who owns text); h1/v1: one more header, or NULL. */
enum MHD_Result send_text(const server *srv, struct MHD_Connection *c, unsigned status, const char *type, char *text,
                          size_t len, enum MHD_ResponseMemoryMode mode, const char *h1, const char *v1);
/* Queues obj (consumed) as JSON. */
enum MHD_Result send_json(const server *srv, struct MHD_Connection *c, unsigned status, cJSON *obj, const char *h1,
                          const char *v1);
/* OpenAI's error shape: {"error": {"message", "type", "param", "code"}}; param "" or NULL: null. */
enum MHD_Result send_error_h(const server *srv, struct MHD_Connection *c, unsigned status, const char *param,
                             const char *msg, const char *h1, const char *v1);
enum MHD_Result send_error(const server *srv, struct MHD_Connection *c, unsigned status, const char *param,
                           const char *msg);

/* A float setting as the shortest decimal that reads back as it (0.7f gives 0.7, not 0.699999988). */
double num(float f);
/* The resolved sampling settings as fields of o: candidates, temperature, top_k, top_p, cond_scale, decoding,
 * beam_sampled_rows. */
void add_sampling(cJSON *o, const dvk_settings *s);
/* OpenAI's "data": [{"b64_json": ...}, ...] under `name`. */
void add_images(cJSON *o, const char *name, char **png, uint32_t count);
/* A job's state, settings (the model's values where the request left them unset) and, when done, images and
 * scores; call with srv->jobs.mu held. */
cJSON *job_json(const server *srv, const job *j);

/* Whether the client has closed its end (an orderly shutdown or an error on the socket). */
int client_gone(int fd);
/* The connection's socket, or -1. */
int connection_fd(struct MHD_Connection *c);
/* *ts = now + ms (CLOCK_REALTIME, for pthread_cond_timedwait). */
void deadline_in(struct timespec *ts, long ms);

/* GET /v1/jobs/{id}/events: Server-Sent Events of job j (status, progress, preview, result), until it ends; takes
 * over the caller's reference. The stream closing before the job ends cancels the job (events.c). */
enum MHD_Result send_events(server *srv, struct MHD_Connection *c, job *j);

#endif
