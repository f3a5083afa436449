/* Tokenizer loading from the model file, dispatch by tokenizer.model, and the text-id wrapping
 * (text_tokenizer.h). */
#include "model/text_tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "model/charbpe.h"
#include "model/tokenizer.h"
#include "model/yttm.h"
#include "vk/context.h" /* DVK_TRY */

typedef enum kind { BYTE_BPE, YTTM, CHAR_BPE } kind;
static const char *const kind_names[] = {"dalle-vk-bpe-1", "yttm-bpe", "char-bpe"};

struct dvk_tokenizer {
  kind kind;
  dvk_bpe *bpe;
  dvk_yttm *yttm;
  dvk_charbpe *charbpe;
  uint32_t text_vocab, text_len;
  uint32_t *prefix, *suffix;
  size_t n_prefix, n_suffix;
};

void dvk_tokenizer_destroy(dvk_tokenizer *t) {
  if (!t) return;
  dvk_bpe_destroy(t->bpe);
  dvk_yttm_destroy(t->yttm);
  dvk_charbpe_destroy(t->charbpe);
  free(t->prefix);
  free(t->suffix);
  free(t);
}

const char *dvk_tokenizer_model(const dvk_tokenizer *t) { return kind_names[t->kind]; }

/* The uint32 array key as a malloc'ed copy (*n elements; absent and optional: NULL, 0); count must be
 * a multiple of `group`. */
static dvk_status u32_array(const gguf_file *f, const char *key, int optional, size_t group, uint32_t **out, size_t *n,
                            dvk_error *err) {
  *out = NULL;
  *n = 0;
  if (optional && !gguf_find_key(f, key)) return DVK_OK;
  const gguf_array *a;
  DVK_TRY(gguf_get_array(f, key, GGUF_TYPE_UINT32, &a, err));
  if (a->count % group || a->count > SIZE_MAX / 2 / sizeof **out) {
    dvk_error_note(err, "%s: key '%s' has %llu elements, expected a multiple of %zu", gguf_name(f), key,
                   (unsigned long long)a->count, group);
    return DVK_ERR_MODEL_FORMAT;
  }
  *out = malloc((a->count ? a->count : 1) * sizeof **out);
  if (!*out) {
    dvk_error_note(err, "%s: out of host memory for key '%s'", gguf_name(f), key);
    return DVK_ERR_OUT_OF_HOST_MEMORY;
  }
  for (uint64_t i = 0; i < a->count; i++) (*out)[i] = gguf_arr_u32(a, i);
  *n = (size_t)a->count;
  return DVK_OK;
}

static dvk_status load_byte_bpe(const gguf_file *f, dvk_tokenizer *t, dvk_error *err) {
  uint32_t *pairs, vocab;
  size_t n;
  DVK_TRY(u32_array(f, "tokenizer.bpe.merges", 0, 2, &pairs, &n, err));
  dvk_status s = gguf_get_u32(f, "tokenizer.bpe.vocab_size", &vocab, err);
  if (s == DVK_OK && (vocab != 256 + n / 2 || vocab > t->text_vocab)) {
    dvk_error_note(err, "%s: tokenizer.bpe.vocab_size (%u) must be 256 + merges and at most dalle.text_vocab (%u)",
                   gguf_name(f), vocab, t->text_vocab);
    s = DVK_ERR_MODEL_FORMAT;
  }
  dvk_error why = {""};
  if (s == DVK_OK && (s = dvk_bpe_create(pairs, n / 2, &t->bpe, &why)) != DVK_OK)
    dvk_error_note(err, "%s: %s", gguf_name(f), why.msg);
  free(pairs);
  return s;
}

