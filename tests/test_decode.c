/* dvk_decode_codes (previews of partly sampled images) on a small test model with a reranker (g6):
 * - all codes given: exactly the pixels dvk_generate returns for the same codes;
 * - some codes unsampled (negative): their cells are gray 128, and the rest equals the decode of the codes with
 *   the unsampled ones replaced by the image's most frequent sampled code (computed here independently);
 * - decoding from inside on_step (every row, as the server's previews do) and on_prune (pruning's KV-cache copies
 *   still recorded), with and without pruning, leaves the generation's result byte-identical;
 * - bad arguments: DVK_ERR_INVALID_ARGUMENT naming the problem;
 * - no validation-layer message (ctest sets DVK_VALIDATION=1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "harness.h"

static int failures;
#define CHECK(cond, ...)                    \
  do {                                      \
    if (!(cond)) {                          \
      printf("FAIL %s:%d: ", __FILE__, __LINE__); \
      printf(__VA_ARGS__);                  \
      printf("\n");                         \
      failures++;                           \
    }                                       \
  } while (0)

typedef struct capture {
  dvk_model *m;
  uint32_t n, gg, grid;
  int32_t *codes;      /* [n, gg] sampled so far */
  int decode_each_row; /* 1: decode the partial codes after every row (the server's previews) */
  int decodes;
  dvk_status status;
} capture;

static void decode_now(capture *c) {
  if (c->status != DVK_OK) return;
  dvk_images *im = NULL;
  c->status = dvk_decode_codes(c->m, c->codes, c->n, &im);
  c->decodes += c->status == DVK_OK;
  dvk_images_free(im);
}

static void on_step(void *user, uint32_t step, const float *logits, const int32_t *codes) {
  (void)logits;
  capture *c = user;
  for (uint32_t b = 0; b < c->n; b++) c->codes[(size_t)b * c->gg + step] = codes[b];
  if (c->decode_each_row && (step + 1) % c->grid == 0) decode_now(c);
}

/* Also decodes right after a pruning, while its KV-cache copies are recorded but not yet submitted. */
static void on_prune(void *user, uint32_t step, const uint32_t *src) {
  capture *c = user;
  for (uint32_t b = 0; b < c->n; b++)
    if (src[b] != b) memcpy(c->codes + (size_t)b * c->gg, c->codes + (size_t)src[b] * c->gg, (step + 1) * sizeof *c->codes);
  if (c->decode_each_row) decode_now(c);
}

static dvk_status generate(dvk_model *m, uint64_t prune_rows, uint64_t seed, capture *c, dvk_images **out) {
  dvk_generate_params p = dvk_generate_defaults();
  p.prompt = "red heart";
  p.n_images = c->n;
  p.candidates = c->n;
  p.seed = seed;
  p.prune_rows = prune_rows;
  p.on_step = on_step;
  p.on_step_user = c;
  p.on_prune = on_prune;
  p.on_prune_user = c;
  for (size_t i = 0; i < (size_t)c->n * c->gg; i++) c->codes[i] = -1;
  return dvk_generate(m, &p, out);
}

static int same_pixels(const dvk_images *a, const dvk_images *b) {
  if (a->count != b->count || a->width != b->width || a->height != b->height) return 0;
  for (uint32_t i = 0; i < a->count; i++)
    if (memcmp(a->pixels[i], b->pixels[i], (size_t)a->height * a->stride) != 0) return 0;
  return 1;
}

