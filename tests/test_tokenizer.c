/* The tokenizers of model files (docs/tokenizer.md):
 * - dalle-vk-bpe-1: every vector of tests/data/tokenizer/vectors.txt (tools/make_tokenizer_vectors.py,
 *   the Python tokenizer) gives exactly the same ids; invalid UTF-8 is rejected;
 * - yttm-bpe: tests/data/tokenizer/yttm/goldens.txt, ids made by YouTokenToMe's own C++ code;
 *   char-bpe: tests/data/tokenizer/charbpe/goldens.txt, ids of the Python reference;
 *   bart-bpe: tests/data/tokenizer/bart/goldens.txt, ids of the Python port of min-dalle's tokenizer
 *   (each loaded from its tokenizer.gguf; tests/data/README.md says how each was made; min-dalle's own
 *   ids: tests/test_tokenizer_bart.c);
 * - the wrapping: prefix + ids + suffix, cut to T, pads text_vocab + j (bart-bpe: dalle.text_pad_id),
 *   and bart-bpe's unconditional row;
 * - malformed tokenizer keys, in GGUF files built in memory: refused with a message naming the key. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"
#include "model/text_tokenizer.h"
#include "model/tokenizer.h"

static int hexval(int c) { return c <= '9' ? c - '0' : (c | 32) - 'a' + 10; }

static uint32_t *read_merges(const char *path, size_t *n) {
  FILE *f = fopen(path, "r");
  if (!f) return NULL;
  size_t cap = 1024;
  uint32_t *m = malloc(cap * 2 * sizeof *m);
  unsigned a, b;
  *n = 0;
  while (m && fscanf(f, "%u %u", &a, &b) == 2) {
    if (*n == cap) m = realloc(m, (cap *= 2) * 2 * sizeof *m);
    if (!m) break;
    m[2 * *n] = a;
    m[2 * *n + 1] = b;
    (*n)++;
  }
  fclose(f);
  return m;
}

static int passed, failed;

static void check(int ok, const char *fmt, ...) {
  if (ok) {
    passed++;
    return;
  }
  failed++;
  va_list ap;
  va_start(ap, fmt);
  printf("FAIL ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
}

/* Parses "hex<TAB>ids" into text (malloc'ed, *len bytes) and want (*n_want ids, capacity cap). */
static char *parse_line(const char *line, size_t *len, int32_t *want, size_t cap, size_t *n_want) {
  const char *tab = strchr(line, '\t');
  if (!tab || line[0] == '#') return NULL;
  *len = (size_t)(tab - line) / 2;
  char *text = malloc(*len + 1);
  for (size_t i = 0; i < *len; i++) text[i] = (char)(hexval(line[2 * i]) * 16 + hexval(line[2 * i + 1]));
  text[*len] = 0;
  *n_want = 0;
  for (const char *p = tab + 1; *p && *p != '\n' && *n_want < cap;) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p) break;
    want[(*n_want)++] = (int32_t)v;
    p = end;
  }
  return text;
}

/* Every golden of DIR/NAME/goldens.txt through the tokenizer of DIR/NAME/tokenizer.gguf. */
static void test_goldens(const char *dir, const char *name, uint32_t text_vocab) {
  char path[1024];
  snprintf(path, sizeof path, "%s/tokenizer/%s/tokenizer.gguf", dir, name);
  gguf_file *f;
  dvk_error err = {""};
  dvk_tokenizer *t = NULL;
  if (gguf_open(path, &f, &err) == DVK_OK) {
    dvk_tokenizer_load(f, text_vocab, 64, &t, &err);
    gguf_close(f);
  }
  check(t != NULL, "%s: %s", path, err.msg);
  if (!t) return;
  snprintf(path, sizeof path, "%s/tokenizer/%s/goldens.txt", dir, name);
  FILE *g = fopen(path, "r");
  check(g != NULL, "cannot read %s", path);
  static char line[1 << 16];
  static int32_t want[1 << 14];
  int cases = 0;
  while (g && fgets(line, sizeof line, g)) {
    size_t len, n_want, n_ids;
    char *text = parse_line(line, &len, want, sizeof want / sizeof *want, &n_want);
    if (!text) continue;
    int32_t *ids;
    dvk_status s = dvk_tokenizer_encode(t, text, len, &ids, &n_ids, &err);
    size_t k = 0;
    while (s == DVK_OK && k < n_ids && k < n_want && ids[k] == want[k]) k++;
    check(s == DVK_OK && n_ids == n_want && k == n_ids, "%s %s line '%.60s': %zu ids, want %zu, first difference at %zu (%s)",
          name, dvk_tokenizer_model(t), line, n_ids, n_want, k, s == DVK_OK ? "ids differ" : err.msg);
    free(ids);
    free(text);
    cases++;
  }
  if (g) fclose(g);
  check(cases > 40, "%s: only %d goldens", name, cases);
  dvk_tokenizer_destroy(t);
}

