/* CharBPE encoder (charbpe.h; the rules: docs/tokenizer.md §9). */
#include "model/charbpe.h"

#include <stdlib.h>
#include <string.h>

#include "model/bpe_queue.h"
#include "model/unicode.h"

struct dvk_charbpe {
  char *blob;  /* every token's bytes, back to back */
  size_t *off; /* token i = blob[off[i] .. off[i+1]) */
  size_t n;
  uint32_t *slots; /* open addressing over token ids: id + 1, 0 = empty */
  size_t cap;      /* power of two */
  char suffix[64];
  size_t suffix_len;
  uint32_t unk_id;
  uint32_t *special;
  size_t n_special;
  dvk_merge_table merges;
};

void dvk_charbpe_destroy(dvk_charbpe *t) {
  if (!t) return;
  free(t->blob);
  free(t->off);
  free(t->slots);
  free(t->special);
  dvk_merge_table_free(&t->merges);
  free(t);
}

static size_t hash_of(const char *s, size_t len) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return (size_t)(h ^ (h >> 29));
}

/* The slot holding token s, or the empty slot where it would go. */
static size_t find(const dvk_charbpe *t, const char *s, size_t len) {
  for (size_t i = hash_of(s, len) & (t->cap - 1);; i = (i + 1) & (t->cap - 1)) {
    uint32_t id = t->slots[i];
    if (id == 0) return i;
    size_t o = t->off[id - 1], l = t->off[id] - o;
    if (l == len && memcmp(t->blob + o, s, len) == 0) return i;
  }
}

static uint32_t lookup(const dvk_charbpe *t, const char *s, size_t len) {
  uint32_t id = t->slots[find(t, s, len)];
  return id ? id - 1 : UINT32_MAX;
}

static dvk_status fail(dvk_charbpe *t, char *tmp) {
  free(tmp);
  dvk_charbpe_destroy(t);
  return DVK_ERR_MODEL_FORMAT;
}

dvk_status dvk_charbpe_create(const char *const *tokens, const size_t *lens, size_t n_tokens, const uint32_t *merges,
                              size_t n_merges, const char *suffix, size_t suffix_len, uint32_t unk_id,
                              const uint32_t *special_ids, size_t n_special, dvk_charbpe **out, dvk_error *err) {
  *out = NULL;
  size_t bytes = 0, longest = suffix_len;
  for (size_t i = 0; i < n_tokens; i++) {
    bytes += lens[i];
    if (lens[i] > longest) longest = lens[i];
  }
  dvk_charbpe *t = calloc(1, sizeof *t);
  char *tmp = NULL;
  size_t cap = 16;
  while (cap < 2 * n_tokens + 16) cap *= 2;
  if (t) {
    t->blob = malloc(bytes ? bytes : 1);
    t->off = malloc((n_tokens + 1) * sizeof *t->off);
    t->slots = calloc(cap, sizeof *t->slots);
    t->special = malloc((n_special ? n_special : 1) * sizeof *t->special);
    tmp = malloc(2 * longest + 1);
    t->cap = cap;
  }
  if (!t || !t->blob || !t->off || !t->slots || !t->special || !tmp ||
      dvk_merge_table_init(&t->merges, n_merges) != DVK_OK) {
    free(tmp);
    dvk_charbpe_destroy(t);
    dvk_error_note(err, "tokenizer: out of host memory");
    return DVK_ERR_OUT_OF_HOST_MEMORY;
  }
  if (n_tokens >= UINT32_MAX || suffix_len >= sizeof t->suffix || !dvk_utf8_valid(suffix, suffix_len, NULL)) {
    dvk_error_note(err, "tokenizer.charbpe.%s",
                   n_tokens >= UINT32_MAX ? "tokens: too many tokens"
                                          : "suffix: longer than 63 bytes or not valid UTF-8");
    return fail(t, tmp);
  }
  memcpy(t->suffix, suffix, suffix_len);
  t->suffix_len = suffix_len;
  t->off[0] = 0;
  for (size_t i = 0; i < n_tokens; i++) {
    if (lens[i] == 0 || !dvk_utf8_valid(tokens[i], lens[i], NULL)) {
      dvk_error_note(err, "tokenizer.charbpe.tokens: entry %zu is empty or not valid UTF-8", i);
      return fail(t, tmp);
    }
    memcpy(t->blob + t->off[i], tokens[i], lens[i]);
    t->off[i + 1] = t->off[i] + lens[i];
    t->n = i + 1;
    size_t s = find(t, tokens[i], lens[i]);
    if (t->slots[s]) {
      dvk_error_note(err, "tokenizer.charbpe.tokens: entry %zu ('%.40s') repeats entry %u", i, tokens[i],
                     t->slots[s] - 1);
      return fail(t, tmp);
    }
    t->slots[s] = (uint32_t)i + 1;
  }
  if (unk_id >= n_tokens) {
    dvk_error_note(err, "tokenizer.charbpe.unk_id %u is not a token id (%zu tokens)", unk_id, n_tokens);
    return fail(t, tmp);
  }
  t->unk_id = unk_id;
  for (size_t k = 0; k < n_special; k++) {
    if (special_ids[k] >= n_tokens) {
      dvk_error_note(err, "tokenizer.charbpe.special_ids: entry %zu (%u) is not a token id", k, special_ids[k]);
      return fail(t, tmp);
    }
    t->special[k] = special_ids[k];
  }
  t->n_special = n_special;
  for (size_t r = 0; r < n_merges; r++) {
    uint32_t a = merges[2 * r], b = merges[2 * r + 1], z = UINT32_MAX;
    if (a < n_tokens && b < n_tokens) {
      size_t la = t->off[a + 1] - t->off[a], lb = t->off[b + 1] - t->off[b];
      memcpy(tmp, t->blob + t->off[a], la);
      memcpy(tmp + la, t->blob + t->off[b], lb);
      z = lookup(t, tmp, la + lb);
    }
    if (z == UINT32_MAX) {
      dvk_error_note(err,
                     "tokenizer.charbpe.merges: merge %zu (%u %u) names a token that is not in the "
                     "vocabulary, or joins into one that is not",
                     r, a, b);
      return fail(t, tmp);
    }
    if (!dvk_merge_table_put(&t->merges, a, b, (uint32_t)r, z)) {
      dvk_error_note(err, "tokenizer.charbpe.merges: merge %zu (%u %u) repeats an earlier merge", r, a, b);
      return fail(t, tmp);
    }
  }
  free(tmp);
  *out = t;
  return DVK_OK;
}

