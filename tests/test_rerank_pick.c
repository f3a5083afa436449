/* The reranker's two host-side rules (src/model/rerank.c) against naive references on seeded random scores
 * and codes: dvk_prune_sources (pruning: the k-th worst candidate continues as the k-th best) and
 * dvk_rerank_pick (the best `keep` candidates, distinct images first). Scores are drawn from a few values so
 * that ties occur; codes from a few patterns so that duplicates occur. No device needed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model/rerank.h"

static int g_failed, g_cases;

/* Rank of candidate b: the number of candidates ranked before it (higher score, or equal and lower index). */
static uint32_t rank_of(const float *s, uint32_t n, uint32_t b) {
  uint32_t r = 0;
  for (uint32_t a = 0; a < n; a++) r += s[a] > s[b] || (s[a] == s[b] && a < b);
  return r;
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
static void ref_pick(const float *s, const int32_t *codes, uint32_t n, size_t gg, uint32_t keep, uint32_t *out) {
  char *used = calloc(n, 1);
  for (uint32_t k = 0; k < keep; k++) {
    int64_t best = -1, best_any = -1;
    for (uint32_t b = 0; b < n; b++) {
      if (used[b]) continue;
      int dup = 0;
      for (uint32_t q = 0; q < k; q++) dup |= !memcmp(codes + out[q] * gg, codes + b * gg, gg * sizeof *codes);
      if (best_any < 0 || rank_of(s, n, b) < rank_of(s, n, (uint32_t)best_any)) best_any = b;
      if (!dup && (best < 0 || rank_of(s, n, b) < rank_of(s, n, (uint32_t)best))) best = b;
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
    float *s = malloc(n * sizeof *s);
    int32_t *codes = malloc((size_t)n * gg * sizeof *codes);
    uint32_t *src = malloc(n * sizeof *src), *want = malloc(n * sizeof *want);
    for (uint32_t b = 0; b < n; b++) {
      s[b] = (float)(th_rng_u64(&rng) % 7) * 0.5f - 1.0f; /* 7 values: ties */
      const uint32_t pat = (uint32_t)(th_rng_u64(&rng) % patterns);
      for (uint32_t i = 0; i < gg; i++) codes[(size_t)b * gg + i] = (int32_t)((pat * 31 + i * 7) % 11);
    }
    g_cases++;
    if (dvk_prune_sources(s, n, src) != 0) {
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
    if (dvk_rerank_pick(s, codes, n, gg, keep, src) != 0) {
      printf("FAIL case %d: dvk_rerank_pick out of memory\n", t);
      g_failed++;
    } else {
      ref_pick(s, codes, n, gg, keep, want);
      if (memcmp(src, want, keep * sizeof *src)) {
        printf("FAIL case %d (n %u, keep %u, %u patterns): dvk_rerank_pick differs from the reference (seed %llu)\n",
               t, n, keep, patterns, (unsigned long long)seed);
        g_failed++;
      }
    }
    free(s), free(codes), free(src), free(want);
  }
  printf("%d cases, %d failed (seed %llu; rerun: test_rerank_pick --seed %llu)\n", g_cases, g_failed,
         (unsigned long long)seed, (unsigned long long)seed);
  return g_failed != 0;
}