/* --- GGUF files built in memory: a header, the given keys, no tensors ------------------------------ */
typedef struct buf { unsigned char b[1 << 16]; size_t n; unsigned n_kv; } buf;

static void put(buf *g, const void *p, size_t n) {
  memcpy(g->b + g->n, p, n);
  g->n += n;
}
static void put_u32(buf *g, uint32_t v) { put(g, &v, 4); }
static void put_u64(buf *g, uint64_t v) { put(g, &v, 8); }
static void put_str(buf *g, const char *s, size_t n) {
  put_u64(g, n);
  put(g, s, n);
}
static void key(buf *g, const char *k, uint32_t type) {
  put_str(g, k, strlen(k));
  put_u32(g, type);
  g->n_kv++;
}
static void kv_str(buf *g, const char *k, const char *v) {
  key(g, k, GGUF_TYPE_STRING);
  put_str(g, v, strlen(v));
}
static void kv_u32(buf *g, const char *k, uint32_t v) {
  key(g, k, GGUF_TYPE_UINT32);
  put_u32(g, v);
}
static void kv_arr_u32(buf *g, const char *k, const uint32_t *v, size_t n, uint32_t elem_type) {
  key(g, k, GGUF_TYPE_ARRAY);
  put_u32(g, elem_type);
  put_u64(g, n);
  put(g, v, 4 * n);
}
/* strings separated by '|' ("\\x" escapes are the C compiler's) */
static void kv_arr_str(buf *g, const char *k, const char *bars) {
  key(g, k, GGUF_TYPE_ARRAY);
  put_u32(g, GGUF_TYPE_STRING);
  size_t at = g->n, n = 0;
  put_u64(g, 0);
  for (const char *p = bars;; n++) {
    const char *e = strchr(p, '|');
    size_t l = e ? (size_t)(e - p) : strlen(p);
    put_str(g, p, l);
    if (!e) break;
    p = e + 1;
  }
  n++;
  memcpy(g->b + at, &n, 8);
}

/* Loads the keys written by fill (after "tokenizer.model" = model) with text_vocab 16 (the byte BPE:
 * 300), T 8; returns the status and the message in err. */
static dvk_status load_keys(const char *model, void (*fill)(buf *, int), int variant, dvk_tokenizer **t, dvk_error *err) {
  const uint32_t text_vocab = model && !strcmp(model, "dalle-vk-bpe-1") ? 300 : 16;
  static buf kv, g;
  kv.n = kv.n_kv = 0;
  if (model) kv_str(&kv, "tokenizer.model", model);
  fill(&kv, variant);
  g.n = 0;
  put(&g, "GGUF", 4);
  put_u32(&g, 3);
  put_u64(&g, 0);
  put_u64(&g, kv.n_kv);
  put(&g, kv.b, kv.n);
  while (g.n % 32) g.b[g.n++] = 0;
  gguf_file *f;
  *t = NULL;
  err->msg[0] = 0;
  dvk_status s = gguf_open_memory(g.b, g.n, "keys.gguf", &f, err);
  if (s != DVK_OK) return s;
  s = dvk_tokenizer_load(f, text_vocab, 8, t, err);
  gguf_close(f);
  return s;
}

/* A small valid yttm-bpe model (unk 1, U+2581 4, a 5, b 6; rules 4 5 -> 7, 5 6 -> 8) and, for
 * variant v > 0, one broken key. */
