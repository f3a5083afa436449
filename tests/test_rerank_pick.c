/* The reranker's host-side rules (src/model/select.c) against naive references on seeded random scores
 * and codes: dvk_prune_sources (pruning: the k-th worst candidate continues as the k-th best), dvk_reranker_pool
 * (the ceil(fraction * n) candidates of highest mean log-probability) and dvk_reranker_pick (the best `keep`
 * candidates, pool first, distinct images first). Scores and log-probabilities are drawn from a few values so
 * that ties occur; codes from a few patterns so that duplicates occur. No device needed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model/select.h"

static int g_failed, g_cases;

/* Rank of candidate b: the number of candidates ranked before it (in the pool when b is not, or as much in
 * the pool and a higher score, or equal and lower index); pool NULL: all in. */
static uint32_t rank_in(const float *s, const uint8_t *pool, uint32_t n, uint32_t b) {
  uint32_t r = 0;
  for (uint32_t a = 0; a < n; a++) {
    const int pa = pool ? pool[a] : 1, pb = pool ? pool[b] : 1;
    r += pa > pb || (pa == pb && (s[a] > s[b] || (s[a] == s[b] && a < b)));
  }
  return r;
}

static uint32_t rank_of(const float *s, uint32_t n, uint32_t b) { return rank_in(s, NULL, n, b); }

/* The pool: candidate b is in it when fewer than size candidates rank above it by log-probability. */
static void ref_pool(const float *lp, uint32_t n, float fraction, uint8_t *pool) {
  uint32_t size = (uint32_t)ceil((double)fraction * n);
  if (size < 1) size = 1;
  if (size > n) size = n;
  for (uint32_t b = 0; b < n; b++) pool[b] = rank_of(lp, n, b) < size;
}

static void ref_prune(const float *s, uint32_t n, uint32_t *src) {
  uint32_t *by_rank = malloc(n * sizeof *by_rank);
  for (uint32_t b = 0; b < n; b++) by_rank[rank_of(s, n, b)] = b;
  for (uint32_t b = 0; b < n; b++) src[b] = b;
  for (uint32_t k = 0; k < n / 2; k++) src[by_rank[n - 1 - k]] = by_rank[k];
  free(by_rank);
}

/* Picks greedily: the best-ranked candidate not yet picked whose codes differ from every picked one's; when
 * none is left, the best-ranked not yet picked. */
static void ref_pick(const float *s, const uint8_t *pool, const int32_t *codes, uint32_t n, size_t gg, uint32_t keep,
                     uint32_t *out) {
  char *used = calloc(n, 1);
  for (uint32_t k = 0; k < keep; k++) {
    int64_t best = -1, best_any = -1;
    for (uint32_t b = 0; b < n; b++) {
      if (used[b]) continue;
      int dup = 0;
      for (uint32_t q = 0; q < k; q++) dup |= !memcmp(codes + out[q] * gg, codes + b * gg, gg * sizeof *codes);
      if (best_any < 0 || rank_in(s, pool, n, b) < rank_in(s, pool, n, (uint32_t)best_any)) best_any = b;
      if (!dup && (best < 0 || rank_in(s, pool, n, b) < rank_in(s, pool, n, (uint32_t)best))) best = b;
    }
    out[k] = (uint32_t)(best >= 0 ? best : best_any);
    used[out[k]] = 1;
  }
  free(used);
}

int main(int argc, char **argv) {
  uint64_t seed = argc > 2 && !strcmp(argv[1], "--seed") ? strtoull(argv[2], NULL, 10) : 20261130;
  th_rng rng = {seed};
  for (int t = 0; t < 500; t++) {
    const uint32_t n = 1 + (uint32_t)(th_rng_u64(&rng) % 40), gg = 1 + (uint32_t)(th_rng_u64(&rng) % 6);
    const uint32_t keep = 1 + (uint32_t)(th_rng_u64(&rng) % n), patterns = 1 + (uint32_t)(th_rng_u64(&rng) % 6);
    const float fraction = (float)(th_rng_u64(&rng) % 11) / 10.0f; /* 0 .. 1 in tenths: 0 gives a pool of 1 */
    float *s = malloc(n * sizeof *s), *lp = malloc(n * sizeof *lp);
    uint8_t *pool = malloc(n), *want_pool = malloc(n);
    int32_t *codes = malloc((size_t)n * gg * sizeof *codes);
    uint32_t *src = malloc(n * sizeof *src), *want = malloc(n * sizeof *want);
    for (uint32_t b = 0; b < n; b++) {
      s[b] = (float)(th_rng_u64(&rng) % 7) * 0.5f - 1.0f; /* 7 values: ties */
      lp[b] = (th_rng_u64(&rng) % 9 == 0) ? NAN : -(float)(th_rng_u64(&rng) % 5) * 0.25f; /* ties, some NaN */
      const uint32_t pat = (uint32_t)(th_rng_u64(&rng) % patterns);
      for (uint32_t i = 0; i < gg; i++) codes[(size_t)b * gg + i] = (int32_t)((pat * 31 + i * 7) % 11);
    }
    g_cases++;
    if (dvk_prune_sources(s, n, src) != DVK_OK) {
      printf("FAIL case %d: dvk_prune_sources out of memory\n", t);
      g_failed++;
    } else {
      ref_prune(s, n, want);
      if (memcmp(src, want, n * sizeof *src)) {
        printf("FAIL case %d (n %u): dvk_prune_sources differs from the reference (seed %llu)\n", t, n,
               (unsigned long long)seed);
        g_failed++;
      }
    }
    for (uint32_t b = 0; b < n; b++) lp[b] = isnan(lp[b]) ? -INFINITY : lp[b]; /* the reference's view of NaN */
    float *lp_nan = malloc(n * sizeof *lp_nan); /* the engine gets the NaNs back */
    for (uint32_t b = 0; b < n; b++) lp_nan[b] = lp[b] == -INFINITY ? NAN : lp[b];
    ref_pool(lp, n, fraction, want_pool);
    if (dvk_reranker_pool(lp_nan, n, fraction, pool) != DVK_OK || memcmp(pool, want_pool, n)) {
      printf("FAIL case %d (n %u, fraction %.1f): dvk_rerank_pool differs from the reference (seed %llu)\n", t, n,
             fraction, (unsigned long long)seed);
      g_failed++;
    }
    free(lp_nan);
    for (int with_pool = 0; with_pool < 2; with_pool++) {
      const uint8_t *use = with_pool ? want_pool : NULL;
      if (dvk_reranker_pick(s, use, codes, n, gg, keep, src) != DVK_OK) {
        printf("FAIL case %d: dvk_rerank_pick out of memory\n", t);
        g_failed++;
        continue;
      }
      ref_pick(s, use, codes, n, gg, keep, want);
      if (memcmp(src, want, keep * sizeof *src)) {
        printf("FAIL case %d (n %u, keep %u, %u patterns, pool %s): dvk_rerank_pick differs from the reference "
               "(seed %llu)\n", t, n, keep, patterns, with_pool ? "yes" : "none", (unsigned long long)seed);
        g_failed++;
      }
    }
    free(s), free(lp), free(pool), free(want_pool), free(codes), free(src), free(want);
  }
  printf("%d cases, %d failed (seed %llu; rerun: test_rerank_pick --seed %llu)\n", g_cases, g_failed,
         (unsigned long long)seed, (unsigned long long)seed);
  return g_failed != 0;
}