static dvk_status load_yttm(const gguf_file *f, dvk_tokenizer *t, dvk_error *err) {
  uint32_t *chars = NULL, *rules = NULL, unk;
  size_t n_chars, n_rules;
  dvk_status s = u32_array(f, "tokenizer.yttm.chars", 0, 2, &chars, &n_chars, err);
  if (s == DVK_OK) s = u32_array(f, "tokenizer.yttm.merges", 0, 3, &rules, &n_rules, err);
  if (s == DVK_OK) s = gguf_get_u32(f, "tokenizer.yttm.unk_id", &unk, err);
  dvk_error why = {""};
  if (s == DVK_OK &&
      (s = dvk_yttm_create(chars, n_chars / 2, rules, n_rules / 3, unk, t->text_vocab, &t->yttm, &why)) != DVK_OK)
    dvk_error_note(err, "%s: %s", gguf_name(f), why.msg);
  free(chars);
  free(rules);
  return s;
}

static dvk_status load_charbpe(const gguf_file *f, dvk_tokenizer *t, dvk_error *err) {
  const gguf_array *tokens;
  const gguf_string *suffix;
  uint32_t *merges = NULL, *special = NULL, unk;
  size_t n_merges, n_special;
  DVK_TRY(gguf_get_array(f, "tokenizer.charbpe.tokens", GGUF_TYPE_STRING, &tokens, err));
  if (tokens->count > t->text_vocab) {
    dvk_error_note(err, "%s: tokenizer.charbpe.tokens has %llu tokens, more than dalle.text_vocab (%u)", gguf_name(f),
                   (unsigned long long)tokens->count, t->text_vocab);
    return DVK_ERR_MODEL_FORMAT;
  }
  dvk_status s = gguf_get_string(f, "tokenizer.charbpe.suffix", &suffix, err);
  if (s == DVK_OK) s = gguf_get_u32(f, "tokenizer.charbpe.unk_id", &unk, err);
  if (s == DVK_OK) s = u32_array(f, "tokenizer.charbpe.merges", 0, 2, &merges, &n_merges, err);
  if (s == DVK_OK) s = u32_array(f, "tokenizer.charbpe.special_ids", 0, 1, &special, &n_special, err);
  size_t n = (size_t)tokens->count;
  const char **strs = s == DVK_OK ? malloc((n ? n : 1) * sizeof *strs) : NULL;
  size_t *lens = s == DVK_OK ? malloc((n ? n : 1) * sizeof *lens) : NULL;
  if (s == DVK_OK && (!strs || !lens)) {
    dvk_error_note(err, "%s: out of host memory for the tokenizer", gguf_name(f));
    s = DVK_ERR_OUT_OF_HOST_MEMORY;
  }
  for (size_t i = 0; s == DVK_OK && i < n; i++) {
    strs[i] = gguf_arr_str(tokens, i)->s;
    lens[i] = (size_t)gguf_arr_str(tokens, i)->len;
  }
  dvk_error why = {""};
  if (s == DVK_OK && (s = dvk_charbpe_create(strs, lens, n, merges, n_merges / 2, suffix->s, (size_t)suffix->len, unk,
                                             special, n_special, &t->charbpe, &why)) != DVK_OK)
    dvk_error_note(err, "%s: %s", gguf_name(f), why.msg);
  free(strs);
  free(lens);
  free(merges);
  free(special);
  return s;
}

/* tokenizer.prefix_ids / suffix_ids: optional, every id below text_vocab, together at most T. */
static dvk_status load_wrapping(const gguf_file *f, dvk_tokenizer *t, dvk_error *err) {
  DVK_TRY(u32_array(f, "tokenizer.prefix_ids", 1, 1, &t->prefix, &t->n_prefix, err));
  DVK_TRY(u32_array(f, "tokenizer.suffix_ids", 1, 1, &t->suffix, &t->n_suffix, err));
  for (int k = 0; k < 2; k++) {
    const uint32_t *a = k ? t->suffix : t->prefix;
    for (size_t i = 0, n = k ? t->n_suffix : t->n_prefix; i < n; i++)
      if (a[i] >= t->text_vocab) {
        dvk_error_note(err, "%s: tokenizer.%s_ids[%zu] = %u is not below dalle.text_vocab (%u)", gguf_name(f),
                       k ? "suffix" : "prefix", i, a[i], t->text_vocab);
        return DVK_ERR_MODEL_FORMAT;
      }
  }
  if (t->n_prefix + t->n_suffix > t->text_len) {
    dvk_error_note(err, "%s: tokenizer.prefix_ids and tokenizer.suffix_ids have %zu ids, more than dalle.text_len (%u)",
                   gguf_name(f), t->n_prefix + t->n_suffix, t->text_len);
    return DVK_ERR_MODEL_FORMAT;
  }
  return DVK_OK;
}

