/* The bart-bpe encoder (bartbpe.h; the steps: docs/tokenizer.md §12). Symbols are interned strings:
 * ids 0..n_tokens-1 are the vocabulary, later ids are merge parts and results that are no token (they
 * still merge as min-dalle's strings do and give the unk id). The demojize table is a prefix tree
 * over code points whose edges live in a dvk_merge_table keyed by (node, code point). */
#include "model/bartbpe.h"

#include <stdlib.h>
#include <string.h>

#include "model/bpe_queue.h"
#include "model/unicode.h"

#define MARKER_UTF8 "\xc4\xa0" /* U+0120, GPT-2's word-start symbol */

struct dvk_bartbpe {
  char *blob;  /* every symbol's bytes, back to back */
  size_t *off; /* symbol i = blob[off[i] .. off[i+1]) */
  uint32_t n_sym, n_tokens, unk_id;
  uint32_t *slots;             /* open addressing over symbols: id + 1, 0 = empty */
  size_t cap;                  /* power of two */
  uint32_t ascii[128], marker; /* symbol of each ASCII character and of U+0120; n_sym = none */
  dvk_merge_table merges;      /* (symbol, symbol) -> rank, joined symbol */
  dvk_merge_table trie;        /* (node, code point) -> child node (in `result`); node 0 = root */
  uint32_t *node_name;         /* per node: 1 + the emoji whose sequence ends there, 0 = none */
  uint32_t *name_cps;          /* emoji i's name = name_cps[name_off[i] .. name_off[i + 1]) */
  size_t *name_off;
};

void dvk_bartbpe_destroy(dvk_bartbpe *t) {
  if (!t) return;
  free(t->blob);
  free(t->off);
  free(t->slots);
  dvk_merge_table_free(&t->merges);
  dvk_merge_table_free(&t->trie);
  free(t->node_name);
  free(t->name_cps);
  free(t->name_off);
  free(t);
}

static size_t hash_of(const char *s, size_t len) {
  uint64_t h = 0x9e3779b97f4a7c15ull;
  for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
  return (size_t)(h ^ (h >> 31));
}

/* The symbol with string s, else (add) a new one, else n_sym. */
static uint32_t intern(dvk_bartbpe *t, const char *s, size_t len, int add) {
  size_t i = hash_of(s, len) & (t->cap - 1);
  for (; t->slots[i]; i = (i + 1) & (t->cap - 1)) {
    uint32_t id = t->slots[i] - 1;
    if (t->off[id + 1] - t->off[id] == len && memcmp(t->blob + t->off[id], s, len) == 0) return id;
  }
  if (!add) return t->n_sym;
  memcpy(t->blob + t->off[t->n_sym], s, len);
  t->off[t->n_sym + 1] = t->off[t->n_sym] + len;
  t->slots[i] = t->n_sym + 1;
  return t->n_sym++;
}

static dvk_status fail(dvk_bartbpe *t, void *tmp) {
  free(tmp);
  dvk_bartbpe_destroy(t);
  return DVK_ERR_MODEL_FORMAT;
}

static dvk_status out_of_memory(dvk_bartbpe *t, void *tmp, dvk_error *err) {
  free(tmp);
  dvk_bartbpe_destroy(t);
  dvk_error_note(err, "out of host memory for the bart-bpe tokenizer");
  return DVK_ERR_OUT_OF_HOST_MEMORY;
}

/* Bytes of the UTF-8 character starting with lead byte c (valid text). */
static size_t char_len(unsigned char c) { return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4; }

/* Python's str.split() of valid UTF-8 s[0..len): the byte ranges of the first two fields in f[0..3], and
 * the number of fields (counted up to 3). */
