/* Generation requests from JSON bodies (cJSON), checked strictly: every field known, of the right type and in the
 * server's limits, then the engine's own checks and defaults (dvk_generate_check), or an error naming the field.
 * The body is OpenAI's images request (prompt, n, size, response_format, model, user) plus this engine's settings
 * (seed, temperature, top_k, top_p, cond_scale, candidates, decoding, beam_sampled_rows) and, for jobs,
 * preview_rows. */
#ifndef DVK_SERVER_REQUEST_H
#define DVK_SERVER_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "dallevk.h"

/* What the server allows and defaults to, fixed at start. */
typedef struct request_rules {
  const dvk_model *model; /* checks requests (dvk_generate_check) */
  dvk_model_info info;
  const char *model_id;   /* the id /v1/models reports; "model" must name it when given */
  uint32_t max_n, max_candidates;
  uint32_t default_preview_rows;
  dvk_settings defaults; /* a request naming only its prompt (request_defaults) */
} request_rules;

typedef struct gen_request {
  char *prompt; /* malloc'ed UTF-8 */
  uint32_t n;
  uint32_t candidates; /* as resolved: the request's, else the model's capped at the server's limit */
  uint64_t seed;
  int seed_given;
  float temperature, top_p, cond_scale; /* as asked; 0: the model's recommended value */
  uint32_t top_k;                       /* as asked; 0: the model's */
  dvk_decoding decoding;                /* as asked; DVK_DECODING_DEFAULT: the model's */
  uint32_t beam_sampled_rows;           /* as asked (dvk_generate_params.beam_sampled_rows) */
  dvk_settings settings;                /* what the engine will use (dvk_generate_check) */
  uint32_t preview_rows; /* jobs: previews every this many image rows; 0 = none */
} gen_request;

/* Largest seed a request may give: JSON numbers are read as doubles, exact up to 2^53. */
#define REQUEST_MAX_SEED 9007199254740991.0

/* Parses body [len] (need not be NUL-terminated) into *out (free with request_free). job: 1 for the job API
 * (preview_rows allowed). Returns 0, or -1 with the offending field's name in param ("" for the body as a whole)
 * and a message in msg. */
int request_parse(const char *body, size_t len, const request_rules *rules, int job, gen_request *out, char *param,
                  size_t param_len, char *msg, size_t msg_len);
void request_free(gen_request *r);

/* The generation parameters a request asks for (p->prompt points into r; the seed is the caller's). */
void request_params(const gen_request *r, dvk_generate_params *p);

/* The settings of a request that names nothing but its prompt ("defaults" of GET /v1/models). Returns 0, or -1
 * with msg when the model's own defaults fail its checks. */
int request_defaults(const request_rules *rules, dvk_settings *out, char *msg, size_t msg_len);

#endif
