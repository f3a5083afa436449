/* The merge step YouTokenToMe and HF tokenizers share (docs/tokenizer.md §7): a table of merges
 * (pair of ids -> rank, result id) and the priority-queue merge of one word. */
#ifndef DVK_MODEL_BPE_QUEUE_H
#define DVK_MODEL_BPE_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "dallevk.h"

typedef struct dvk_merge_table {
  uint64_t *keys; /* (a << 32 | b) + 1; 0 = empty slot */
  uint32_t *rank, *result;
  size_t cap; /* power of two */
} dvk_merge_table;

/* Empty table with room for n merges. DVK_ERR_OUT_OF_HOST_MEMORY on failure. */
dvk_status dvk_merge_table_init(dvk_merge_table *t, size_t n);
/* Adds merge (a, b) -> result at rank; returns 0 when the pair is already there (nothing changes). */
int dvk_merge_table_put(dvk_merge_table *t, uint32_t a, uint32_t b, uint32_t rank, uint32_t result);
/* 1 and the merge's rank and result when (a, b) is a merge, else 0. */
int dvk_merge_table_get(const dvk_merge_table *t, uint32_t a, uint32_t b, uint32_t *rank, uint32_t *result);
void dvk_merge_table_free(dvk_merge_table *t);

/* Merges the n ids of one word in place (lowest rank first, then leftmost; a queue entry whose pair
 * no longer stands at its place is skipped); returns the new count, or (size_t)-1 when out of host
 * memory. Ids with no merge (e.g. placeholders) never join. */
size_t dvk_merge_word(const dvk_merge_table *t, uint32_t *ids, size_t n);

#endif