static int split_fields(const char *s, size_t len, size_t f[4]) {
  int n = 0, in = 0;
  for (size_t i = 0; i < len;) {
    size_t k = char_len((unsigned char)s[i]);
    uint32_t cp;
    dvk_utf8_decode(s + i, k, &cp);
    int space = (dvk_unicode_flags(cp) & DVK_U_PY_SPACE) != 0;
    if (!space && !in) {
      if (n == 2) return 3;
      f[2 * n] = i;
      in = 1;
    } else if (space && in) {
      f[2 * n++ + 1] = i;
      in = 0;
    }
    i += k;
  }
  if (in) f[2 * n++ + 1] = len;
  return n;
}

static dvk_status load_merges(dvk_bartbpe *t, dvk_strings merges, uint32_t text_vocab, dvk_error *err) {
  size_t longest = 0;
  for (size_t r = 0; r < merges.n; r++)
    if (merges.len[r] > longest) longest = merges.len[r];
  char *joined = malloc(longest + 1);
  if (!joined || dvk_merge_table_init(&t->merges, merges.n) != DVK_OK) return out_of_memory(t, joined, err);
  for (size_t r = merges.n; r-- > 0;) { /* last line first: the first put of a pair wins */
    const char *s = merges.s[r];
    size_t len = merges.len[r], bad, f[4];
    if (!dvk_utf8_valid(s, len, &bad) || split_fields(s, len, f) != 2) {
      dvk_error_note(err, "tokenizer.bart.merges[%zu] ('%.*s') is not two symbols separated by a space", r,
                     (int)(len < 40 ? len : 40), s);
      return fail(t, joined);
    }
    const size_t la = f[1] - f[0], lb = f[3] - f[2];
    memcpy(joined, s + f[0], la);
    memcpy(joined + la, s + f[2], lb);
    const uint32_t a = intern(t, s + f[0], la, 1), b = intern(t, s + f[2], lb, 1), ab = intern(t, joined, la + lb, 1);
    if (ab < t->n_tokens && ab >= text_vocab) {
      dvk_error_note(err, "tokenizer.bart.merges[%zu] ('%.*s') makes token %u, not below dalle.text_vocab (%u)", r,
                     (int)(len < 40 ? len : 40), s, ab, text_vocab);
      return fail(t, joined);
    }
    dvk_merge_table_put(&t->merges, a, b, (uint32_t)r, ab);
  }
  free(joined);
  return DVK_OK;
}

static dvk_status load_emoji(dvk_bartbpe *t, dvk_strings seqs, dvk_strings names, dvk_error *err) {
  size_t seq_bytes = 0, name_bytes = 0, bad;
  for (size_t i = 0; i < seqs.n; i++) {
    const int bad_seq = !dvk_utf8_valid(seqs.s[i], seqs.len[i], &bad) || !seqs.len[i];
    if (bad_seq || !dvk_utf8_valid(names.s[i], names.len[i], &bad)) {
      dvk_error_note(err, "tokenizer.emoji.%s[%zu] is %s", bad_seq ? "sequences" : "names", i,
                     bad_seq && !seqs.len[i] ? "empty" : "not valid UTF-8");
      return fail(t, NULL);
    }
    seq_bytes += seqs.len[i];
    name_bytes += names.len[i];
  }
  uint32_t *cps = malloc((seq_bytes + 1) * sizeof *cps);
  t->node_name = calloc(seq_bytes + 1, sizeof *t->node_name);
  t->name_cps = malloc((name_bytes + 1) * sizeof *t->name_cps);
  t->name_off = malloc((seqs.n + 1) * sizeof *t->name_off);
  if (!cps || !t->node_name || !t->name_cps || !t->name_off || dvk_merge_table_init(&t->trie, seq_bytes) != DVK_OK)
    return out_of_memory(t, cps, err);
  uint32_t n_nodes = 1;
  t->name_off[0] = 0;
  for (size_t i = 0; i < seqs.n; i++) {
    const size_t n = dvk_utf8_decode(seqs.s[i], seqs.len[i], cps);
    uint32_t node = 0, rank, child;
    for (size_t k = 0; k < n; k++, node = child)
      if (!dvk_merge_table_get(&t->trie, node, cps[k], &rank, &child))
        dvk_merge_table_put(&t->trie, node, cps[k], 0, child = n_nodes++);
    t->node_name[node] = (uint32_t)i + 1; /* a sequence listed again: its last name */
    t->name_off[i + 1] = t->name_off[i] + dvk_utf8_decode(names.s[i], names.len[i], t->name_cps + t->name_off[i]);
  }
  free(cps);
  return DVK_OK;
}