int main(void) {
  dvk_context *ctx = NULL;
  dvk_model *m = NULL;
  if (th_open_model("g6-full-convclamp-f32.gguf", &ctx, &m) != 0) return 1;
  dvk_model_info info;
  dvk_model_get_info(m, &info);
  const uint32_t n = 4, G = info.grid, gg = G * G, R = info.image_width, cell = R / G, V = info.image_vocab;
  capture c = {.m = m, .n = n, .gg = gg, .grid = G, .codes = malloc((size_t)n * gg * sizeof(int32_t))};
  int32_t *codes = malloc((size_t)n * gg * sizeof *codes), *filled = malloc((size_t)n * gg * sizeof *filled);
  uint32_t *counts = malloc(V * sizeof *counts);
  const uint64_t seed = 20260101;
  printf("seed %llu, model %s: grid %u, %ux%u px\n", (unsigned long long)seed, info.name, G, R, R);

  /* 1. all codes: the generation's own pixels */
  dvk_images *ref = NULL, *dec = NULL;
  dvk_status s = generate(m, DVK_PRUNE_OFF, seed, &c, &ref);
  CHECK(s == DVK_OK, "generation: %s", dvk_last_error(ctx));
  memcpy(codes, c.codes, (size_t)n * gg * sizeof *codes);
  s = dvk_decode_codes(m, codes, n, &dec);
  CHECK(s == DVK_OK && ref && same_pixels(dec, ref), "full codes: decode differs from dvk_generate's pixels (%s)",
        s == DVK_OK ? "pixels" : dvk_last_error(ctx));
  CHECK(dec && dec->count == n && dec->width == R && dec->stride == 3 * R && !dec->scores, "decode's dvk_images fields");
  dvk_images_free(dec);

  /* 2. partial codes: rows >= 2 unsampled, and half of row 2 sampled */
  const uint32_t sampled = 2 * G + G / 2;
  for (uint32_t b = 0; b < n; b++)
    for (uint32_t i = sampled; i < gg; i++) codes[(size_t)b * gg + i] = -1;
  for (uint32_t b = 0; b < n; b++) { /* the reference filler: most frequent sampled code, the lowest on ties */
    memset(counts, 0, V * sizeof *counts);
    for (uint32_t i = 0; i < sampled; i++) counts[codes[(size_t)b * gg + i]]++;
    uint32_t best = 0;
    for (uint32_t k = 1; k < V; k++)
      if (counts[k] > counts[best]) best = k;
    for (uint32_t i = 0; i < gg; i++) filled[(size_t)b * gg + i] = i < sampled ? codes[(size_t)b * gg + i] : (int32_t)best;
  }
  dvk_images *part = NULL, *full = NULL;
  s = dvk_decode_codes(m, codes, n, &part);
  CHECK(s == DVK_OK, "partial decode: %s", dvk_last_error(ctx));
  s = dvk_decode_codes(m, filled, n, &full);
  CHECK(s == DVK_OK, "filled decode: %s", dvk_last_error(ctx));
  for (uint32_t b = 0; part && full && b < n; b++) {
    int gray_ok = 1, rest_ok = 1;
    for (uint32_t y = 0; y < R; y++)
      for (uint32_t x = 0; x < R; x++) {
        const uint32_t code = (y / cell) * G + x / cell;
        const uint8_t *p = part->pixels[b] + (size_t)y * part->stride + 3 * x, *q = full->pixels[b] + (size_t)y * full->stride + 3 * x;
        if (code >= sampled) gray_ok &= p[0] == 128 && p[1] == 128 && p[2] == 128;
        else rest_ok &= memcmp(p, q, 3) == 0;
      }
    CHECK(gray_ok, "image %u: an unsampled cell is not gray 128", b);
    CHECK(rest_ok, "image %u: sampled cells differ from the decode with the most frequent code filled in", b);
  }
  dvk_images_free(part);
  dvk_images_free(full);

  /* 3. decoding inside on_step leaves the result unchanged, without and with pruning */
  const uint64_t prunings[2] = {DVK_PRUNE_OFF, 1ull << 1 | 1ull << 3};
  for (int k = 0; k < 2; k++) {
    dvk_images *plain = NULL, *previewed = NULL;
    c.decode_each_row = 0;
    s = generate(m, prunings[k], seed + 1, &c, &plain);
    CHECK(s == DVK_OK, "plain generation (pruning %d): %s", k, dvk_last_error(ctx));
    c.decode_each_row = 1;
    c.decodes = 0;
    c.status = DVK_OK;
    s = generate(m, prunings[k], seed + 1, &c, &previewed);
    CHECK(s == DVK_OK && c.status == DVK_OK, "generation with decodes in on_step (pruning %d): %s", k, dvk_last_error(ctx));
    CHECK(c.decodes == (int)G + 2 * k, "%d decodes in on_step and on_prune, want %u", c.decodes, G + 2 * k);
    CHECK(plain && previewed && same_pixels(plain, previewed), "decoding in on_step changed the result (pruning %d)", k);
    dvk_images_free(plain);
    dvk_images_free(previewed);
  }

  /* 4. bad arguments */
  dvk_images *bad = NULL;
  s = dvk_decode_codes(m, NULL, 1, &bad);
  CHECK(s == DVK_ERR_INVALID_ARGUMENT && !bad, "NULL codes: status %d", (int)s);
  s = dvk_decode_codes(m, codes, 0, &bad);
  CHECK(s == DVK_ERR_INVALID_ARGUMENT && !bad, "n = 0: status %d", (int)s);
  codes[5] = (int32_t)V;
  s = dvk_decode_codes(m, codes, 1, &bad);
  CHECK(s == DVK_ERR_INVALID_ARGUMENT && !bad && strstr(dvk_last_error(ctx), "codes[5]"), "code = vocab: status %d, '%s'",
        (int)s, dvk_last_error(ctx));

  const unsigned validation = ctx->vk->validation_messages;
  CHECK(validation == 0, "the validation layer reported %u message(s)", validation);
  dvk_images_free(ref);
  free(c.codes);
  free(codes);
  free(filled);
  free(counts);
  dvk_model_free(m);
  dvk_context_destroy(ctx);
  printf("%s (%d failure(s))\n", failures ? "FAIL" : "PASS", failures);
  return failures ? 1 : 0;
}
