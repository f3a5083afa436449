/* Byte-level BPE tokenizer: prompt text -> BPE ids, exactly as tools/dallevk/bpe.py (docs/tokenizer.md).
 *
 * 1. Normalisation on UTF-8 bytes: 'A'..'Z' lowercased; each run of ASCII whitespace (space, \t, \n,
 *    \r, \v, \f) becomes one space; leading/trailing space removed. Bytes >= 0x80 are untouched.
 * 2. Chunks: an optional single space followed by either a maximal run of word bytes (ASCII letters,
 *    digits, every byte >= 0x80) or exactly one other byte. Merges never cross chunks.
 * 3. Ids 0..255 are bytes; id 256 + r is merge r (a pair of earlier ids).
 * 4. Per chunk: repeatedly merge every occurrence (left to right, no overlap) of the adjacent pair with
 *    the lowest merge rank, until no adjacent pair is a merge. */
#ifndef DVK_MODEL_TOKENIZER_H
#define DVK_MODEL_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "dallevk.h"
#include "error.h"

typedef struct dvk_bpe dvk_bpe;

/* Builds a tokenizer from n_merges pairs: merges[2r], merges[2r+1] are the ids merge r joins.
 * Errors: DVK_ERR_MODEL_FORMAT when a merge uses an id >= 256 + r (message in err),
 * DVK_ERR_OUT_OF_HOST_MEMORY. */
dvk_status dvk_bpe_create(const uint32_t *merges, size_t n_merges, dvk_bpe **out, dvk_error *err);

/* Vocabulary size: 256 + number of merges. */
uint32_t dvk_bpe_vocab_size(const dvk_bpe *bpe);

/* Encodes len bytes of text. On success *ids is a malloc'ed array of *n_ids ids (the caller frees it;
 * NULL with *n_ids = 0 for an empty or all-whitespace text). Errors: DVK_ERR_INVALID_ARGUMENT when the
 * text is not valid UTF-8 ("... not valid UTF-8 at byte N"), DVK_ERR_OUT_OF_HOST_MEMORY. */
dvk_status dvk_bpe_encode(const dvk_bpe *bpe, const char *text, size_t len, int32_t **ids, size_t *n_ids,
                          dvk_error *err);

/* Frees the tokenizer. NULL is allowed. */
void dvk_bpe_destroy(dvk_bpe *bpe);

/* dvk_utf8_valid, the UTF-8 rule of prompts, is public: include/dallevk.h. */

#endif
