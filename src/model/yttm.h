/* YouTokenToMe BPE, the "yttm-bpe" tokenizer of ruDALL-E files (docs/tokenizer.md §8). */
#ifndef DVK_MODEL_YTTM_H
#define DVK_MODEL_YTTM_H

#include <stddef.h>
#include <stdint.h>

#include "dallevk.h"
#include "error.h"

typedef struct dvk_yttm dvk_yttm;

/* chars: n_chars pairs (code point, id), code points strictly increasing (tokenizer.yttm.chars);
 * rules: n_rules triples (x, y, z), rule r joins x and y into z (tokenizer.yttm.merges); every id is
 * below id_limit. Errors: DVK_ERR_MODEL_FORMAT with a message naming the key and the entry (not a
 * Unicode scalar, out of order, an id used twice, a rule joining an id that is neither a character
 * nor an earlier result, a repeated pair, no U+2581), DVK_ERR_OUT_OF_HOST_MEMORY. */
dvk_status dvk_yttm_create(const uint32_t *chars, size_t n_chars, const uint32_t *rules, size_t n_rules,
                           uint32_t unk_id, uint32_t id_limit, dvk_yttm **out, dvk_error *err);

/* ruDALL-E's prompt ids: YouTokenToMe's encoding of Python's text.lower().strip(), on len bytes of
 * valid UTF-8, into ids (room for 3 len + 1). Returns the count, (size_t)-1 when out of host memory. */
size_t dvk_yttm_encode(const dvk_yttm *t, const char *text, size_t len, int32_t *ids);

void dvk_yttm_destroy(dvk_yttm *t);

#endif
