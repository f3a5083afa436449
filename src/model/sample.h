/* Host-side sampling of one token from logits: temperature, top-k, top-p (nucleus), with a seeded
 * generator so that the same seed gives the same tokens on every machine (no libm randomness). */
#ifndef DVK_MODEL_SAMPLE_H
#define DVK_MODEL_SAMPLE_H

#include <stddef.h>
#include <stdint.h>

#include "dallevk_status.h"

/* xoshiro256** (Blackman & Vigna), seeded through splitmix64. */
typedef struct dvk_rng {
  uint64_t s[4];
} dvk_rng;

void dvk_rng_seed(dvk_rng *r, uint64_t seed);
uint64_t dvk_rng_next(dvk_rng *r);
double dvk_rng_uniform(dvk_rng *r); /* [0, 1), 53 random bits */

typedef struct dvk_token_key {
  float logit; /* NaN read as -inf */
  uint32_t token;
} dvk_token_key;

typedef struct dvk_sampler {
  float temperature; /* > 0 */
  uint32_t top_k;    /* 0 = no limit */
  float top_p;       /* (0, 1]; 1 = no limit */
  uint32_t n;        /* vocabulary size the scratch below was made for */
  dvk_token_key *order; /* scratch [n]: tokens by descending logit */
  double *prob;      /* scratch [n] */
} dvk_sampler;

/* Prepares a sampler for vocabularies of n tokens. Returns DVK_OK, or DVK_ERR_OUT_OF_HOST_MEMORY. */
dvk_status dvk_sampler_init(dvk_sampler *s, uint32_t n, float temperature, uint32_t top_k, float top_p);
void dvk_sampler_free(dvk_sampler *s);

/* Samples an index in [0, n) from logits[n] (f32, any scale): p_i ∝ exp(logit_i / temperature), keeping
 * only the top_k most likely tokens, then the smallest most-likely set whose probability reaches top_p
 * (Holtzman et al. 2019, "The Curious Case of Neural Text Degeneration"). Ties are broken by the lower
 * index. NaN logits count as -inf (never sampled); a +inf logit is taken outright. Deterministic for a given
 * generator state. */
uint32_t dvk_sample(dvk_sampler *s, const float *logits, dvk_rng *rng);

/* log p(token) under softmax(logits[n]) at temperature 1, in nats, computed in double: the model's own
 * log-probability of a token, whatever temperature / top-k / top-p then sampled from. NaN logits count as
 * -inf, as in dvk_sample; a -inf or NaN token gives -inf; with m > 0 logits +inf (the limit of m equal
 * logits growing without bound) each of those gives -log(m) and every other token -inf; all -inf: -inf. */
double dvk_log_prob(const float *logits, uint32_t n, uint32_t token);

/* Every token's log p at once: out f64 [n], out[i] = dvk_log_prob(logits, n, i) (the same rules, one pass). */
void dvk_log_probs(const float *logits, uint32_t n, double *out);

#endif