static int is_cjk(uint32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

static int is_punct(uint32_t c) {
  return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) || (c >= 0x7B && c <= 0x7E) ||
         (dvk_unicode_flags(c) & DVK_U_PUNCT);
}

/* BertNormalizer(lowercase=False) then Lowercase on n code points into out (room for 3n). */
static size_t normalize(const uint32_t *in, size_t n, uint32_t *out) {
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    uint32_t c = in[i];
    if (c == 0 || c == 0xFFFD || (c != '\t' && c != '\n' && c != '\r' && (dvk_unicode_flags(c) & DVK_U_OTHER)))
      continue;
    if (dvk_unicode_white_space(c)) c = ' ';
    if (is_cjk(c)) {
      out[k++] = ' ';
      out[k++] = c;
      out[k++] = ' ';
    } else {
      k += (size_t)dvk_unicode_lower(c, out + k);
    }
  }
  return k;
}

/* One word of n code points: BPE ids appended at out; returns the count or (size_t)-1 (no memory). */
static size_t encode_word(const dvk_charbpe *t, const uint32_t *w, size_t n, uint32_t *out) {
  char buf[4 + sizeof t->suffix];
  for (size_t k = 0; k < n; k++) {
    size_t len = dvk_utf8_put(w[k], buf);
    if (k + 1 == n) {
      memcpy(buf + len, t->suffix, t->suffix_len);
      len += t->suffix_len;
    }
    uint32_t id = lookup(t, buf, len);
    out[k] = id == UINT32_MAX ? t->unk_id : id;
  }
  return dvk_merge_word(&t->merges, out, n);
}

/* Normalises, splits into words and encodes the text between special tokens; returns the id count
 * appended at out or (size_t)-1. cps and norm: scratch of len and 3 len code points. */
static size_t encode_piece(const dvk_charbpe *t, const char *s, size_t len, uint32_t *cps, uint32_t *norm,
                           uint32_t *out) {
  size_t n = normalize(cps, dvk_utf8_decode(s, len, cps), norm), total = 0, start = 0;
  for (size_t i = 0; i <= n; i++) {
    int space = i == n || dvk_unicode_white_space(norm[i]), punct = !space && is_punct(norm[i]);
    if (!space && !punct) continue;
    if (i > start) { /* the word before this separator */
      size_t m = encode_word(t, norm + start, i - start, out + total);
      if (m == (size_t)-1) return m;
      total += m;
    }
    if (punct) {
      size_t m = encode_word(t, norm + i, 1, out + total);
      if (m == (size_t)-1) return m;
      total += m;
    }
    start = i + 1;
  }
  return total;
}

size_t dvk_charbpe_encode(const dvk_charbpe *t, const char *text, size_t len, int32_t *ids) {
  uint32_t *cps = malloc((len + 1) * sizeof *cps), *norm = malloc((3 * len + 1) * sizeof *norm);
  uint32_t *res = (uint32_t *)ids; /* ids < 2^31: the same values */
  size_t total = (size_t)-1, piece = 0;
  if (!cps || !norm) goto done;
  total = 0;
  for (size_t i = 0; i <= len;) {
    uint32_t best = UINT32_MAX;
    size_t best_len = 0;
    for (size_t k = 0; k < t->n_special && i < len; k++) { /* leftmost-longest special token */
      size_t o = t->off[t->special[k]], l = t->off[t->special[k] + 1] - o;
      if (l > best_len && l <= len - i && memcmp(text + i, t->blob + o, l) == 0) {
        best = t->special[k];
        best_len = l;
      }
    }
    if (best == UINT32_MAX && i < len) {
      i++;
      continue;
    }
    size_t m = encode_piece(t, text + piece, i - piece, cps, norm, res + total);
    if (m == (size_t)-1) {
      total = m;
      break;
    }
    total += m;
    if (best == UINT32_MAX) break;
    res[total++] = best;
    i += best_len;
    piece = i;
  }
done:
  free(cps);
  free(norm);
  return total;
}
