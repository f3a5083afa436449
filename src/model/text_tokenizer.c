/* Tokenizer loading from the model file, dispatch by tokenizer.model, and the text-id wrapping
 * (text_tokenizer.h). */
#include "model/text_tokenizer.h"

#include <stdlib.h>
#include <string.h>

#include "model/bartbpe.h"
#include "model/charbpe.h"
#include "model/tokenizer.h"
#include "model/yttm.h"
#include "vk/context.h" /* DVK_TRY */

typedef enum kind { BYTE_BPE, YTTM, CHAR_BPE, BART_BPE } kind;
static const char *const kind_names[] = {"dalle-vk-bpe-1", "yttm-bpe", "char-bpe", "bart-bpe"};

struct dvk_tokenizer {
  kind kind;
  dvk_bpe *bpe;
  dvk_yttm *yttm;
  dvk_charbpe *charbpe;
  dvk_bartbpe *bartbpe;
  uint32_t text_vocab, text_len;
  int has_pad_id; /* dalle.text_pad_id given: every pad is pad_id, else pad j is text_vocab + j */
  uint32_t pad_id;
  uint32_t *prefix, *suffix;
  size_t n_prefix, n_suffix;
};

void dvk_tokenizer_destroy(dvk_tokenizer *t) {
  if (!t) return;
  dvk_bpe_destroy(t->bpe);
  dvk_yttm_destroy(t->yttm);
  dvk_charbpe_destroy(t->charbpe);
  dvk_bartbpe_destroy(t->bartbpe);
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

static void strings_free(dvk_strings *v) {
  free((void *)v->s);
  free((void *)v->len);
  *v = (dvk_strings){0};
}

/* The string array key as a dvk_strings view of the file's strings (its two arrays malloc'ed; free
 * with strings_free). */
static dvk_status str_array(const gguf_file *f, const char *key, dvk_strings *out, dvk_error *err) {
  *out = (dvk_strings){0};
  const gguf_array *a;
  DVK_TRY(gguf_get_array(f, key, GGUF_TYPE_STRING, &a, err));
  const size_t n = (size_t)a->count;
  const char **s = malloc((n ? n : 1) * sizeof *s);
  size_t *len = malloc((n ? n : 1) * sizeof *len);
  if (!s || !len) {
    free(s);
    free(len);
    dvk_error_note(err, "%s: out of host memory for key '%s'", gguf_name(f), key);
    return DVK_ERR_OUT_OF_HOST_MEMORY;
  }
  for (size_t i = 0; i < n; i++) {
    s[i] = gguf_arr_str(a, i)->s;
    len[i] = (size_t)gguf_arr_str(a, i)->len;
  }
  *out = (dvk_strings){s, len, n};
  return DVK_OK;
}

static dvk_status load_charbpe(const gguf_file *f, dvk_tokenizer *t, dvk_error *err) {
  const gguf_string *suffix;
  uint32_t *merges = NULL, *special = NULL, unk;
  size_t n_merges, n_special;
  dvk_strings tokens;
  DVK_TRY(str_array(f, "tokenizer.charbpe.tokens", &tokens, err));
  dvk_status s = DVK_OK;
  if (tokens.n > t->text_vocab) {
    dvk_error_note(err, "%s: tokenizer.charbpe.tokens has %zu tokens, more than dalle.text_vocab (%u)", gguf_name(f),
                   tokens.n, t->text_vocab);
    s = DVK_ERR_MODEL_FORMAT;
  }
  if (s == DVK_OK) s = gguf_get_string(f, "tokenizer.charbpe.suffix", &suffix, err);
  if (s == DVK_OK) s = gguf_get_u32(f, "tokenizer.charbpe.unk_id", &unk, err);
  if (s == DVK_OK) s = u32_array(f, "tokenizer.charbpe.merges", 0, 2, &merges, &n_merges, err);
  if (s == DVK_OK) s = u32_array(f, "tokenizer.charbpe.special_ids", 0, 1, &special, &n_special, err);
  dvk_error why = {""};
  if (s == DVK_OK &&
      (s = dvk_charbpe_create(tokens.s, tokens.len, tokens.n, merges, n_merges / 2, suffix->s, (size_t)suffix->len, unk,
                              special, n_special, &t->charbpe, &why)) != DVK_OK)
    dvk_error_note(err, "%s: %s", gguf_name(f), why.msg);
  strings_free(&tokens);
  free(merges);
  free(special);
  return s;
}

static dvk_status load_bartbpe(const gguf_file *f, dvk_tokenizer *t, dvk_error *err) {
  dvk_strings tokens = {0}, merges = {0}, seqs = {0}, names = {0};
  uint32_t unk;
  dvk_status s = str_array(f, "tokenizer.bart.tokens", &tokens, err);
  if (s == DVK_OK) s = str_array(f, "tokenizer.bart.merges", &merges, err);
  if (s == DVK_OK) s = gguf_get_u32(f, "tokenizer.bart.unk_id", &unk, err);
  if (s == DVK_OK) s = str_array(f, "tokenizer.emoji.sequences", &seqs, err);
  if (s == DVK_OK) s = str_array(f, "tokenizer.emoji.names", &names, err);
  if (s == DVK_OK && !t->has_pad_id) {
    dvk_error_note(err, "%s: the bart-bpe tokenizer needs key 'dalle.text_pad_id'", gguf_name(f));
    s = DVK_ERR_MODEL_FORMAT;
  }
  dvk_error why = {""};
  if (s == DVK_OK &&
      (s = dvk_bartbpe_create(tokens, merges, seqs, names, unk, t->text_vocab, &t->bartbpe, &why)) != DVK_OK)
    dvk_error_note(err, "%s: %s", gguf_name(f), why.msg);
  strings_free(&tokens);
  strings_free(&merges);
  strings_free(&seqs);
  strings_free(&names);
  return s;
}

/* dalle.text_pad_id: optional, below text_vocab. */
static dvk_status load_pad_id(const gguf_file *f, dvk_tokenizer *t, dvk_error *err) {
  if (!gguf_find_key(f, "dalle.text_pad_id")) return DVK_OK;
  dvk_error why = {""};
  if (gguf_get_u32(f, "dalle.text_pad_id", &t->pad_id, &why) != DVK_OK || t->pad_id >= t->text_vocab) {
    dvk_error_note(err,
                   "%s: dalle.text_pad_id, the tokenizer's pad id, must be a uint32 below dalle.text_vocab (%u)%s%s",
                   gguf_name(f), t->text_vocab, why.msg[0] ? ": " : "", why.msg);
    return DVK_ERR_MODEL_FORMAT;
  }
  t->has_pad_id = 1;
  return DVK_OK;
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
  typedef dvk_status (*loader)(const gguf_file *, dvk_tokenizer *, dvk_error *);
  static const loader loaders[] = {load_byte_bpe, load_yttm, load_charbpe, load_bartbpe}; /* as kind_names */
  const size_t n_kinds = sizeof kind_names / sizeof *kind_names;
  size_t k = 0;
  while (k < n_kinds && strcmp(model->s, kind_names[k]) != 0) k++;
  dvk_status s = load_pad_id(f, t, err);
  if (s == DVK_OK && k == n_kinds) {
    dvk_error_note(err,
                   "%s: unsupported tokenizer.model '%.60s' (expected dalle-vk-bpe-1, yttm-bpe, char-bpe or bart-bpe)",
                   gguf_name(f), model->s);
    s = DVK_ERR_MODEL_FORMAT;
  } else if (s == DVK_OK) {
    t->kind = (kind)k;
    s = loaders[k](f, t, err);
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
  if (t->kind == BART_BPE) return dvk_bartbpe_encode(t->bartbpe, text, len, ids, n_ids, err);
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

/* The pad at position j. */
static int32_t pad(const dvk_tokenizer *t, size_t j) {
  return (int32_t)(t->has_pad_id ? t->pad_id : t->text_vocab + (uint32_t)j);
}

/* prefix + tok[0..n) + suffix, cut to T, then pads. */
static void wrap(const dvk_tokenizer *t, const int32_t *tok, size_t n, int32_t *ids, uint32_t *used,
                 uint32_t *dropped) {
  const size_t total = t->n_prefix + n + t->n_suffix, T = t->text_len;
  for (size_t j = 0; j < T; j++) {
    if (j < t->n_prefix) ids[j] = (int32_t)t->prefix[j];
    else if (j < t->n_prefix + n) ids[j] = tok[j - t->n_prefix];
    else if (j < total) ids[j] = (int32_t)t->suffix[j - t->n_prefix - n];
    else ids[j] = pad(t, j);
  }
  *used = (uint32_t)(total < T ? total : T);
  *dropped = (uint32_t)(total - *used);
}

dvk_status dvk_tokenizer_text_ids(const dvk_tokenizer *t, const char *prompt, size_t len, int32_t *ids, uint32_t *used,
                                  uint32_t *dropped, dvk_error *err) {
  int32_t *tok;
  size_t n;
  DVK_TRY(dvk_tokenizer_encode(t, prompt, len, &tok, &n, err));
  wrap(t, tok, n, ids, used, dropped);
  free(tok);
  return DVK_OK;
}

void dvk_tokenizer_null_ids(const dvk_tokenizer *t, const int32_t *text_ids, uint32_t used, int32_t *null_ids) {
  if (t->kind != BART_BPE) { /* the empty caption: every tokenizer encodes "" to no ids */
    uint32_t u, d;
    wrap(t, NULL, 0, null_ids, &u, &d);
    return;
  }
  for (size_t j = 0; j < t->text_len; j++) /* min-dalle: [first, last] of the caption row */
    null_ids[j] = j > 1 || used == 0 ? pad(t, j) : text_ids[j == 0 ? 0 : used - 1];
}
