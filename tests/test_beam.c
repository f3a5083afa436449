/* The beam search rule (src/model/beam.c) against naive references on seeded random logits: dvk_beam_select
 * (the w best (beam, code) extensions by summed log-probability, ties to the lower beam, then the lower code,
 * inactive beams never extended) and dvk_beam_slots (a permutation; each parent's best pick keeps its slot, the
 * rest fill the free slots in order; every source keeps its own slot). Logits come from a few values and some
 * beams repeat another's row and sum exactly, so that ties occur. No device needed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model/beam.h"

typedef struct ref_pick {
  long double score;
  uint32_t beam, code;
} ref_pick;

static int cmp_ref(const void *pa, const void *pb) {
  const ref_pick *a = pa, *b = pb;
  if (a->score != b->score) return a->score > b->score ? -1 : 1;
  if (a->beam != b->beam) return a->beam < b->beam ? -1 : 1;
  return a->code < b->code ? -1 : a->code > b->code;
}

/* Every extension of every active beam, scored in long double by the definition log(exp(l_c) / sum_j exp(l_j)),
 * sorted best first; returns how many. */
static uint32_t ref_all(const float *logits, const double *sums, const uint8_t *active, uint32_t n, uint32_t vi,
                        ref_pick *out) {
  uint32_t k = 0;
  for (uint32_t b = 0; b < n; b++) {
    if (!active[b]) continue;
    long double z = 0;
    for (uint32_t c = 0; c < vi; c++) z += expl((long double)logits[b * vi + c]);
    for (uint32_t c = 0; c < vi; c++)
      out[k++] = (ref_pick){(long double)sums[b] + logl(expl((long double)logits[b * vi + c]) / z), b, c};
  }
  qsort(out, k, sizeof *out, cmp_ref);
  return k;
}

/* The slot rule's properties for picks parent [w]: slot is a permutation, src[slot[j]] = parent[j], a parent's
 * first (best) pick sits in the parent's slot, the other picks take the free slots in increasing order, and every
 * source keeps its own slot. Returns a description of the first broken one, or NULL. */
static const char *slots_broken(const uint32_t *parent, uint32_t w, const uint32_t *slot, const uint32_t *src) {
  uint8_t *seen = calloc(w, 1), *has_pick = calloc(w, 1);
  const char *why = NULL;
  for (uint32_t j = 0; j < w && !why; j++) {
    if (slot[j] >= w || seen[slot[j]]) why = "slots are not a permutation";
    else seen[slot[j]] = 1;
    if (!why && src[slot[j]] != parent[j]) why = "src[slot[j]] != parent[j]";
  }
  for (uint32_t j = 0; j < w && !why; j++) {
    const int first = !has_pick[parent[j]];
    has_pick[parent[j]] = 1;
    if (first && slot[j] != parent[j]) why = "a parent's best pick is not in the parent's slot";
  }
  uint32_t last_free = 0;
  int any_free = 0;
  memset(seen, 0, w);
  for (uint32_t j = 0; j < w && !why; j++) {
    if (seen[parent[j]]++) { /* not the parent's first pick: a free slot, in increasing order */
      if (has_pick[slot[j]] || (any_free && slot[j] < last_free)) why = "extra picks do not fill free slots in order";
      last_free = slot[j], any_free = 1;
    }
  }
  for (uint32_t s = 0; s < w && !why; s++)
    if (src[src[s]] != src[s]) why = "a source does not keep its own slot";
  free(seen);
  free(has_pick);
  return why;
}

