/* The selection rules of reranking and pruning: pure host functions on scores, log-probabilities and codes.
 * See select.h. */
#include "model/select.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Candidates best first: the lower tier first, then the higher score, then the lower index. */
typedef struct ranked {
  uint32_t tier;
  float score;
  uint32_t index;
} ranked;

static int by_rank(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  if (x->tier != y->tier) return x->tier < y->tier ? -1 : 1;
  if (x->score != y->score) return x->score > y->score ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

/* tier NULL: every candidate in tier 0; tier[b] = 0 for pool members, 1 for the others. */
static ranked *rank_all(const float *scores, const uint8_t *in_pool, uint32_t n) {
  ranked *order = malloc((n ? n : 1) * sizeof *order);
  if (!order) return NULL;
  for (uint32_t b = 0; b < n; b++) order[b] = (ranked){in_pool && !in_pool[b], scores[b], b};
  qsort(order, n, sizeof *order, by_rank);
  return order;
}

dvk_status dvk_prune_sources(const float *scores, uint32_t n, uint32_t *src) {
  ranked *order = rank_all(scores, NULL, n);
  if (!order) return DVK_ERR_OUT_OF_HOST_MEMORY;
  for (uint32_t b = 0; b < n; b++) src[b] = b;
  for (uint32_t k = 0; k < n / 2; k++) src[order[n - 1 - k].index] = order[k].index;
  free(order);
  return DVK_OK;
}

uint32_t dvk_reranker_pool_size(float fraction, uint32_t n) {
  const double want = ceil((double)fraction * n);
  return want < 1 ? 1 : want > n ? n : (uint32_t)want;
}

dvk_status dvk_reranker_pool(const float *mean_logprob, uint32_t n, float fraction, uint8_t *in_pool) {
  float *key = calloc(n ? n : 1, sizeof *key);
  if (!key) return DVK_ERR_OUT_OF_HOST_MEMORY;
  for (uint32_t b = 0; b < n; b++) key[b] = isnan(mean_logprob[b]) ? -INFINITY : mean_logprob[b];
  ranked *order = rank_all(key, NULL, n);
  free(key);
  if (!order) return DVK_ERR_OUT_OF_HOST_MEMORY;
  const uint32_t size = dvk_reranker_pool_size(fraction, n);
  for (uint32_t k = 0; k < n; k++) in_pool[order[k].index] = k < size;
  free(order);
  return DVK_OK;
}

dvk_status dvk_reranker_pick(const float *scores, const uint8_t *in_pool, const int32_t *codes, uint32_t n, size_t gg,
                           uint32_t keep, uint32_t *picked) {
  ranked *order = rank_all(scores, in_pool, n);
  if (!order) return DVK_ERR_OUT_OF_HOST_MEMORY;
  uint32_t k = 0;
  for (int sweep = 0; sweep < 2 && k < keep; sweep++) /* sweep 0: distinct codes only; sweep 1: the rest */
    for (uint32_t j = 0; j < n && k < keep; j++) {
      const uint32_t b = order[j].index;
      int taken = 0;
      for (uint32_t q = 0; q < k && !taken; q++)
        taken = picked[q] == b || (sweep == 0 && !memcmp(codes + picked[q] * gg, codes + b * gg, gg * sizeof *codes));
      if (!taken) picked[k++] = b;
    }
  free(order);
  return DVK_OK;
}
