/* The device VQGAN (src/model/vqgan.h), loaded and decoding through the image-decoder interface
 * (src/model/image_codec.h), on a converted upstream checkpoint against the goldens the upstream code
 * computed (tests/data/taming_vqgan, tests/data/README.md; run by tests/test_vqgan.sh), or on a full-size random
 * one against the PyTorch reference's (tools/make_random_vqgan.py --goldens; decoder only, run by
 * tests/test_vqgan_full.sh): decoded pixels (planar f32 and RGB8) within 1/255, the encoder's codes equal
 * and its quant_conv output (vq) or logits (gumbel) close; plus the errors for a file without a VQGAN and for
 * an out-of-range code.
 *
 * Usage: test_vqgan MODEL.gguf GOLDENS.gguf [--seed N] [--filter S] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model/image_codec.h"

typedef struct fixture {
  gguf_file *model, *golden;
  dvk_image_codec codec; /* loaded through the image-decoder interface */
  dvk_vqgan_config cfg;  /* = codec.u.vqgan.cfg */
  dvk_arena *weights;
  int loaded;
} fixture;

/* A golden tensor as f32 with its element count checked. */
static const float *golden(th_ctx *t, const fixture *f, const char *name, uint64_t n) {
  const gguf_tensor *g = gguf_find_tensor(f->golden, name);
  if (!g || g->type != GGUF_TENSOR_F32 || g->n_elements != n) {
    printf("     golden '%s' missing or not f32 of %llu elements\n", name, (unsigned long long)n);
    th_case_done(t, 0, 0, 0);
    return NULL;
  }
  return g->data;
}

static uint32_t image_size(const fixture *f) { return f->codec.image_size; }

static void test_decode(th_ctx *t, fixture *f, int rgb8) {
  if (!th_case(t, "decode %s vs goldens", rgb8 ? "RGB8" : "planar f32")) return;
  const uint32_t G = f->codec.grid, R = image_size(f);
  const uint64_t npx = (uint64_t)3 * R * R;
  const float *gc = golden(t, f, "dec.codes", (uint64_t)G * G), *go = golden(t, f, "dec.output", npx);
  if (!gc || !go) return;
  int32_t *codes = malloc((size_t)G * G * 4);
  float *planar = malloc(npx * 4);
  uint8_t *rgb = malloc(npx);
  for (uint64_t i = 0; i < (uint64_t)G * G; i++) codes[i] = (int32_t)gc[i];
  dvk_status s = dvk_image_codec_decode(t->ctx, t->arena, &f->codec, codes, 1, rgb8 ? rgb : NULL, rgb8 ? NULL : planar, NULL);
  if (s != DVK_OK) {
    th_case_error(t, "dvk_vqgan_decode", s);
  } else {
    const float lo = f->cfg.output_lo, hi = f->cfg.output_hi;
    double maxd = 0;
    for (uint64_t c = 0; c < 3; c++)
      for (uint64_t p = 0; p < (uint64_t)R * R; p++) {
        double ref = (go[c * R * R + p] - lo) / (double)(hi - lo);
        ref = ref < 0 ? 0 : ref > 1 ? 1 : ref;
        double got = rgb8 ? rgb[p * 3 + c] : planar[c * R * R + p];
        double d = rgb8 ? fabs(got - floor(ref * 255 + 0.5)) : fabs(got - ref) * 255;
        if (!(d <= maxd)) maxd = isnan(d) ? INFINITY : d;
      }
    th_case_done(t, maxd <= 1.0, maxd, 1.0); /* in units of 1/255 */
  }
  free(codes), free(planar), free(rgb);
}

