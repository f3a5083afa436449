/* YouTokenToMe BPE encoder (yttm.h; the rules: docs/tokenizer.md §8). */
#include "model/yttm.h"

#include <stdlib.h>
#include <string.h>

#include "model/bpe_queue.h"
#include "model/unicode.h"

#define WORD_START 0x2581u  /* "▁", YouTokenToMe's SPACE_TOKEN */
#define UNKNOWN 0x80000000u /* placeholder ids (UNKNOWN | k) for runs of unknown characters */

struct dvk_yttm {
  uint32_t *cps, *ids; /* characters, sorted by code point */
  size_t n_chars;
  uint32_t unk_id, word_start_id;
  dvk_merge_table merges;
};

void dvk_yttm_destroy(dvk_yttm *t) {
  if (!t) return;
  free(t->cps);
  free(t->ids);
  dvk_merge_table_free(&t->merges);
  free(t);
}

static dvk_status fail(dvk_yttm *t, unsigned char *seen) {
  free(seen);
  dvk_yttm_destroy(t);
  return DVK_ERR_MODEL_FORMAT;
}

dvk_status dvk_yttm_create(const uint32_t *chars, size_t n_chars, const uint32_t *rules, size_t n_rules,
                           uint32_t unk_id, uint32_t id_limit, dvk_yttm **out, dvk_error *err) {
  *out = NULL;
  dvk_yttm *t = calloc(1, sizeof *t);
  unsigned char *seen = calloc(id_limit ? id_limit : 1, 1); /* 1: character or result, 2: unk */
  if (t) {
    t->cps = malloc((n_chars ? n_chars : 1) * sizeof *t->cps);
    t->ids = malloc((n_chars ? n_chars : 1) * sizeof *t->ids);
  }
  if (!t || !seen || !t->cps || !t->ids || dvk_merge_table_init(&t->merges, n_rules) != DVK_OK) {
    free(seen);
    dvk_yttm_destroy(t);
    dvk_error_note(err, "tokenizer: out of host memory");
    return DVK_ERR_OUT_OF_HOST_MEMORY;
  }
  if (unk_id >= id_limit) {
    dvk_error_note(err, "tokenizer.yttm.unk_id %u is not below the text vocabulary (%u)", unk_id, id_limit);
    return fail(t, seen);
  }
  seen[unk_id] = 2;
  t->unk_id = unk_id;
  t->word_start_id = UINT32_MAX;
  for (size_t k = 0; k < n_chars; k++) {
    uint32_t cp = chars[2 * k], id = chars[2 * k + 1];
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) || (k > 0 && cp <= chars[2 * k - 2])) {
      dvk_error_note(err,
                     "tokenizer.yttm.chars: entry %zu (code point %u) is not a Unicode scalar value above "
                     "the previous entry's",
                     k, cp);
      return fail(t, seen);
    }
    if (id >= id_limit || seen[id]) {
      dvk_error_note(err, "tokenizer.yttm.chars: entry %zu gives U+%04X the id %u, %s", k, cp, id,
                     id >= id_limit ? "not below the text vocabulary" : "already used");
      return fail(t, seen);
    }
    seen[id] = 1;
    t->cps[k] = cp;
    t->ids[k] = id;
    if (cp == WORD_START) t->word_start_id = id;
  }
  t->n_chars = n_chars;
  if (t->word_start_id == UINT32_MAX) {
    dvk_error_note(err, "tokenizer.yttm.chars: the word-start character U+2581 is missing");
    return fail(t, seen);
  }
  for (size_t r = 0; r < n_rules; r++) {
    uint32_t x = rules[3 * r], y = rules[3 * r + 1], z = rules[3 * r + 2];
    if (x >= id_limit || y >= id_limit || seen[x] != 1 || seen[y] != 1) {
      dvk_error_note(err,
                     "tokenizer.yttm.merges: rule %zu (%u %u -> %u) joins an id that is neither a "
                     "character nor an earlier rule's result",
                     r, x, y, z);
      return fail(t, seen);
    }
    if (z >= id_limit || seen[z]) {
      dvk_error_note(err, "tokenizer.yttm.merges: rule %zu (%u %u -> %u) has a result id %s", r, x, y, z,
                     z >= id_limit ? "not below the text vocabulary" : "already used");
      return fail(t, seen);
    }
    if (!dvk_merge_table_put(&t->merges, x, y, (uint32_t)r, z)) {
      dvk_error_note(err, "tokenizer.yttm.merges: rule %zu (%u %u -> %u) repeats an earlier rule's pair", r, x, y, z);
      return fail(t, seen);
    }
    seen[z] = 1;
  }
  free(seen);
  *out = t;
  return DVK_OK;
}

static uint32_t char_id(const dvk_yttm *t, uint32_t cp) {
  size_t lo = 0, hi = t->n_chars;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (t->cps[mid] < cp) lo = mid + 1;
    else hi = mid;
  }
  return lo < t->n_chars && t->cps[lo] == cp ? t->ids[lo] : UNKNOWN;
}

/* YouTokenToMe's is_space: C isspace() below 256, and U+2581. */
static int is_space(uint32_t cp) { return (cp >= 9 && cp <= 13) || cp == 32 || cp == WORD_START; }

size_t dvk_yttm_encode(const dvk_yttm *t, const char *text, size_t len, int32_t *ids) {
  uint32_t *cps = malloc((len + 1) * sizeof *cps), *low = malloc((2 * len + 1) * sizeof *low);
  uint32_t *word = malloc((2 * len + 2) * sizeof *word);
  size_t total = (size_t)-1;
  if (!cps || !low || !word) goto done;
  size_t n = dvk_unicode_py_lower(cps, dvk_utf8_decode(text, len, cps), low), start = 0;
  while (start < n && (dvk_unicode_flags(low[start]) & DVK_U_PY_SPACE)) start++; /* str.strip() */
  while (n > start && (dvk_unicode_flags(low[n - 1]) & DVK_U_PY_SPACE)) n--;
  while (n > start && is_space(low[n - 1])) n--; /* YouTokenToMe drops trailing spaces */
  total = 0;
  for (size_t i = start; i < n;) {
    while (i < n && is_space(low[i])) i++;
    size_t w = 0;
    word[w++] = t->word_start_id;
    for (; i < n && !is_space(low[i]); i++) {
      uint32_t id = char_id(t, low[i]);
      if (id != UNKNOWN) word[w++] = id;
      else if (!(word[w - 1] & UNKNOWN)) { /* one placeholder per run of unknown characters */
        word[w] = UNKNOWN | (uint32_t)w;
        w++;
      }
    }
    w = dvk_merge_word(&t->merges, word, w);
    if (w == (size_t)-1) {
      total = w;
      break;
    }
    for (size_t k = 0; k < w; k++) ids[total++] = (int32_t)(word[k] & UNKNOWN ? t->unk_id : word[k]);
  }
done:
  free(cps);
  free(low);
  free(word);
  return total;
}