int main(int argc, char **argv) {
  uint64_t seed = argc > 2 && !strcmp(argv[1], "--seed") ? strtoull(argv[2], NULL, 10) : 20261208;
  th_rng rng = {seed};
  int cases = 0, failed = 0;
  for (int t = 0; t < 400; t++) {
    const uint32_t n = 1 + (uint32_t)(th_rng_u64(&rng) % 12), vi = 1 + (uint32_t)(th_rng_u64(&rng) % 12);
    float *logits = malloc((size_t)n * vi * sizeof *logits);
    double *sums = malloc(n * sizeof *sums), *score = malloc(n * sizeof *score);
    uint8_t *active = malloc(n);
    uint32_t *parent = malloc(n * sizeof *parent), *slot = malloc(n * sizeof *slot), *src = malloc(n * sizeof *src);
    int32_t *code = malloc(n * sizeof *code);
    ref_pick *ref = malloc((size_t)n * vi * sizeof *ref);
    uint32_t n_active = 0;
    for (uint32_t b = 0; b < n; b++) {
      const uint32_t twin = (uint32_t)(th_rng_u64(&rng) % (b + 1));
      if (twin < b && th_rng_u64(&rng) % 3 == 0) { /* the same row and sum as an earlier beam: exact ties */
        memcpy(logits + (size_t)b * vi, logits + (size_t)twin * vi, vi * sizeof *logits);
        sums[b] = sums[twin];
      } else {
        for (uint32_t c = 0; c < vi; c++) logits[(size_t)b * vi + c] = (float)(th_rng_u64(&rng) % 17) * 0.25f - 2.0f;
        sums[b] = -(double)(th_rng_u64(&rng) % 5) * 0.75;
      }
      active[b] = th_rng_u64(&rng) % 4 != 0;
      n_active += active[b];
    }
    if (!n_active) active[0] = 1, n_active = 1;
    const uint32_t most = n_active * vi < n ? n_active * vi : n;
    const uint32_t w = 1 + (uint32_t)(th_rng_u64(&rng) % most);
    cases++;
    const char *why = NULL;
    if (dvk_beam_select(logits, sums, active, n, vi, w, parent, code, score) != DVK_OK) {
      why = "dvk_beam_select failed";
    } else {
      ref_all(logits, sums, active, n, vi, ref);
      for (uint32_t j = 0; j < w && !why; j++) {
        if (parent[j] != ref[j].beam || code[j] != (int32_t)ref[j].code) why = "picks differ from the reference order";
        else if (fabsl((long double)score[j] - ref[j].score) > 1e-12L) why = "a pick's score differs from the reference";
      }
      if (!why && n == w) { /* the engine's case: as many beams as slots; the picks' parents are slots */
        if (dvk_beam_slots(parent, w, slot, src) != DVK_OK) why = "dvk_beam_slots failed";
        else why = slots_broken(parent, w, slot, src);
      }
    }
    if (why) {
      printf("FAIL case %d (n %u, vi %u, w %u, %u active): %s (seed %llu)\n", t, n, vi, w, n_active, why,
             (unsigned long long)seed);
      failed++;
    }
    free(logits), free(sums), free(score), free(active), free(parent), free(slot), free(src), free(code), free(ref);
  }
  for (int t = 0; t < 400; t++) { /* slots alone: random parents, repeated ones included */
    const uint32_t w = 1 + (uint32_t)(th_rng_u64(&rng) % 16), kinds = 1 + (uint32_t)(th_rng_u64(&rng) % w);
    uint32_t parent[16], slot[16], src[16];
    for (uint32_t j = 0; j < w; j++) parent[j] = (uint32_t)(th_rng_u64(&rng) % kinds) * (w / kinds);
    cases++;
    const char *why = dvk_beam_slots(parent, w, slot, src) != DVK_OK ? "dvk_beam_slots failed"
                                                                     : slots_broken(parent, w, slot, src);
    if (why) {
      printf("FAIL slots case %d (w %u): %s (seed %llu)\n", t, w, why, (unsigned long long)seed);
      failed++;
    }
  }
  /* arguments out of range */
  const float one[2] = {0.0f, 1.0f};
  const double zero = 0;
  const uint8_t on = 1, off = 0;
  uint32_t p[3];
  int32_t c[3];
  double s[3];
  cases++;
  if (dvk_beam_select(one, &zero, &on, 1, 2, 3, p, c, s) != DVK_ERR_INVALID_ARGUMENT ||
      dvk_beam_select(one, &zero, &off, 1, 2, 1, p, c, s) != DVK_ERR_INVALID_ARGUMENT ||
      dvk_beam_select(one, &zero, &on, 1, 2, 0, p, c, s) != DVK_ERR_INVALID_ARGUMENT) {
    printf("FAIL: a width above (active beams) x vi, or 0, is not refused\n");
    failed++;
  }
  printf("%d cases, %d failed (seed %llu; rerun: test_beam --seed %llu)\n", cases, failed, (unsigned long long)seed,
         (unsigned long long)seed);
  return failed != 0;
}
