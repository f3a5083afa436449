/* The bart-bpe tokenizer (DALL-E Mini / Mega) against min-dalle itself, and its unconditional row:
 * - tests/data/min_dalle/tokenizer.json: the ids kuprel/min-dalle's TextTokenizer gives for odd strings
 *   (<s> + BPE + </s>), through the tokenizer of each GGUF named on the command line (default: the
 *   fixture tests/data/tokenizer/bart/tokenizer.gguf; tests/test_tokenizer_bart.sh adds the file
 *   tools/convert.py dalle-mini writes), caption rows of T = 256 padded with dalle.text_pad_id;
 * - 100 KB prompts (one long word, emoji without spaces, many words, seeded random text): the token
 *   strings of the ids spell "\u0120" + each word of the normalised text, and repeated words give
 *   repeated ids (a quadratic merge loop would run past the test's timeout);
 * - decoder-only files: dvk_tokenizer_null_ids = the empty caption's ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "model/gguf.h"
#include "model/text_tokenizer.h"

enum { T = 256, TEXT_VOCAB = 50264 };

/* The tokenizer of the GGUF at path (NULL after a failed check); the file stays open in *keep when
 * keep is given, else it is closed. */
static dvk_tokenizer *load(const char *path, uint32_t text_vocab, uint32_t text_len, gguf_file **keep) {
  gguf_file *f;
  dvk_error err = {""};
  dvk_tokenizer *t = NULL;
  if (gguf_open(path, &f, &err) == DVK_OK) {
    if (dvk_tokenizer_load(f, text_vocab, text_len, &t, &err) != DVK_OK) t = NULL;
    if (keep && t) *keep = f;
    else gguf_close(f);
  }
  TH_CHECK(t != NULL, "%s: %s", path, err.msg);
  return t;
}

/* Reads the JSON string at *p (after its opening quote) as UTF-8 into out; advances *p past the
 * closing quote; returns the byte count. */
static size_t json_string(const char **p, char *out) {
  size_t n = 0;
  const char *s = *p;
  while (*s && *s != '"') {
    if (*s != '\\') {
      out[n++] = *s++;
      continue;
    }
    s++;
    const char *simple = strchr("\"\\/bfnrt", *s);
    if (simple && *s) {
      out[n++] = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
      s++;
      continue;
    }
    unsigned cp = (unsigned)strtoul((char[5]){s[1], s[2], s[3], s[4], 0}, NULL, 16);
    s += 5;
    if (cp >= 0xD800 && cp < 0xDC00 && s[0] == '\\' && s[1] == 'u') { /* a surrogate pair */
      unsigned lo = (unsigned)strtoul((char[5]){s[2], s[3], s[4], s[5], 0}, NULL, 16);
      cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
      s += 6;
    }
    unsigned char *o = (unsigned char *)out + n;
    if (cp < 0x80) o[0] = (unsigned char)cp, n += 1;
    else if (cp < 0x800) o[0] = (unsigned char)(0xC0 | cp >> 6), o[1] = (unsigned char)(0x80 | (cp & 63)), n += 2;
    else if (cp < 0x10000)
      o[0] = (unsigned char)(0xE0 | cp >> 12), o[1] = (unsigned char)(0x80 | (cp >> 6 & 63)),
      o[2] = (unsigned char)(0x80 | (cp & 63)), n += 3;
    else
      o[0] = (unsigned char)(0xF0 | cp >> 18), o[1] = (unsigned char)(0x80 | (cp >> 12 & 63)),
      o[2] = (unsigned char)(0x80 | (cp >> 6 & 63)), o[3] = (unsigned char)(0x80 | (cp & 63)), n += 4;
  }
  *p = *s ? s + 1 : s;
  return n;
}

