/* The Unicode properties the yttm-bpe and char-bpe tokenizers use (docs/tokenizer.md §11), from tables
 * generated out of Python's unicodedata (src/model/unicode_tables.c, tools/gen_unicode_tables.py), and
 * UTF-8 decoding / encoding of text already checked with dvk_utf8_valid. */
#ifndef DVK_MODEL_UNICODE_H
#define DVK_MODEL_UNICODE_H

#include <stddef.h>
#include <stdint.h>

enum {
  DVK_U_OTHER = 1,          /* general category C* (Cc Cf Cn Co Cs) */
  DVK_U_PUNCT = 2,          /* general category P* */
  DVK_U_PY_SPACE = 4,       /* Python str.isspace() */
  DVK_U_CASED = 8,          /* cased and not case-ignorable (Python's final-sigma rule) */
  DVK_U_CASE_IGNORABLE = 16 /* case-ignorable (same rule) */
};

typedef struct dvk_unicode_run {
  uint32_t first;
  uint8_t flags;
} dvk_unicode_run;
typedef struct dvk_unicode_lower_run {
  uint32_t first, last, step;
  int32_t delta;
} dvk_unicode_lower_run;

extern const char dvk_unicode_version[];
extern const dvk_unicode_run dvk_unicode_runs[];
extern const unsigned dvk_unicode_n_runs;
extern const dvk_unicode_lower_run dvk_unicode_lower_runs[];
extern const unsigned dvk_unicode_n_lower_runs;

/* DVK_U_* flags of code point cp (0 for cp > 0x10FFFF). */
unsigned dvk_unicode_flags(uint32_t cp);

/* Unicode White_Space (Rust's char::is_whitespace). */
int dvk_unicode_white_space(uint32_t cp);

/* Full lower-case mapping of one code point without context, as Python's chr(cp).lower() and Rust's
 * char::to_lowercase: writes 1 or 2 code points to out and returns the count. */
int dvk_unicode_lower(uint32_t cp, uint32_t out[2]);

/* Python's str.lower() of n code points (with the final-sigma rule) into out (room for 2n); returns
 * the output count. */
size_t dvk_unicode_py_lower(const uint32_t *in, size_t n, uint32_t *out);

/* Decodes valid UTF-8 s[0..len) into cps (room for len); returns the count. */
size_t dvk_utf8_decode(const char *s, size_t len, uint32_t *cps);

/* Appends the UTF-8 bytes of cp at out (room for 4); returns the byte count. */
size_t dvk_utf8_put(uint32_t cp, char *out);

#endif