dvk_status dvk_bartbpe_create(dvk_strings tokens, dvk_strings merges, dvk_strings emoji_seqs, dvk_strings emoji_names,
                              uint32_t unk_id, uint32_t text_vocab, dvk_bartbpe **out, dvk_error *err) {
  *out = NULL;
  if (emoji_seqs.n != emoji_names.n) {
    dvk_error_note(err, "tokenizer.emoji.sequences has %zu entries, tokenizer.emoji.names %zu", emoji_seqs.n,
                   emoji_names.n);
    return DVK_ERR_MODEL_FORMAT;
  }
  if (unk_id >= text_vocab) {
    dvk_error_note(err, "tokenizer.bart.unk_id (%u) is not below dalle.text_vocab (%u)", unk_id, text_vocab);
    return DVK_ERR_MODEL_FORMAT;
  }
  if (tokens.n + 3 * merges.n >= UINT32_MAX / 2) {
    dvk_error_note(err, "tokenizer.bart.tokens and tokenizer.bart.merges have too many entries");
    return DVK_ERR_MODEL_FORMAT;
  }
  size_t bytes = 0, max_sym = tokens.n + 3 * merges.n;
  for (size_t i = 0; i < tokens.n; i++) bytes += tokens.len[i];
  for (size_t r = 0; r < merges.n; r++) bytes += 2 * merges.len[r]; /* two parts and their join */
  dvk_bartbpe *t = calloc(1, sizeof *t);
  if (!t) return out_of_memory(NULL, NULL, err);
  t->cap = 16;
  while (t->cap < 2 * max_sym + 16) t->cap *= 2;
  t->blob = malloc(bytes + 1);
  t->off = malloc((max_sym + 1) * sizeof *t->off);
  t->slots = calloc(t->cap, sizeof *t->slots);
  if (!t->blob || !t->off || !t->slots) return out_of_memory(t, NULL, err);
  t->off[0] = 0;
  t->unk_id = unk_id;
  for (size_t i = 0; i < tokens.n; i++) {
    uint32_t id = intern(t, tokens.s[i], tokens.len[i], 1);
    if (id != i) {
      dvk_error_note(err, "tokenizer.bart.tokens[%zu] ('%.*s') repeats token %u", i,
                     (int)(tokens.len[i] < 40 ? tokens.len[i] : 40), tokens.s[i], id);
      return fail(t, NULL);
    }
  }
  t->n_tokens = (uint32_t)tokens.n;
  dvk_status s = load_merges(t, merges, text_vocab, err);
  if (s != DVK_OK) return s; /* t is freed */
  for (unsigned c = 0; c <= 128; c++) {
    const char ch = (char)c;
    uint32_t *sym = c < 128 ? &t->ascii[c] : &t->marker;
    *sym = c < 128 ? intern(t, &ch, 1, 0) : intern(t, MARKER_UTF8, 2, 0);
    if (*sym < t->n_tokens && *sym >= text_vocab && c != ' ') {
      dvk_error_note(err,
                     "tokenizer.bart.tokens[%u] (character U+%04X, which the encoder reads) is not below "
                     "dalle.text_vocab (%u)",
                     *sym, c < 128 ? c : 0x120u, text_vocab);
      return fail(t, NULL);
    }
  }
  if ((s = load_emoji(t, emoji_seqs, emoji_names, err)) != DVK_OK) return s;
  *out = t;
  return DVK_OK;
}

