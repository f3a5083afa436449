/* BART's byte-level BPE as min-dalle's TextTokenizer runs it, the "bart-bpe" tokenizer of DALL-E Mini /
 * Mega (docs/tokenizer.md §12; keys: docs/model-format.md §9.3): demojize, Python str.lower(), drop
 * non-ASCII, split at each space, per word BPE from the word-start symbol U+0120 merging the leftmost
 * occurrence of the lowest-ranked pair one at a time. */
#ifndef DVK_MODEL_BARTBPE_H
#define DVK_MODEL_BARTBPE_H

#include <stddef.h>
#include <stdint.h>

#include "dallevk.h"
#include "error.h"

typedef struct dvk_bartbpe dvk_bartbpe;

/* n byte strings: s[i] is len[i] bytes (not NUL-terminated). */
typedef struct dvk_strings {
  const char *const *s;
  const size_t *len;
  size_t n;
} dvk_strings;

/* tokens: the string of each id (tokenizer.bart.tokens, all distinct); merges: "a b" by rank
 * (tokenizer.bart.merges; a pair listed twice has its last rank); emoji_seqs / emoji_names: the
 * demojize table (tokenizer.emoji.*, same count, valid UTF-8, sequences not empty; a sequence listed
 * twice has its last name). Every id the encoder can give (unk_id, the tokens of single ASCII
 * characters, of U+0120 and of merge results) must be below text_vocab. Errors:
 * DVK_ERR_MODEL_FORMAT naming the key and the entry, DVK_ERR_OUT_OF_HOST_MEMORY. */
dvk_status dvk_bartbpe_create(dvk_strings tokens, dvk_strings merges, dvk_strings emoji_seqs, dvk_strings emoji_names,
                              uint32_t unk_id, uint32_t text_vocab, dvk_bartbpe **out, dvk_error *err);

/* min-dalle's ids of len bytes of valid UTF-8 without <s> and </s>. *ids is malloc'ed (NULL when
 * there are none). Errors: DVK_ERR_OUT_OF_HOST_MEMORY. */
dvk_status dvk_bartbpe_encode(const dvk_bartbpe *t, const char *text, size_t len, int32_t **ids, size_t *n_ids,
                              dvk_error *err);

void dvk_bartbpe_destroy(dvk_bartbpe *t);

#endif