/* Every {"text", "ids"} case of tokenizer.json: the caption row is the ids, then pads 1. */
static void test_min_dalle_ids(const dvk_tokenizer *t, const char *json, const char *name) {
  static char text[1 << 14];
  int cases = 0;
  for (const char *p = json; (p = strstr(p, "\"text\"")) != NULL;) {
    p = strchr(p + 6, '"') + 1;
    const size_t len = json_string(&p, text);
    p = strchr(strstr(p, "\"ids\""), '[') + 1;
    int32_t want[T];
    size_t n_want = 0;
    for (char *end; n_want < T; p = end + 1) {
      want[n_want++] = (int32_t)strtol(p, &end, 10);
      while (*end == ' ' || *end == '\n') end++;
      if (*end != ',') break;
    }
    int32_t ids[T];
    uint32_t used = 0, dropped = 0;
    dvk_error err = {""};
    dvk_status s = dvk_tokenizer_text_ids(t, text, len, ids, &used, &dropped, &err);
    size_t k = 0;
    while (k < T && ids[k] == (k < n_want ? want[k] : 1)) k++;
    TH_CHECK(s == DVK_OK && used == n_want && dropped == 0 && k == T,
             "%s: min-dalle case %d ('%.40s'): status %d (%s), %u ids, want %zu, first difference at %zu", name, cases,
             text, (int)s, err.msg, used, n_want, k);
    cases++;
  }
  TH_CHECK(cases >= 20, "%s: only %d cases in tokenizer.json", name, cases);
}

/* The token strings of ids[0..n) joined must equal want[0..want_len). */
static int spells(const gguf_array *tokens, const int32_t *ids, size_t n, const char *want, size_t want_len) {
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    if (ids[i] < 0 || (uint64_t)ids[i] >= tokens->count) return 0;
    const gguf_string *s = gguf_arr_str(tokens, (uint64_t)ids[i]);
    if (at + s->len > want_len || memcmp(want + at, s->s, s->len) != 0) return 0;
    at += (size_t)s->len;
  }
  return at == want_len;
}

/* "\u0120" + each space-separated word of the lower-cased ASCII text. */
static size_t expected_spelling(const char *text, size_t len, char *out) {
  size_t n = 0;
  for (size_t i = 0; i < len; i++) {
    if (text[i] == ' ') continue;
    if (i == 0 || text[i - 1] == ' ') out[n++] = '\xc4', out[n++] = '\xa0';
    out[n++] = text[i] >= 'A' && text[i] <= 'Z' ? (char)(text[i] | 32) : text[i];
  }
  return n;
}

static void test_long(const dvk_tokenizer *t, const gguf_array *tokens, uint64_t seed) {
  enum { LEN = 100000 };
  char *text = malloc(LEN + 1), *want = malloc(4 * LEN);
  int32_t *ids;
  size_t n;
  dvk_error err = {""};
  for (int k = 0; k < 4; k++) {
    size_t len = k == 2 ? LEN - LEN % 12 : LEN, want_len;
    const char *what = k == 0 ? "one 100 KB word" : k == 1 ? "25000 cat faces" : k == 2 ? "repeated words" : "random";
    th_rng rng = {seed};
    for (size_t i = 0; i < len; i++) {
      static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ.,;!?'-_0123456789     ";
      text[i] = k == 0   ? "xyab"[i * i % 7 % 4]
                : k == 1 ? "\xf0\x9f\x90\xb1"[i % 4] /* U+1F431 CAT FACE -> "cat_face" */
                : k == 2 ? "an armchair "[i % 12]
                         : alphabet[th_rng_u64(&rng) % (sizeof alphabet - 1)];
    }
    if (k == 1) {
      for (size_t i = 0; i < LEN / 4; i++) memcpy(want + 2 + 8 * i, "cat_face", 8);
      want[0] = '\xc4', want[1] = '\xa0', want_len = 2 + 2 * LEN;
    } else {
      want_len = expected_spelling(text, len, want);
    }
    dvk_status s = dvk_tokenizer_encode(t, text, len, &ids, &n, &err);
    TH_CHECK(s == DVK_OK && spells(tokens, ids, n, want, want_len),
             "%s (seed %llu): status %d (%s), %zu ids do not spell the words", what, (unsigned long long)seed, (int)s,
             err.msg, n);
    if (k == 2 && s == DVK_OK) { /* "an armchair " 8333 times: the ids of one, repeated */
      int32_t *one;
      size_t n_one, i = 0;
      if (dvk_tokenizer_encode(t, "an armchair", 11, &one, &n_one, &err) == DVK_OK)
        while (i < n && n_one && ids[i] == one[i % n_one]) i++;
      TH_CHECK(n_one && n == n_one * (len / 12) && i == n, "repeated words: %zu ids, first difference at %zu", n, i);
      free(one);
    }
    free(ids);
  }
  free(text);
  free(want);
}

