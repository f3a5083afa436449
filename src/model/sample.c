/* Token sampling. See sample.h. */
#include "model/sample.h"

#include <math.h>
#include <stdlib.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void dvk_rng_seed(dvk_rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t dvk_rng_next(dvk_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double dvk_rng_uniform(dvk_rng *r) { return (double)(dvk_rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

dvk_status dvk_sampler_init(dvk_sampler *s, uint32_t n, float temperature, uint32_t top_k, float top_p) {
  s->temperature = temperature;
  s->top_k = top_k;
  s->top_p = top_p;
  s->n = n;
  s->order = malloc((size_t)n * sizeof *s->order);
  s->prob = malloc((size_t)n * sizeof *s->prob);
  if (!s->order || !s->prob) {
    dvk_sampler_free(s);
    return DVK_ERR_OUT_OF_HOST_MEMORY;
  }
  return DVK_OK;
}

void dvk_sampler_free(dvk_sampler *s) {
  free(s->order);
  free(s->prob);
  s->order = NULL;
  s->prob = NULL;
}

/* A NaN logit (a broken model) ranks below every number and gets probability 0: the comparator stays a total
 * order, which qsort requires, and a NaN token is never sampled. */
static float logit_key(float v) { return isnan(v) ? -INFINITY : v; }

/* Higher logit first, then the lower token: a total order, so the result does not depend on the sort. */
static int by_logit_desc(const void *pa, const void *pb) {
  const dvk_token_key *a = pa, *b = pb;
  if (a->logit != b->logit) return a->logit > b->logit ? -1 : 1;
  return a->token < b->token ? -1 : (a->token > b->token);
}

uint32_t dvk_sample(dvk_sampler *s, const float *logits, dvk_rng *rng) {
  const uint32_t n = s->n;
  for (uint32_t i = 0; i < n; i++) s->order[i] = (dvk_token_key){logit_key(logits[i]), i};
  qsort(s->order, n, sizeof *s->order, by_logit_desc);
  uint32_t keep = (s->top_k > 0 && s->top_k < n) ? s->top_k : n;
  /* probabilities of the kept tokens, most likely first */
  const double inv_t = 1.0 / (double)s->temperature, top = (double)s->order[0].logit * inv_t;
  if (!isfinite(top)) return s->order[0].token; /* +inf wins outright; all NaN / -inf: no distribution, the first */
  double total = 0;
  for (uint32_t i = 0; i < keep; i++) {
    s->prob[i] = exp((double)s->order[i].logit * inv_t - top);
    total += s->prob[i];
  }
  if (s->top_p < 1.0f) { /* smallest prefix whose probability reaches top_p */
    double cum = 0;
    for (uint32_t i = 0; i < keep; i++) {
      cum += s->prob[i];
      if (cum >= (double)s->top_p * total) {
        keep = i + 1;
        total = cum;
        break;
      }
    }
  }
  double u = dvk_rng_uniform(rng) * total, cum = 0;
  for (uint32_t i = 0; i < keep; i++) {
    cum += s->prob[i];
    if (u < cum) return s->order[i].token;
  }
  return s->order[keep - 1].token;
}

/* The softmax's normalizer of logits[n] with dvk_log_prob's rules: the largest logit (NaN read as -inf), how many
 * are +inf, and the sum of exp(logit - largest) (meaningful when the largest is finite). */
typedef struct log_norm {
  double top, total;
  uint32_t n_top_inf;
} log_norm;

static log_norm log_normalizer(const float *logits, uint32_t n) {
  log_norm z = {-INFINITY, 0, 0};
  for (uint32_t i = 0; i < n; i++) {
    const double v = logit_key(logits[i]);
    if (v > z.top) z.top = v;
    z.n_top_inf += v == INFINITY;
  }
  if (z.top == INFINITY || z.top == -INFINITY) return z;
  for (uint32_t i = 0; i < n; i++) z.total += exp((double)logit_key(logits[i]) - z.top); /* around the largest */
  return z;
}

static double log_prob_of(const log_norm *z, float logit) {
  const double x = logit_key(logit);
  if (x == -INFINITY) return -INFINITY;
  if (z->top == INFINITY) return x == INFINITY ? -log((double)z->n_top_inf) : -INFINITY; /* the limit: +inf tokens share */
  return x - z->top - log(z->total);
}

double dvk_log_prob(const float *logits, uint32_t n, uint32_t token) {
  const log_norm z = log_normalizer(logits, n);
  return log_prob_of(&z, logits[token]);
}

void dvk_log_probs(const float *logits, uint32_t n, double *out) {
  const log_norm z = log_normalizer(logits, n);
  const double log_total = z.top == INFINITY || z.top == -INFINITY ? 0 : log(z.total);
  for (uint32_t i = 0; i < n; i++) {
    const double x = logit_key(logits[i]);
    out[i] = x == -INFINITY ? -INFINITY : z.top == INFINITY ? log_prob_of(&z, logits[i]) : x - z.top - log_total;
  }
}
