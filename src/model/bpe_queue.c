/* Merge table and priority-queue merge of one word (bpe_queue.h). */
#include "model/bpe_queue.h"

#include <stdlib.h>

static size_t slot_of(uint64_t key, size_t cap) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdull;
  key ^= key >> 33;
  return (size_t)key & (cap - 1);
}

dvk_status dvk_merge_table_init(dvk_merge_table *t, size_t n) {
  size_t cap = 16;
  while (cap < 2 * n + 16) cap *= 2;
  t->cap = cap;
  t->keys = calloc(cap, sizeof *t->keys);
  t->rank = malloc(cap * sizeof *t->rank);
  t->result = malloc(cap * sizeof *t->result);
  if (!t->keys || !t->rank || !t->result) {
    dvk_merge_table_free(t);
    return DVK_ERR_OUT_OF_HOST_MEMORY;
  }
  return DVK_OK;
}

static size_t find(const dvk_merge_table *t, uint64_t key) {
  size_t i = slot_of(key, t->cap);
  while (t->keys[i] != 0 && t->keys[i] != key) i = (i + 1) & (t->cap - 1);
  return i;
}

int dvk_merge_table_put(dvk_merge_table *t, uint32_t a, uint32_t b, uint32_t rank, uint32_t result) {
  uint64_t key = (((uint64_t)a << 32) | b) + 1;
  size_t i = find(t, key);
  if (t->keys[i] == key) return 0;
  t->keys[i] = key;
  t->rank[i] = rank;
  t->result[i] = result;
  return 1;
}

int dvk_merge_table_get(const dvk_merge_table *t, uint32_t a, uint32_t b, uint32_t *rank, uint32_t *result) {
  uint64_t key = (((uint64_t)a << 32) | b) + 1;
  size_t i = find(t, key);
  if (t->keys[i] != key) return 0;
  *rank = t->rank[i];
  *result = t->result[i];
  return 1;
}

void dvk_merge_table_free(dvk_merge_table *t) {
  free(t->keys);
  free(t->rank);
  free(t->result);
  *t = (dvk_merge_table){0};
}

typedef struct entry {
  uint32_t rank, result;
  size_t pos;
} entry;

static int before(const entry *x, const entry *y) { return x->rank != y->rank ? x->rank < y->rank : x->pos < y->pos; }

static void heap_push(entry *h, size_t *n, entry e) {
  size_t i = (*n)++;
  while (i > 0 && before(&e, &h[(i - 1) / 2])) {
    h[i] = h[(i - 1) / 2];
    i = (i - 1) / 2;
  }
  h[i] = e;
}

static entry heap_pop(entry *h, size_t *n) {
  entry top = h[0], last = h[--*n];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= *n) break;
    if (c + 1 < *n && before(&h[c + 1], &h[c])) c++;
    if (!before(&h[c], &last)) break;
    h[i] = h[c];
    i = c;
  }
  if (*n) h[i] = last;
  return top;
}

size_t dvk_merge_word(const dvk_merge_table *t, uint32_t *ids, size_t n) {
  if (n < 2) return n;
  ptrdiff_t *next = malloc(n * sizeof *next), *prev = malloc(n * sizeof *prev);
  unsigned char *alive = malloc(n);
  entry *heap = malloc(3 * n * sizeof *heap); /* n-1 initial pairs + at most 2 per merge */
  size_t nh = 0, out = (size_t)-1;
  if (!next || !prev || !alive || !heap) goto done;
  for (size_t i = 0; i < n; i++) {
    next[i] = i + 1 < n ? (ptrdiff_t)i + 1 : -1;
    prev[i] = (ptrdiff_t)i - 1;
    alive[i] = 1;
  }
#define PUSH(p)                                                                                                       \
  do {                                                                                                                \
    entry e_ = {.pos = (p)};                                                                                          \
    if (next[p] >= 0 && dvk_merge_table_get(t, ids[p], ids[next[p]], &e_.rank, &e_.result)) heap_push(heap, &nh, e_); \
  } while (0)
  for (size_t i = 0; i + 1 < n; i++) PUSH(i);
  while (nh) {
    entry e = heap_pop(heap, &nh);
    size_t p = e.pos;
    uint32_t rank, result;
    if (!alive[p] || next[p] < 0 || !dvk_merge_table_get(t, ids[p], ids[next[p]], &rank, &result) || rank != e.rank)
      continue; /* stale */
    size_t q = (size_t)next[p];
    ids[p] = e.result;
    alive[q] = 0;
    next[p] = next[q];
    if (next[q] >= 0) prev[next[q]] = (ptrdiff_t)p;
    if (prev[p] >= 0) PUSH((size_t)prev[p]);
    PUSH(p);
  }
#undef PUSH
  out = 0;
  for (size_t i = 0; i < n; i++)
    if (alive[i]) ids[out++] = ids[i];
done:
  free(next);
  free(prev);
  free(alive);
  free(heap);
  return out;
}
