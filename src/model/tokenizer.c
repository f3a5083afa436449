/* Byte-level BPE encoder. See tokenizer.h for the exact rules. */
#include "model/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct dvk_bpe {
  uint32_t n_merges;
  uint64_t *keys;   /* open-addressing table: (a << 32 | b) + 1, 0 = empty */
  uint32_t *ranks;  /* merge rank of keys[i] */
  size_t cap;       /* power of two */
};

static size_t slot_of(uint64_t key, size_t cap) {
  key ^= key >> 33;
  key *= 0xff51afd7ed558ccdull;
  key ^= key >> 33;
  return (size_t)key & (cap - 1);
}

/* Rank of the merge joining (a, b), or UINT32_MAX. */
static uint32_t find_rank(const dvk_bpe *bpe, uint32_t a, uint32_t b) {
  uint64_t key = (((uint64_t)a << 32) | b) + 1;
  for (size_t i = slot_of(key, bpe->cap);; i = (i + 1) & (bpe->cap - 1)) {
    if (bpe->keys[i] == key) return bpe->ranks[i];
    if (bpe->keys[i] == 0) return UINT32_MAX;
  }
}

dvk_status dvk_bpe_create(const uint32_t *merges, size_t n_merges, dvk_bpe **out, dvk_error *err) {
  *out = NULL;
  if (n_merges > (1u << 24)) {
    dvk_error_note(err, "tokenizer: %zu merges is more than supported (16M)", n_merges);
    return DVK_ERR_MODEL_FORMAT;
  }
  dvk_bpe *bpe = calloc(1, sizeof *bpe);
  size_t cap = 16;
  while (cap < 2 * n_merges + 16) cap *= 2;
  if (bpe) {
    bpe->cap = cap;
    bpe->keys = calloc(cap, sizeof *bpe->keys);
    bpe->ranks = calloc(cap, sizeof *bpe->ranks);
  }
  if (!bpe || !bpe->keys || !bpe->ranks) {
    dvk_bpe_destroy(bpe);
    dvk_error_note(err, "tokenizer: out of host memory");
    return DVK_ERR_OUT_OF_HOST_MEMORY;
  }
  for (size_t r = 0; r < n_merges; r++) {
    uint32_t a = merges[2 * r], b = merges[2 * r + 1];
    if (a >= 256 + r || b >= 256 + r) {
      dvk_error_note(err, "tokenizer: merge %zu joins ids %u and %u, but only ids below %zu exist then", r, a, b, 256 + r);
      dvk_bpe_destroy(bpe);
      return DVK_ERR_MODEL_FORMAT;
    }
    uint64_t key = (((uint64_t)a << 32) | b) + 1;
    size_t i = slot_of(key, cap);
    while (bpe->keys[i] != 0 && bpe->keys[i] != key) i = (i + 1) & (cap - 1);
    if (bpe->keys[i] == 0) { /* a duplicate pair keeps its first (lowest) rank */
      bpe->keys[i] = key;
      bpe->ranks[i] = (uint32_t)r;
    }
  }
  bpe->n_merges = (uint32_t)n_merges;
  *out = bpe;
  return DVK_OK;
}

uint32_t dvk_bpe_vocab_size(const dvk_bpe *bpe) { return 256 + bpe->n_merges; }

void dvk_bpe_destroy(dvk_bpe *bpe) {
  if (!bpe) return;
  free(bpe->keys);
  free(bpe->ranks);
  free(bpe);
}

int dvk_utf8_valid(const char *s, size_t len, size_t *bad_offset) {
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  while (i < len) {
    unsigned c = p[i];
    size_t n;
    uint32_t cp, min;
    if (c < 0x80) { i++; continue; }
    if ((c & 0xe0) == 0xc0) { n = 1; cp = c & 0x1f; min = 0x80; }
    else if ((c & 0xf0) == 0xe0) { n = 2; cp = c & 0x0f; min = 0x800; }
    else if ((c & 0xf8) == 0xf0) { n = 3; cp = c & 0x07; min = 0x10000; }
    else goto bad;
    if (i + n >= len) goto bad; /* truncated sequence */
    for (size_t k = 1; k <= n; k++) {
      if ((p[i + k] & 0xc0) != 0x80) goto bad;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) goto bad;
    i += n + 1;
  }
  return 1;
bad:
  if (bad_offset) *bad_offset = i;
  return 0;
}

static int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

static int is_word(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c >= 0x80;
}

/* Rule 1 into out (capacity >= len); returns the normalised length. */
static size_t normalize(const unsigned char *in, size_t len, unsigned char *out) {
  size_t n = 0;
  int pending_space = 0;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = in[i];
    if (is_space(c)) {
      pending_space = 1;
      continue;
    }
    if (pending_space && n > 0) out[n++] = ' ';
    pending_space = 0;
    out[n++] = (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
  }
  return n;
}

/* Rule 4 on ids[0..n) in place; returns the new length. */
static size_t merge_chunk(const dvk_bpe *bpe, int32_t *ids, size_t n) {
  while (n > 1) {
    uint32_t best = UINT32_MAX;
    for (size_t i = 0; i + 1 < n; i++) {
      uint32_t r = find_rank(bpe, (uint32_t)ids[i], (uint32_t)ids[i + 1]);
      if (r < best) best = r;
    }
    if (best == UINT32_MAX) break;
    /* the pair of rank `best`: read it back from any position that has it */
    int32_t a = -1, b = -1;
    for (size_t i = 0; i + 1 < n; i++)
      if (find_rank(bpe, (uint32_t)ids[i], (uint32_t)ids[i + 1]) == best) {
        a = ids[i];
        b = ids[i + 1];
        break;
      }
    size_t w = 0;
    for (size_t i = 0; i < n;) {
      if (i + 1 < n && ids[i] == a && ids[i + 1] == b) {
        ids[w++] = (int32_t)(256 + best);
        i += 2;
      } else {
        ids[w++] = ids[i++];
      }
    }
    n = w;
  }
  return n;
}

dvk_status dvk_bpe_encode(const dvk_bpe *bpe, const char *text, size_t len, int32_t **ids, size_t *n_ids,
                          dvk_error *err) {
  *ids = NULL;
  *n_ids = 0;
  size_t bad;
  if (!dvk_utf8_valid(text, len, &bad)) {
    dvk_error_note(err, "the text is not valid UTF-8 (bad byte 0x%02x at offset %zu)",
                      (unsigned char)text[bad], bad);
    return DVK_ERR_INVALID_ARGUMENT;
  }
  unsigned char *norm = malloc(len ? len : 1);
  int32_t *out = malloc((len ? len : 1) * sizeof *out);
  if (!norm || !out) {
    free(norm);
    free(out);
    dvk_error_note(err, "tokenizer: out of host memory");
    return DVK_ERR_OUT_OF_HOST_MEMORY;
  }
  size_t n = normalize((const unsigned char *)text, len, norm), total = 0;
  for (size_t i = 0; i < n;) { /* rule 2: one chunk per iteration */
    size_t start = i;
    if (norm[i] == ' ') i++;
    if (i < n && is_word(norm[i]))
      while (i < n && is_word(norm[i])) i++;
    else if (i < n)
      i++;
    for (size_t k = start; k < i; k++) out[total + k - start] = norm[k];
    total += merge_chunk(bpe, out + total, i - start);
  }
  free(norm);
  if (total == 0) {
    free(out);
    return DVK_OK;
  }
  *ids = out;
  *n_ids = total;
  return DVK_OK;
}