static void test_encode(th_ctx *t, fixture *f) {
  if (!gguf_find_tensor(f->golden, "enc.pixels")) return; /* decoder-only goldens */
  if (!th_case(t, "encode vs goldens (%s)", f->cfg.gumbel ? "gumbel" : "vq")) return;
  if (!f->cfg.has_encoder) {
    printf("     the model file has no encoder\n");
    th_case_done(t, 0, 0, 0);
    return;
  }
  const uint32_t G = f->codec.grid, R = image_size(f), E = f->cfg.embed_dim;
  const uint64_t cells = (uint64_t)G * G;
  const float *gp = golden(t, f, "enc.pixels", (uint64_t)3 * R * R), *gc = golden(t, f, "enc.codes", cells);
  /* vq: the quant_conv output h; gumbel: the logits (gumbel_proj of h) */
  const uint64_t nref = (uint64_t)(f->cfg.gumbel ? f->cfg.n_embed : E) * cells;
  const float *gref = golden(t, f, f->cfg.gumbel ? "enc.logits" : "enc.h", nref);
  if (!gp || !gc || !gref) return;
  uint8_t *rgb = malloc((size_t)3 * R * R);
  int32_t *codes = malloc(cells * 4);
  float *h = malloc(E * cells * 4), *logits = malloc((size_t)f->cfg.n_embed * cells * 4);
  for (uint64_t c = 0; c < 3; c++) /* planar [0, 1] multiples of 1/255 -> RGB8 */
    for (uint64_t p = 0; p < (uint64_t)R * R; p++) rgb[p * 3 + c] = (uint8_t)lrint(gp[c * R * R + p] * 255.0);
  dvk_status s = dvk_vqgan_encode(t->ctx, t->arena, &f->codec.u.vqgan, rgb, codes, logits, h);
  if (s != DVK_OK) {
    th_case_error(t, "dvk_vqgan_encode", s);
  } else {
    int same = 1;
    for (uint64_t i = 0; i < cells; i++)
      if (codes[i] != (int32_t)gc[i]) {
        if (same) printf("     cell %llu: code %d, upstream %d\n", (unsigned long long)i, codes[i], (int)gc[i]);
        same = 0;
      }
    double err = th_rel_err(f->cfg.gumbel ? logits : h, gref, nref);
    th_case_done(t, same && err <= 1e-4, err, 1e-4);
  }
  free(rgb), free(codes), free(h), free(logits);
}

static void test_bad_code(th_ctx *t, fixture *f) {
  if (!th_case(t, "decode rejects an out-of-range code")) return;
  const uint32_t G = f->codec.grid, R = image_size(f);
  int32_t *codes = calloc((size_t)G * G, 4);
  uint8_t *rgb = malloc((size_t)3 * R * R);
  codes[G * G - 1] = (int32_t)f->cfg.n_embed;
  dvk_status s = dvk_image_codec_decode(t->ctx, t->arena, &f->codec, codes, 1, rgb, NULL, NULL);
  int ok = s == DVK_ERR_INVALID_ARGUMENT && strstr(t->ctx->error, "outside");
  if (!ok) printf("     status %d, message '%s'\n", (int)s, t->ctx->error);
  th_case_done(t, ok, 0, 0);
  free(codes), free(rgb);
}

/* The goldens file has no vqgan.* keys: the config reader names the file and the key. */
static void test_no_section(th_ctx *t, fixture *f) {
  if (!th_case(t, "config of a file without vqgan.* keys")) return;
  dvk_vqgan_config c;
  dvk_error err = {""};
  dvk_status s = dvk_vqgan_config_read(f->golden, &c, &err);
  int ok = s == DVK_ERR_MODEL_FORMAT && strstr(err.msg, "vqgan.ch") && strstr(err.msg, gguf_name(f->golden));
  if (!ok) printf("     status %d, message '%s'\n", (int)s, err.msg);
  th_case_done(t, ok, 0, 0);
}

/* Opens the files and loads the model into its own arena (the harness resets its arena per case). */
static int setup(th_ctx *t, fixture *f, const char *model, const char *goldens) {
  dvk_error err = {""};
  dvk_status s = gguf_open(model, &f->model, &err);
  if (s == DVK_OK) s = gguf_open(goldens, &f->golden, &err);
  if (s == DVK_OK) s = dvk_arena_create(t->ctx, 0, &f->weights);
  if (s == DVK_OK) {
    dvk_loader L = {.ctx = t->ctx, .arena = f->weights, .file = f->model, .err = &err};
    f->loaded = 1;
    s = dvk_vqgan_config_read(f->model, &f->cfg, &err);
    if (s == DVK_OK) s = dvk_image_codec_load(&L, &f->cfg, NULL, 0, &f->codec);
  }
  if (s != DVK_OK) fprintf(stderr, "test_vqgan: %s\n", err.msg);
  return s == DVK_OK;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL.gguf GOLDENS.gguf [--seed N] [--filter S]\n", argv[0]);
    return 2;
  }
  const char *model = argv[1], *goldens = argv[2];
  argv[2] = argv[0];
  th_ctx t;
  int rc = th_init(&t, argc - 2, argv + 2);
  if (rc) return rc;
  fixture f = {0};
  char rerun[1024]; /* failures print argv0 + options to rerun a case: include the files */
  snprintf(rerun, sizeof rerun, "%s %s %s", argv[0], model, goldens);
  t.argv0 = rerun;
  printf("model %s, goldens %s\n", model, goldens);
  if (setup(&t, &f, model, goldens)) {
    test_decode(&t, &f, 0);
    test_decode(&t, &f, 1);
    test_encode(&t, &f);
    test_bad_code(&t, &f);
    test_no_section(&t, &f);
  } else {
    t.failed++;
  }
  if (f.loaded) dvk_image_codec_free(&f.codec);
  dvk_arena_destroy(f.weights);
  gguf_close(f.model);
  gguf_close(f.golden);
  return th_finish(&t);
}
