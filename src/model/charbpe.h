/* HF tokenizers' CharBPETokenizer as minDALL-E builds it, the "char-bpe" tokenizer (docs/tokenizer.md §9). */
#ifndef DVK_MODEL_CHARBPE_H
#define DVK_MODEL_CHARBPE_H

#include <stddef.h>
#include <stdint.h>

#include "dallevk.h"
#include "error.h"

typedef struct dvk_charbpe dvk_charbpe;

/* tokens[i] (lens[i] bytes, valid UTF-8, not empty, all distinct) is the string of id i
 * (tokenizer.charbpe.tokens); merges: n_merges pairs of ids by rank whose joined string is itself a
 * token (tokenizer.charbpe.merges); suffix: the end-of-word suffix; special_ids: the ids matched
 * literally in the prompt. Errors: DVK_ERR_MODEL_FORMAT naming the key and the entry,
 * DVK_ERR_OUT_OF_HOST_MEMORY. */
dvk_status dvk_charbpe_create(const char *const *tokens, const size_t *lens, size_t n_tokens, const uint32_t *merges,
                              size_t n_merges, const char *suffix, size_t suffix_len, uint32_t unk_id,
                              const uint32_t *special_ids, size_t n_special, dvk_charbpe **out, dvk_error *err);

/* minDALL-E's prompt ids before padding and truncation, on len bytes of valid UTF-8, into ids (room
 * for 3 len + 1). Returns the count, (size_t)-1 when out of host memory. */
size_t dvk_charbpe_encode(const dvk_charbpe *t, const char *text, size_t len, int32_t *ids);

void dvk_charbpe_destroy(dvk_charbpe *t);

#endif