static void yttm_keys(buf *g, int v) {
  uint32_t chars[] = {'a', 5, 'b', 6, 0x2581, 4}, merges[] = {4, 5, 7, 5, 6, 8};
  if (v == 1) chars[2] = 'a';               /* code points not increasing */
  if (v == 2) chars[5] = 5;                 /* id used twice */
  if (v == 3) chars[4] = 'c';               /* no U+2581 */
  if (v == 4) chars[4] = 0xD800;            /* a surrogate */
  if (v == 5) merges[3] = 9;                /* joins an id that does not exist yet */
  if (v == 6) merges[5] = 7;                /* result id reused */
  if (v == 7) merges[3] = 4, merges[4] = 5; /* the pair of rule 0 again */
  if (v == 8) chars[1] = 16;                /* id not below text_vocab */
  kv_arr_u32(g, "tokenizer.yttm.chars", chars, v == 9 ? 5 : 6, GGUF_TYPE_UINT32);
  kv_arr_u32(g, "tokenizer.yttm.merges", merges, 6, v == 10 ? GGUF_TYPE_INT32 : GGUF_TYPE_UINT32);
  if (v != 11) kv_u32(g, "tokenizer.yttm.unk_id", v == 12 ? 99 : 1);
  uint32_t prefix[] = {2, 2, 2, 2, 2, 2, 2, 2}, suffix[] = {v == 13 ? 16u : 3u};
  kv_arr_u32(g, "tokenizer.prefix_ids", prefix, v == 14 ? 8 : 1, v == 15 ? GGUF_TYPE_INT32 : GGUF_TYPE_UINT32);
  kv_arr_u32(g, "tokenizer.suffix_ids", suffix, 1, GGUF_TYPE_UINT32);
}

/* A small valid char-bpe model (merge "a" + "b</w>" -> "ab</w>") and, for v > 0, one broken key. */
static void charbpe_keys(buf *g, int v) {
  const char *tokens = v == 1    ? "[PAD]|[UNK]|a|b|b</w>|ab</w>|a"                   /* "a" twice */
                       : v == 2  ? "[PAD]|[UNK]|a|b|b</w>|ab</w>|\xff"               /* not UTF-8 */
                       : v == 3  ? "[PAD]|[UNK]|a|b|b</w>|ab</w>|"                   /* empty */
                       : v == 11 ? "[PAD]|[UNK]|a|b|b</w>|ab</w>|c|d|e|f|g|h|i|j|k|l|m" /* 17 > text_vocab */
                                 : "[PAD]|[UNK]|a|b|b</w>|ab</w>|a</w>";
  kv_arr_str(g, "tokenizer.charbpe.tokens", tokens);
  uint32_t merges[] = {2, 4, v == 7 ? 2u : 3u, v == 7 ? 4u : 3u};
  if (v == 6) merges[1] = 30;
  kv_arr_u32(g, "tokenizer.charbpe.merges", merges, v == 4 || v == 7 ? 4 : v == 5 ? 3 : 2, GGUF_TYPE_UINT32);
  if (v != 8) kv_str(g, "tokenizer.charbpe.suffix", "</w>");
  kv_u32(g, "tokenizer.charbpe.unk_id", v == 9 ? 7 : 1);
  uint32_t special[] = {0, v == 10 ? 9u : 1u};
  kv_arr_u32(g, "tokenizer.charbpe.special_ids", special, 2, GGUF_TYPE_UINT32);
}

static void byte_bpe_keys(buf *g, int v) {
  uint32_t merges[] = {'a', 'b'};
  kv_arr_u32(g, "tokenizer.bpe.merges", merges, 2, GGUF_TYPE_UINT32);
  kv_u32(g, "tokenizer.bpe.vocab_size", v == 1 ? 258 : 257);
}

/* A small valid bart-bpe model (<s> 0, <pad> 1, </s> 2, <unk> 3, "\u0120" 4, a 5, b 6, "\u0120a" 7, ab 8,
 * c 9; merges "\u0120 a", "a b"; the emoji U+1F431 named "c"; pad 1) and, for v > 0, one broken key. */
