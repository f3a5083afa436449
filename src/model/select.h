/* The selection rules of reranking and pruning (docs/design.md §4): which candidates continue after a pruning,
 * which form the reranker's pool, which are kept. Pure host functions, no device; reference:
 * tools/dallevk/clip.py; tested by tests/test_rerank_pick.c. */
#ifndef DVK_MODEL_SELECT_H
#define DVK_MODEL_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "dallevk_status.h"

/* The pruning rule (docs/design.md §4): scores f32 [n] -> src [n]: candidates ranked best first (ties: lower
 * index first); the k-th worst (k < n / 2) continues as a copy of the k-th best, the others as themselves.
 * Reference: tools/dallevk/clip.py prune_sources. Returns DVK_OK, or DVK_ERR_OUT_OF_HOST_MEMORY. */
dvk_status dvk_prune_sources(const float *scores, uint32_t n, uint32_t *src);

/* The reranker's pool (this engine's addition to DALL-E's reranking, docs/design.md §4): the reranker
 * chooses first among the candidates the transformer itself finds most likely, which keeps a contrastive
 * score that saturates on real images from preferring broken, off-distribution ones. mean_logprob f32 [n]
 * (each candidate's mean log-probability of its own codes, nats per code; NaN counts as -inf) ->
 * in_pool [n] = 1 for the dvk_reranker_pool_size(fraction, n) largest (ties: lower index first), else 0.
 * Reference: tools/dallevk/clip.py rerank_pool. Returns DVK_OK, or DVK_ERR_OUT_OF_HOST_MEMORY. */
dvk_status dvk_reranker_pool(const float *mean_logprob, uint32_t n, float fraction, uint8_t *in_pool);

/* The pool's size: ceil(fraction * n) computed in double from the f32 fraction, clamped to [1, n]. */
uint32_t dvk_reranker_pool_size(float fraction, uint32_t n);

/* The final selection: scores f32 [n] of candidates codes int32 [n, gg] -> picked [keep] candidate indices,
 * best first among candidates whose codes differ from every better picked one's; when fewer than keep are
 * distinct, the passed-over duplicates follow, best first. "Better": in the pool (in_pool [n], NULL = all
 * candidates) before outside it, then the higher score, then the lower index. keep <= n.
 * Returns DVK_OK, or DVK_ERR_OUT_OF_HOST_MEMORY. */
dvk_status dvk_reranker_pick(const float *scores, const uint8_t *in_pool, const int32_t *codes, uint32_t n, size_t gg,
                           uint32_t keep, uint32_t *picked);

#endif
