/* Strict parsing of generation requests: see request.h. */
#define _POSIX_C_SOURCE 200809L
#include "server/request.h"


#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parse_error {
  char *param, *msg;
  size_t param_len, msg_len;
} parse_error;

static int fail(parse_error *e, const char *param, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(parse_error *e, const char *param, const char *fmt, ...) {
  snprintf(e->param, e->param_len, "%s", param);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->msg, e->msg_len, fmt, ap);
  va_end(ap);
  return -1;
}

/* A JSON integer in [lo, hi] (a number with no fractional part). */
static int get_int(const cJSON *v, double lo, double hi, double *out, parse_error *e) {
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || floor(v->valuedouble) != v->valuedouble)
    return fail(e, v->string, "%s must be an integer", v->string);
  if (v->valuedouble < lo || v->valuedouble > hi)
    return fail(e, v->string, "%s must be from %.0f to %.0f, got %.0f", v->string, lo, hi, v->valuedouble);
  *out = v->valuedouble;
  return 0;
}

/* A JSON number in (lo, hi]. */
static int get_number(const cJSON *v, double lo, double hi, float *out, parse_error *e) {
  if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) return fail(e, v->string, "%s must be a number", v->string);
  if (!(v->valuedouble > lo && v->valuedouble <= hi))
    return fail(e, v->string, "%s must be in (%g, %g], got %g", v->string, lo, hi, v->valuedouble);
  *out = (float)v->valuedouble;
  return 0;
}

static int get_string(const cJSON *v, const char **out, parse_error *e) {
  if (!cJSON_IsString(v)) return fail(e, v->string, "%s must be a string", v->string);
  *out = v->valuestring;
  return 0;
}

void request_params(const gen_request *r, dvk_generate_params *p) {
  *p = dvk_generate_defaults();
  p->prompt = r->prompt ? r->prompt : "";
  p->n_images = r->n;
  p->candidates = r->candidates;
  p->temperature = r->temperature;
  p->top_k = r->top_k;
  p->top_p = r->top_p;
  p->cond_scale = r->cond_scale;
  p->decoding = r->decoding;
  p->beam_sampled_rows = r->beam_sampled_rows;
}

/* The request's field for a dvk_generate_params field the engine rejected. */
static const char *field_of_param(const char *param) {
  return !param ? "" : strcmp(param, "n_images") == 0 ? "n" : param;
}

/* The engine's checks and defaults; a request that names no candidates gets the model's, capped at the server's
 * limit. */
static int resolve(const request_rules *rules, gen_request *r, parse_error *e) {
  dvk_generate_params p;
  request_params(r, &p);
  char msg[512];
  if (dvk_generate_check(rules->model, &p, &r->settings, msg, sizeof msg) != DVK_OK)
    return fail(e, field_of_param(r->settings.invalid_param), "%s", msg);
  if (!r->candidates && r->settings.candidates > rules->max_candidates) {
    r->candidates = rules->max_candidates; /* >= max_n >= n */
    return resolve(rules, r, e);
  }
  r->candidates = r->settings.candidates;
  return 0;
}

int request_defaults(const request_rules *rules, dvk_settings *out, char *msg, size_t msg_len) {
  gen_request r = {.n = 1}; /* prompt NULL: "" */
  char param[64];
  parse_error e = {param, msg, sizeof param, msg_len};
  if (resolve(rules, &r, &e)) return -1;
  *out = r.settings;
  return 0;
}