/* Decoder-only files: the unconditional row is the empty caption's, whatever the caption row. */
static void test_null_decoder_only(const char *dir) {
  static const char *const names[] = {"yttm", "charbpe"};
  for (int k = 0; k < 2; k++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tokenizer/%s/tokenizer.gguf", dir, names[k]);
    dvk_tokenizer *t = load(path, 16384, 64, NULL);
    if (!t) continue;
    int32_t caption[64], empty[64], null_ids[64];
    uint32_t used, dropped, u0, d0;
    dvk_error err = {""};
    const char *prompt = "a red heart, oil on canvas";
    int ok = dvk_tokenizer_text_ids(t, prompt, strlen(prompt), caption, &used, &dropped, &err) == DVK_OK &&
             dvk_tokenizer_text_ids(t, "", 0, empty, &u0, &d0, &err) == DVK_OK;
    dvk_tokenizer_null_ids(t, caption, used, null_ids);
    TH_CHECK(ok && !memcmp(null_ids, empty, sizeof empty) && memcmp(caption, empty, sizeof empty),
             "%s: the unconditional row is not the empty caption's (%s)", names[k], err.msg);
    dvk_tokenizer_destroy(t);
  }
}

int main(int argc, char **argv) {
  const char *dir = getenv("DVK_TEST_DATA") ? getenv("DVK_TEST_DATA") : "tests/data";
  char path[1024], fixture[1024];
  snprintf(path, sizeof path, "%s/min_dalle/tokenizer.json", dir);
  FILE *f = fopen(path, "rb");
  static char json[1 << 16];
  size_t n = f ? fread(json, 1, sizeof json - 1, f) : 0;
  if (f) fclose(f);
  TH_CHECK(n > 0 && n < sizeof json - 1, "cannot read %s", path);
  json[n] = 0;
  snprintf(fixture, sizeof fixture, "%s/tokenizer/bart/tokenizer.gguf", dir);
  const uint64_t seed = getenv("DVK_TEST_SEED") ? strtoull(getenv("DVK_TEST_SEED"), NULL, 10) : (uint64_t)time(NULL);
  printf("seed %llu\n", (unsigned long long)seed);
  for (int i = argc > 1 ? 1 : 0; i < (argc > 1 ? argc : 1); i++) {
    const char *model = argc > 1 ? argv[i] : fixture;
    gguf_file *g = NULL;
    dvk_tokenizer *t = load(model, TEXT_VOCAB, T, &g);
    if (!t) continue;
    TH_CHECK(!strcmp(dvk_tokenizer_model(t), "bart-bpe"), "%s: tokenizer %s", model, dvk_tokenizer_model(t));
    test_min_dalle_ids(t, json, model);
    const gguf_array *tokens;
    dvk_error err = {""};
    if (gguf_get_array(g, "tokenizer.bart.tokens", GGUF_TYPE_STRING, &tokens, &err) == DVK_OK)
      test_long(t, tokens, seed);
    dvk_tokenizer_destroy(t);
    gguf_close(g);
  }
  test_null_decoder_only(dir);
  printf("%s\n", th_check_failures ? "FAILED" : "all passed");
  return th_check_failures ? 1 : 0;
}