static void bart_keys(buf *g, int v) {
  const char *tokens = v == 1    ? "<s>|<pad>|</s>|<unk>|\xc4\xa0|a|b|\xc4\xa0" "a|ab|a"             /* "a" twice */
                       : v == 9  ? "<s>|<pad>|</s>|<unk>|\xc4\xa0|a|b|\xc4\xa0" "a|c|d|e|f|g|h|i|j|ab" /* ab is 16 */
                       : v == 13 ? "<s>|<pad>|</s>|<unk>|\xc4\xa0|x|b|\xc4\xa0" "a|ab|c|d|e|f|g|h|i|a" /* a is 16 */
                                 : "<s>|<pad>|</s>|<unk>|\xc4\xa0|a|b|\xc4\xa0" "a|ab|c";
  if (v == 10) kv_u32(g, "tokenizer.bart.tokens", 1);
  else kv_arr_str(g, "tokenizer.bart.tokens", tokens);
  kv_arr_str(g, "tokenizer.bart.merges", v == 2 ? "\xc4\xa0 a|ab" : v == 3 ? "\xc4\xa0 a|a b c" : "\xc4\xa0 a|a b");
  kv_u32(g, "tokenizer.bart.unk_id", v == 4 ? 16 : 3);
  if (v != 12) kv_arr_str(g, "tokenizer.emoji.sequences", v == 6 ? "\xf0\x9f\x90\xb1|" : "\xf0\x9f\x90\xb1");
  kv_arr_str(g, "tokenizer.emoji.names", v == 5 || v == 6 ? "c|d" : v == 11 ? "\xe2\x82" : "c");
  if (v != 7) kv_u32(g, "dalle.text_pad_id", v == 8 ? 16 : 1);
  const uint32_t prefix[] = {0}, suffix[] = {2};
  kv_arr_u32(g, "tokenizer.prefix_ids", prefix, 1, GGUF_TYPE_UINT32);
  kv_arr_u32(g, "tokenizer.suffix_ids", suffix, 1, GGUF_TYPE_UINT32);
}

static void no_keys(buf *g, int v) { (void)g, (void)v; }