/* One field of the body into r; unknown names fail. */
static int field(const cJSON *v, const request_rules *rules, int job, gen_request *r, parse_error *e) {
  const char *name = v->string, *s = NULL;
  double x;
  if (strcmp(name, "prompt") == 0) {
    if (get_string(v, &s, e)) return -1;
    free(r->prompt);
    if (!(r->prompt = strdup(s))) return fail(e, "", "out of host memory");
  } else if (strcmp(name, "n") == 0) {
    if (get_int(v, 1, rules->max_n, &x, e)) return -1;
    r->n = (uint32_t)x;
  } else if (strcmp(name, "candidates") == 0) {
    if (get_int(v, 1, rules->max_candidates, &x, e)) return -1;
    r->candidates = (uint32_t)x;
  } else if (strcmp(name, "seed") == 0) {
    if (get_int(v, 0, REQUEST_MAX_SEED, &x, e)) return -1;
    r->seed = (uint64_t)x;
    r->seed_given = 1;
  } else if (strcmp(name, "temperature") == 0) {
    if (get_number(v, 0, 100, &r->temperature, e)) return -1;
  } else if (strcmp(name, "top_p") == 0) {
    if (get_number(v, 0, 1, &r->top_p, e)) return -1;
  } else if (strcmp(name, "cond_scale") == 0) {
    if (get_number(v, 0, 100, &r->cond_scale, e)) return -1;
  } else if (strcmp(name, "top_k") == 0) {
    if (get_int(v, 0, UINT32_MAX - 1, &x, e)) return -1; /* 0: the model's; the engine checks the rest */
    r->top_k = (uint32_t)x;
  } else if (strcmp(name, "decoding") == 0) {
    if (get_string(v, &s, e)) return -1;
    if (strcmp(s, "sample") && strcmp(s, "beam"))
      return fail(e, name, "decoding must be \"sample\" or \"beam\", got \"%.40s\"", s);
    r->decoding = strcmp(s, "beam") ? DVK_DECODING_SAMPLE : DVK_DECODING_BEAM;
  } else if (strcmp(name, "beam_sampled_rows") == 0) {
    if (get_int(v, 0, UINT32_MAX - 1, &x, e)) return -1; /* the engine checks the range */
    r->beam_sampled_rows = x ? (uint32_t)x : DVK_BEAM_SAMPLED_ROWS_NONE; /* 0: none, as asked */
  } else if (strcmp(name, "size") == 0) {
    char want[32];
    snprintf(want, sizeof want, "%ux%u", rules->info.image_width, rules->info.image_height);
    if (get_string(v, &s, e)) return -1;
    if (strcmp(s, want) != 0) return fail(e, name, "size must be \"%s\" (the model's only size), got \"%.40s\"", want, s);
  } else if (strcmp(name, "response_format") == 0) {
    if (get_string(v, &s, e)) return -1;
    if (strcmp(s, "b64_json") != 0)
      return fail(e, name, "response_format must be \"b64_json\" (this server keeps no image files to link), got \"%.40s\"", s);
  } else if (strcmp(name, "model") == 0) {
    if (get_string(v, &s, e)) return -1;
    if (strcmp(s, rules->model_id) != 0)
      return fail(e, name, "model \"%.80s\" is not served here; this server serves \"%s\" (GET /v1/models)", s, rules->model_id);
  } else if (strcmp(name, "user") == 0) {
    if (get_string(v, &s, e)) return -1; /* OpenAI's end-user tag: accepted, not used */
  } else if (job && strcmp(name, "preview_rows") == 0) {
    if (get_int(v, 0, rules->info.grid, &x, e)) return -1;
    r->preview_rows = (uint32_t)x;
  } else {
    return fail(e, name, "unknown field \"%.80s\"", name);
  }
  return 0;
}

int request_parse(const char *body, size_t len, const request_rules *rules, int job, gen_request *out, char *param,
                  size_t param_len, char *msg, size_t msg_len) {
  parse_error e = {param, msg, param_len, msg_len};
  *out = (gen_request){.n = 1, .preview_rows = job ? rules->default_preview_rows : 0};
  if (memchr(body, 0, len)) return fail(&e, "", "the body holds a NUL byte; send JSON text");
  size_t bad = 0;
  if (!dvk_utf8_valid(body, len, &bad)) /* JSON text is UTF-8; every string echoed back stays valid */
    return fail(&e, "", "the body is not valid UTF-8 (bad byte 0x%02x at offset %zu)", (unsigned char)body[bad], bad);
  const char *end = NULL;
  cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, 0);
  if (!root) return fail(&e, "", "malformed JSON near byte %zu", end && end >= body ? (size_t)(end - body) : (size_t)0);
  for (const char *p = end; p < body + len; p++) /* only whitespace may follow the value */
    if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
      cJSON_Delete(root);
      return fail(&e, "", "malformed JSON: text after the object at byte %zu", (size_t)(p - body));
    }
  int rc = 0;
  if (!cJSON_IsObject(root)) rc = fail(&e, "", "the body must be a JSON object");
  for (const cJSON *v = root->child; rc == 0 && v; v = v->next) {
    for (const cJSON *w = root->child; w != v; w = w->next)
      if (strcmp(w->string, v->string) == 0) rc = fail(&e, v->string, "field \"%.80s\" is given twice", v->string);
    if (rc == 0) rc = field(v, rules, job, out, &e);
  }
  if (rc == 0 && !out->prompt) rc = fail(&e, "prompt", "prompt is required (\"\" generates unconditionally)");
  if (rc == 0) rc = resolve(rules, out, &e);
  cJSON_Delete(root);
  if (rc != 0) request_free(out);
  return rc;
}

void request_free(gen_request *r) {
  free(r->prompt);
  r->prompt = NULL;
}
