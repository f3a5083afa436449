/* The beam search rule: see beam.h. */
#include "model/beam.h"

#include <stdlib.h>

#include "model/sample.h"

typedef struct pick {
  double score;
  uint32_t beam;
  int32_t code;
} pick;

/* a ranks before b: the higher score, then the lower beam, then the lower code (a total order: (beam, code) is unique) */
static int better(const pick *a, const pick *b) {
  if (a->score != b->score) return a->score > b->score;
  return a->beam != b->beam ? a->beam < b->beam : a->code < b->code;
}

/* The heap keeps the w best seen so far with the worst at the root. */
static void sift_down(pick *h, uint32_t size, uint32_t i) {
  for (;;) {
    uint32_t worst = i;
    const uint32_t l = 2 * i + 1, r = l + 1;
    if (l < size && better(&h[worst], &h[l])) worst = l;
    if (r < size && better(&h[worst], &h[r])) worst = r;
    if (worst == i) return;
    const pick t = h[i];
    h[i] = h[worst];
    h[worst] = t;
    i = worst;
  }
}

static void sift_up(pick *h, uint32_t i) {
  while (i > 0) {
    const uint32_t up = (i - 1) / 2;
    if (!better(&h[up], &h[i])) return;
    const pick t = h[i];
    h[i] = h[up];
    h[up] = t;
    i = up;
  }
}

dvk_status dvk_beam_select(const float *logits, const double *sums, const uint8_t *active, uint32_t n, uint32_t vi,
                           uint32_t w, uint32_t *parent, int32_t *code, double *score) {
  uint64_t n_active = 0;
  for (uint32_t b = 0; b < n; b++) n_active += active[b] != 0;
  if (w == 0 || w > n_active * vi) return DVK_ERR_INVALID_ARGUMENT;
  pick *heap = malloc((size_t)w * sizeof *heap);
  double *lp = malloc((size_t)vi * sizeof *lp);
  if (!heap || !lp) {
    free(heap);
    free(lp);
    return DVK_ERR_OUT_OF_HOST_MEMORY;
  }
  uint32_t size = 0;
  for (uint32_t b = 0; b < n; b++) {
    if (!active[b]) continue;
    dvk_log_probs(logits + (size_t)b * vi, vi, lp);
    for (uint32_t c = 0; c < vi; c++) {
      const pick p = {sums[b] + lp[c], b, (int32_t)c};
      if (size < w) {
        heap[size] = p;
        sift_up(heap, size++);
      } else if (better(&p, &heap[0])) {
        heap[0] = p;
        sift_down(heap, size, 0);
      }
    }
  }
  for (uint32_t k = w; k-- > 0;) { /* pop the worst into the last place: best first */
    parent[k] = heap[0].beam;
    code[k] = heap[0].code;
    score[k] = heap[0].score;
    heap[0] = heap[k];
    sift_down(heap, k, 0);
  }
  free(heap);
  free(lp);
  return DVK_OK;
}

dvk_status dvk_beam_slots(const uint32_t *parent, uint32_t w, uint32_t *slot, uint32_t *src) {
  uint8_t *taken = calloc(w, 1);
  if (!taken) return DVK_ERR_OUT_OF_HOST_MEMORY;
  for (uint32_t j = 0; j < w; j++) { /* best first: a parent's best pick keeps the parent's slot */
    slot[j] = taken[parent[j]] ? w : parent[j];
    taken[parent[j]] = 1;
  }
  uint32_t next = 0;
  for (uint32_t j = 0; j < w; j++) {
    if (slot[j] != w) continue;
    while (taken[next]) next++;
    slot[j] = next;
    taken[next] = 1;
  }
  for (uint32_t j = 0; j < w; j++) src[slot[j]] = parent[j];
  free(taken);
  return DVK_OK;
}