/* Malformed keys: each refused with DVK_ERR_MODEL_FORMAT and a message naming the file and the key. */
static void test_malformed(void) {
  static const struct { const char *model; void (*fill)(buf *, int); int v; const char *key; } cases[] = {
    {NULL, no_keys, 0, "tokenizer.model"},
    {"gpt2", no_keys, 0, "tokenizer.model"},
    {"dalle-vk-bpe-1", byte_bpe_keys, 1, "tokenizer.bpe.vocab_size"},
    {"yttm-bpe", yttm_keys, 1, "tokenizer.yttm.chars"},
    {"yttm-bpe", yttm_keys, 2, "tokenizer.yttm.chars"},
    {"yttm-bpe", yttm_keys, 3, "tokenizer.yttm.chars"},
    {"yttm-bpe", yttm_keys, 4, "tokenizer.yttm.chars"},
    {"yttm-bpe", yttm_keys, 5, "tokenizer.yttm.merges"},
    {"yttm-bpe", yttm_keys, 6, "tokenizer.yttm.merges"},
    {"yttm-bpe", yttm_keys, 7, "tokenizer.yttm.merges"},
    {"yttm-bpe", yttm_keys, 8, "tokenizer.yttm.chars"},
    {"yttm-bpe", yttm_keys, 9, "tokenizer.yttm.chars"},
    {"yttm-bpe", yttm_keys, 10, "tokenizer.yttm.merges"},
    {"yttm-bpe", yttm_keys, 11, "tokenizer.yttm.unk_id"},
    {"yttm-bpe", yttm_keys, 12, "tokenizer.yttm.unk_id"},
    {"yttm-bpe", yttm_keys, 13, "tokenizer.suffix_ids"},
    {"yttm-bpe", yttm_keys, 14, "tokenizer.prefix_ids"},
    {"yttm-bpe", yttm_keys, 15, "tokenizer.prefix_ids"},
    {"char-bpe", charbpe_keys, 1, "tokenizer.charbpe.tokens"},
    {"char-bpe", charbpe_keys, 2, "tokenizer.charbpe.tokens"},
    {"char-bpe", charbpe_keys, 3, "tokenizer.charbpe.tokens"},
    {"char-bpe", charbpe_keys, 4, "tokenizer.charbpe.merges"},
    {"char-bpe", charbpe_keys, 5, "tokenizer.charbpe.merges"},
    {"char-bpe", charbpe_keys, 6, "tokenizer.charbpe.merges"},
    {"char-bpe", charbpe_keys, 7, "tokenizer.charbpe.merges"},
    {"char-bpe", charbpe_keys, 8, "tokenizer.charbpe.suffix"},
    {"char-bpe", charbpe_keys, 9, "tokenizer.charbpe.unk_id"},
    {"char-bpe", charbpe_keys, 10, "tokenizer.charbpe.special_ids"},
    {"char-bpe", charbpe_keys, 11, "tokenizer.charbpe.tokens"},
    {"bart-bpe", bart_keys, 1, "tokenizer.bart.tokens"},
    {"bart-bpe", bart_keys, 2, "tokenizer.bart.merges[1]"},
    {"bart-bpe", bart_keys, 3, "tokenizer.bart.merges[1]"},
    {"bart-bpe", bart_keys, 4, "tokenizer.bart.unk_id"},
    {"bart-bpe", bart_keys, 5, "tokenizer.emoji.names"},
    {"bart-bpe", bart_keys, 6, "tokenizer.emoji.sequences[1]"},
    {"bart-bpe", bart_keys, 7, "dalle.text_pad_id"},
    {"bart-bpe", bart_keys, 8, "dalle.text_pad_id"},
    {"bart-bpe", bart_keys, 9, "tokenizer.bart.merges[1]"},
    {"bart-bpe", bart_keys, 10, "tokenizer.bart.tokens"},
    {"bart-bpe", bart_keys, 11, "tokenizer.emoji.names[0]"},
    {"bart-bpe", bart_keys, 12, "tokenizer.emoji.sequences"},
    {"bart-bpe", bart_keys, 13, "tokenizer.bart.tokens[16]"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    dvk_tokenizer *t;
    dvk_error err;
    dvk_status s = load_keys(cases[i].model, cases[i].fill, cases[i].v, &t, &err);
    check(s == DVK_ERR_MODEL_FORMAT && !t && strstr(err.msg, cases[i].key) && strstr(err.msg, "keys.gguf"),
          "malformed case %zu (%s variant %d) not refused naming '%s': status %d, '%s'", i,
          cases[i].model ? cases[i].model : "no model", cases[i].v, cases[i].key, (int)s, err.msg);
    dvk_tokenizer_destroy(t);
  }
  void (*fills[])(buf *, int) = {byte_bpe_keys, yttm_keys, charbpe_keys, bart_keys}; /* the valid variants load */
  const char *models[] = {"dalle-vk-bpe-1", "yttm-bpe", "char-bpe", "bart-bpe"};
  for (int k = 0; k < 4; k++) {
    dvk_tokenizer *t;
    dvk_error err;
    check(load_keys(models[k], fills[k], 0, &t, &err) == DVK_OK && !strcmp(dvk_tokenizer_model(t), models[k]),
          "valid %s keys refused: %s", models[k], err.msg);
    dvk_tokenizer_destroy(t);
  }
}

/* The small bart-bpe model, T = 8: pads dalle.text_pad_id (1); the unconditional row is [first, last] of
 * the caption row (min-dalle's rule: the last is no </s> when truncation cut it). */
static void test_bart_wrapping(void) {
  dvk_tokenizer *t;
  dvk_error err;
  if (load_keys("bart-bpe", bart_keys, 0, &t, &err) != DVK_OK) {
    check(0, "small bart-bpe model: %s", err.msg);
    return;
  }
  static const struct { const char *prompt; int32_t ids[8], null_ids[8]; uint32_t used, dropped; } cases[] = {
    {"ab", {0, 7, 6, 2, 1, 1, 1, 1}, {0, 2, 1, 1, 1, 1, 1, 1}, 4, 0}, /* "\u0120 a" first, then no "\u0120a b" */
    {"\xf0\x9f\x90\xb1 AB", {0, 4, 9, 7, 6, 2, 1, 1}, {0, 2, 1, 1, 1, 1, 1, 1}, 6, 0}, /* the emoji is "c" */
    {"a a a a a a a", {0, 7, 7, 7, 7, 7, 7, 7}, {0, 7, 1, 1, 1, 1, 1, 1}, 8, 1},          /* </s> cut off */
    {"xA\xe2\x84\xaa", {0, 4, 3, 5, 3, 2, 1, 1}, {0, 2, 1, 1, 1, 1, 1, 1}, 6, 0}, /* x, k: <unk>; Kelvin sign -> k */
    {"", {0, 2, 1, 1, 1, 1, 1, 1}, {0, 2, 1, 1, 1, 1, 1, 1}, 2, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int32_t ids[8], null_ids[8];
    uint32_t used = 99, dropped = 99;
    dvk_status s = dvk_tokenizer_text_ids(t, cases[i].prompt, strlen(cases[i].prompt), ids, &used, &dropped, &err);
    dvk_tokenizer_null_ids(t, ids, used, null_ids);
    check(s == DVK_OK && !memcmp(ids, cases[i].ids, sizeof ids) && !memcmp(null_ids, cases[i].null_ids, sizeof ids) &&
              used == cases[i].used && dropped == cases[i].dropped,
          "bart-bpe wrapping case %zu: status %d, ids %d %d %d %d %d %d %d %d, null %d %d %d, used %u dropped %u", i,
          (int)s, ids[0], ids[1], ids[2], ids[3], ids[4], ids[5], ids[6], ids[7], null_ids[0], null_ids[1],
          null_ids[2], used, dropped);
  }
  dvk_tokenizer_destroy(t);
}

/* prefix + ids + suffix, cut to T = 8, pads 16 + j: on the small yttm-bpe model (prefix [2], suffix [3])
 * and the small char-bpe model (neither). */
static void test_wrapping(void) {
  dvk_tokenizer *t;
  dvk_error err;
  if (load_keys("yttm-bpe", yttm_keys, 0, &t, &err) != DVK_OK) {
    check(0, "small yttm-bpe model: %s", err.msg);
    return;
  }
  static const struct { const char *prompt; int32_t ids[8]; uint32_t used, dropped; } cases[] = {
    {"ab", {2, 7, 6, 3, 20, 21, 22, 23}, 4, 0},     /* U+2581 a b: rule 0 first, then rule 1 is stale */
    {"  AB  b ", {2, 7, 6, 4, 6, 3, 22, 23}, 6, 0}, /* lower-cased and stripped, one word per run */
    {"ab b ab", {2, 7, 6, 4, 6, 7, 6, 3}, 8, 0},    /* exactly T */
    {"ab b ab b", {2, 7, 6, 4, 6, 7, 6, 4}, 8, 2},  /* the eos and one id cut off */
    {"xyz bxa", {2, 4, 1, 4, 6, 1, 5, 3}, 8, 0},    /* a run of unknown characters is one unk */
    {"", {2, 3, 18, 19, 20, 21, 22, 23}, 2, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int32_t ids[8];
    uint32_t used = 99, dropped = 99;
    dvk_status s = dvk_tokenizer_text_ids(t, cases[i].prompt, strlen(cases[i].prompt), ids, &used, &dropped, &err);
    check(s == DVK_OK && !memcmp(ids, cases[i].ids, sizeof ids) && used == cases[i].used && dropped == cases[i].dropped,
          "wrapping '%s': status %d, ids %d %d %d %d %d %d %d %d, used %u dropped %u", cases[i].prompt, (int)s, ids[0],
          ids[1], ids[2], ids[3], ids[4], ids[5], ids[6], ids[7], used, dropped);
  }
  int32_t ids[8];
  uint32_t used, dropped;
  dvk_status s = dvk_tokenizer_text_ids(t, "a\xff" "b", 3, ids, &used, &dropped, &err);
  check(s == DVK_ERR_INVALID_ARGUMENT && strstr(err.msg, "not valid UTF-8"), "invalid UTF-8 accepted by yttm-bpe");
  dvk_tokenizer_destroy(t);
  if (load_keys("char-bpe", charbpe_keys, 0, &t, &err) != DVK_OK) {
    check(0, "small char-bpe model: %s", err.msg);
    return;
  }
  /* "ab</w>", [UNK] (c), [PAD] (matched before lower-casing), "a</w>" (\x01 dropped), [UNK] (b then é) */
  static const int32_t want[8] = {5, 1, 0, 6, 3, 1, 22, 23};
  const char *prompt = "AB c[PAD]a\x01 b\xc3\xa9";
  s = dvk_tokenizer_text_ids(t, prompt, strlen(prompt), ids, &used, &dropped, &err);
  check(s == DVK_OK && !memcmp(ids, want, sizeof ids) && used == 6 && dropped == 0,
        "char-bpe wrapping: status %d, ids %d %d %d %d %d %d %d %d, used %u", (int)s, ids[0], ids[1], ids[2], ids[3],
        ids[4], ids[5], ids[6], ids[7], used);
  dvk_tokenizer_destroy(t);
  test_bart_wrapping();
}

int main(void) {
  const char *dir = getenv("DVK_TEST_DATA");
  char path[1024];
  snprintf(path, sizeof path, "%s/tokenizer/merges.txt", dir ? dir : "tests/data");
  size_t n_merges;
  uint32_t *merges = read_merges(path, &n_merges);
  if (!merges) {
    printf("FAIL cannot read %s\n", path);
    return 1;
  }
  dvk_error err = {""};
  dvk_bpe *bpe;
  if (dvk_bpe_create(merges, n_merges, &bpe, &err) != DVK_OK) {
    printf("FAIL %s\n", err.msg);
    return 1;
  }
  snprintf(path, sizeof path, "%s/tokenizer/vectors.txt", dir ? dir : "tests/data");
  FILE *f = fopen(path, "r");
  if (!f) {
    printf("FAIL cannot read %s\n", path);
    return 1;
  }
  static char line[1 << 16];
  while (fgets(line, sizeof line, f)) {
    char *tab = strchr(line, '\t');
    if (!tab) continue;
    size_t hexlen = (size_t)(tab - line), len = hexlen / 2;
    char *text = malloc(len + 1);
    for (size_t i = 0; i < len; i++) text[i] = (char)(hexval(line[2 * i]) * 16 + hexval(line[2 * i + 1]));
    int32_t want[4096];
    size_t n_want = 0;
    for (char *p = tab + 1; *p && *p != '\n';) {
      char *end;
      long v = strtol(p, &end, 10);
      if (end == p) break;
      want[n_want++] = (int32_t)v;
      p = end;
    }
    int32_t *ids;
    size_t n_ids;
    dvk_status s = dvk_bpe_encode(bpe, text, len, &ids, &n_ids, &err);
    int ok = s == DVK_OK && n_ids == n_want && (n_ids == 0 || memcmp(ids, want, n_ids * sizeof *ids) == 0);
    if (ok) passed++;
    else {
      failed++;
      printf("FAIL input %.*s: got %zu ids, want %zu (%s)\n", (int)(hexlen > 80 ? 80 : hexlen), line, n_ids, n_want,
             s == DVK_OK ? "ids differ" : err.msg);
    }
    free(ids);
    free(text);
  }
  fclose(f);
  /* Invalid UTF-8 is rejected with the offset of the first bad byte. */
  const struct { const char *s; size_t bad; } invalid[] = {
    {"abc\xff", 3}, {"\xc0\xaf", 0}, {"ok \xe2\x82", 3}, {"\xed\xa0\x80", 0}, {"\xf4\x90\x80\x80", 0}, {"\x80", 0}};
  for (size_t i = 0; i < sizeof invalid / sizeof *invalid; i++) {
    int32_t *ids;
    size_t n_ids, bad = 99;
    dvk_status s = dvk_bpe_encode(bpe, invalid[i].s, strlen(invalid[i].s), &ids, &n_ids, &err);
    int ok = s == DVK_ERR_INVALID_ARGUMENT && strstr(err.msg, "not valid UTF-8") && !dvk_utf8_valid(invalid[i].s, strlen(invalid[i].s), &bad) && bad == invalid[i].bad;
    if (ok) passed++;
    else {
      failed++;
      printf("FAIL invalid UTF-8 case %zu accepted or misreported (offset %zu)\n", i, bad);
    }
  }
  /* A merge that refers to a later id is a malformed model. */
  uint32_t bad_merges[] = {97, 98, 300, 97};
  dvk_bpe *b2;
  if (dvk_bpe_create(bad_merges, 2, &b2, &err) == DVK_ERR_MODEL_FORMAT) passed++;
  else { failed++; printf("FAIL a merge using a later id was accepted\n"); }
  dvk_bpe_destroy(bpe);
  free(merges);
  test_goldens(dir ? dir : "tests/data", "yttm", 420);
  test_goldens(dir ? dir : "tests/data", "charbpe", 16384);
  test_goldens(dir ? dir : "tests/data", "bart", 50264);
  test_malformed();
  test_wrapping();
  printf("tokenizer: %zu merges\n%d passed, %d failed\n", n_merges, passed, failed);
  return failed ? 1 : 0;
}
