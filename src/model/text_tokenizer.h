/* The model file's tokenizer: prompt -> the T text ids the transformer reads (docs/tokenizer.md §10).
 * One interface over the four tokenizer.model kinds: "dalle-vk-bpe-1" (tokenizer.h), "yttm-bpe"
 * (yttm.h, ruDALL-E), "char-bpe" (charbpe.h, minDALL-E) and "bart-bpe" (bartbpe.h, DALL-E Mini /
 * Mega); their keys: docs/model-format.md §2 and §9.3. */
#ifndef DVK_MODEL_TEXT_TOKENIZER_H
#define DVK_MODEL_TEXT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "dallevk.h"
#include "error.h"
#include "model/gguf.h"

typedef struct dvk_tokenizer dvk_tokenizer;

/* Reads tokenizer.model, the model's own keys, tokenizer.prefix_ids / suffix_ids and dalle.text_pad_id
 * (optional; bart-bpe needs it) from f. Every id must be below text_vocab; text_len is T. Errors:
 * DVK_ERR_MODEL_FORMAT with a message naming the file and the key, DVK_ERR_OUT_OF_HOST_MEMORY. */
dvk_status dvk_tokenizer_load(const gguf_file *f, uint32_t text_vocab, uint32_t text_len, dvk_tokenizer **out,
                              dvk_error *err);

/* The tokenizer's ids of len bytes of text (normalised as the model's upstream does; no prefix,
 * suffix, truncation or pads). *ids is malloc'ed, NULL when there are none. Errors:
 * DVK_ERR_INVALID_ARGUMENT when the text is not valid UTF-8 ("... not valid UTF-8 ..."),
 * DVK_ERR_OUT_OF_HOST_MEMORY. */
dvk_status dvk_tokenizer_encode(const dvk_tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n_ids,
                                dvk_error *err);

/* The T text ids of a prompt: prefix + encode(prompt) + suffix, cut to T, then a pad at every later
 * position j: dalle.text_pad_id when the file has it, else text_vocab + j. *used = positions holding
 * those ids, *dropped = ids cut off. Errors as dvk_tokenizer_encode. */
dvk_status dvk_tokenizer_text_ids(const dvk_tokenizer *t, const char *prompt, size_t len, int32_t *ids, uint32_t *used,
                                  uint32_t *dropped, dvk_error *err);

/* The T ids of the unconditional row for guidance, given a caption row text_ids [T] from
 * dvk_tokenizer_text_ids with `used` positions: bart-bpe = [text_ids[0], text_ids[used - 1]] then pads
 * (min-dalle's rule); the other tokenizers = the empty caption's ids (text_ids unused). */
void dvk_tokenizer_null_ids(const dvk_tokenizer *t, const int32_t *text_ids, uint32_t used, int32_t *null_ids);

/* "dalle-vk-bpe-1", "yttm-bpe", "char-bpe" or "bart-bpe". */
const char *dvk_tokenizer_model(const dvk_tokenizer *t);

void dvk_tokenizer_destroy(dvk_tokenizer *t);

#endif