dvk_status dvk_tokenizer_load(const gguf_file *f, uint32_t text_vocab, uint32_t text_len, dvk_tokenizer **out,
                              dvk_error *err) {
  *out = NULL;
  const gguf_string *model;
  DVK_TRY(gguf_get_string(f, "tokenizer.model", &model, err));
  dvk_tokenizer *t = calloc(1, sizeof *t);
  if (!t) {
    dvk_error_note(err, "%s: out of host memory for the tokenizer", gguf_name(f));
    return DVK_ERR_OUT_OF_HOST_MEMORY;
  }
  t->text_vocab = text_vocab;
  t->text_len = text_len;
  dvk_status s;
  if (strcmp(model->s, "dalle-vk-bpe-1") == 0) t->kind = BYTE_BPE, s = load_byte_bpe(f, t, err);
  else if (strcmp(model->s, "yttm-bpe") == 0) t->kind = YTTM, s = load_yttm(f, t, err);
  else if (strcmp(model->s, "char-bpe") == 0) t->kind = CHAR_BPE, s = load_charbpe(f, t, err);
  else {
    dvk_error_note(err, "%s: unsupported tokenizer.model '%.60s' (expected dalle-vk-bpe-1, yttm-bpe or char-bpe)",
                   gguf_name(f), model->s);
    s = DVK_ERR_MODEL_FORMAT;
  }
  if (s == DVK_OK) s = load_wrapping(f, t, err);
  if (s != DVK_OK) {
    dvk_tokenizer_destroy(t);
    return s;
  }
  *out = t;
  return DVK_OK;
}

dvk_status dvk_tokenizer_encode(const dvk_tokenizer *t, const char *text, size_t len, int32_t **ids, size_t *n_ids,
                                dvk_error *err) {
  *ids = NULL;
  *n_ids = 0;
  size_t bad;
  if (!dvk_utf8_valid(text, len, &bad)) {
    dvk_error_note(err, "the text is not valid UTF-8 (bad byte 0x%02x at offset %zu)", (unsigned char)text[bad], bad);
    return DVK_ERR_INVALID_ARGUMENT;
  }
  if (t->kind == BYTE_BPE) return dvk_bpe_encode(t->bpe, text, len, ids, n_ids, err);
  int32_t *out = malloc((3 * len + 1) * sizeof *out);
  size_t n = !out              ? (size_t)-1
             : t->kind == YTTM ? dvk_yttm_encode(t->yttm, text, len, out)
                               : dvk_charbpe_encode(t->charbpe, text, len, out);
  if (n == (size_t)-1) {
    free(out);
    dvk_error_note(err, "tokenizer: out of host memory");
    return DVK_ERR_OUT_OF_HOST_MEMORY;
  }
  if (n == 0) free(out);
  else *ids = out, *n_ids = n;
  return DVK_OK;
}

dvk_status dvk_tokenizer_text_ids(const dvk_tokenizer *t, const char *prompt, size_t len, int32_t *ids, uint32_t *used,
                                  uint32_t *dropped, dvk_error *err) {
  int32_t *tok;
  size_t n;
  DVK_TRY(dvk_tokenizer_encode(t, prompt, len, &tok, &n, err));
  const size_t total = t->n_prefix + n + t->n_suffix, T = t->text_len;
  for (size_t j = 0; j < T; j++) {
    if (j < t->n_prefix) ids[j] = (int32_t)t->prefix[j];
    else if (j < t->n_prefix + n) ids[j] = tok[j - t->n_prefix];
    else if (j < total) ids[j] = (int32_t)t->suffix[j - t->n_prefix - n];
    else ids[j] = (int32_t)(t->text_vocab + j);
  }
  free(tok);
  *used = (uint32_t)(total < T ? total : T);
  *dropped = (uint32_t)(total - *used);
  return DVK_OK;
}