/* Room for n more code points in *buf (capacity *cap). */
static int reserve(uint32_t **buf, size_t *cap, size_t used, size_t n) {
  if (used + n <= *cap) return 1;
  size_t c = *cap * 2 > used + n ? *cap * 2 : used + n;
  uint32_t *b = realloc(*buf, c * sizeof *b);
  if (!b) return 0;
  *buf = b;
  *cap = c;
  return 1;
}

/* The emoji package's demojize with empty delimiters (bart_bpe.py's demojize): the longest walk down
 * the prefix tree from each position, replaced by the name when it ends a sequence; otherwise the
 * character stays (U+FE0E and U+FE0F go). *out malloc'ed; returns its count, (size_t)-1 out of memory. */
static size_t demojize(const dvk_bartbpe *t, const uint32_t *cps, size_t n, uint32_t **out) {
  size_t cap = n + 16, m = 0;
  uint32_t *o = malloc(cap * sizeof *o);
  for (size_t i = 0; o && i < n;) {
    uint32_t node = 0, rank, child;
    size_t j = i;
    while (j < n && dvk_merge_table_get(&t->trie, node, cps[j], &rank, &child)) node = child, j++;
    if (j > i && t->node_name[node]) {
      const uint32_t e = t->node_name[node] - 1;
      const size_t k = t->name_off[e + 1] - t->name_off[e];
      if (!reserve(&o, &cap, m, k)) goto oom;
      memcpy(o + m, t->name_cps + t->name_off[e], k * sizeof *o);
      m += k;
      i = j;
      continue;
    }
    if (cps[i] != 0xFE0E && cps[i] != 0xFE0F) {
      if (!reserve(&o, &cap, m, 1)) goto oom;
      o[m++] = cps[i];
    }
    i++;
  }
  if (!o) return (size_t)-1;
  *out = o;
  return m;
oom:
  free(o);
  return (size_t)-1;
}

dvk_status dvk_bartbpe_encode(const dvk_bartbpe *t, const char *text, size_t len, int32_t **ids, size_t *n_ids,
                              dvk_error *err) {
  *ids = NULL;
  *n_ids = 0;
  uint32_t *cps = malloc((len + 1) * sizeof *cps), *dem = NULL, *low = NULL, *sym = NULL;
  int32_t *o = NULL;
  size_t n = cps ? dvk_utf8_decode(text, len, cps) : 0, m = cps ? demojize(t, cps, n, &dem) : (size_t)-1, k = 0, no = 0;
  if (m != (size_t)-1 && (low = malloc((2 * m + 1) * sizeof *low)) != NULL) {
    k = dvk_unicode_py_lower(dem, m, low);
    size_t a = 0; /* ASCII only */
    for (size_t i = 0; i < k; i++)
      if (low[i] < 0x80) low[a++] = low[i];
    k = a;
    o = malloc((2 * k + 1) * sizeof *o); /* a word of w characters gives at most w + 1 <= 2 w ids */
    sym = malloc((k + 2) * sizeof *sym);
  }
  for (size_t i = 0; o && sym && i < k;) {
    if (low[i] == ' ') {
      i++;
      continue;
    }
    size_t j = i, w = 1;
    sym[0] = t->marker;
    while (j < k && low[j] != ' ') sym[w++] = t->ascii[low[j++]];
    w = dvk_merge_word(&t->merges, sym, w);
    if (w == (size_t)-1) {
      free(o);
      o = NULL;
      break;
    }
    for (size_t q = 0; q < w; q++) o[no++] = (int32_t)(sym[q] < t->n_tokens ? sym[q] : t->unk_id);
    i = j;
  }
  const int ok = o && sym;
  free(cps);
  free(dem);
  free(low);
  free(sym);
  if (!ok) {
    free(o);
    dvk_error_note(err, "bart-bpe tokenizer: out of host memory");
    return DVK_ERR_OUT_OF_HOST_MEMORY;
  }
  if (no == 0) free(o);
  else *ids = o, *n_ids = no;
  return DVK_OK;
}
