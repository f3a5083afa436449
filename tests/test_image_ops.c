/* The dVAE image ops (src/ops/image.h) against C references: 2x nearest upsampling, 2x2 max-pool,
 * the output map (planar f32 and interleaved RGB8) and the code gather; odd sizes, batch 1 and > 1, and
 * the splitting over maxStorageBufferRange (forced by lowering the context's limit). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/image.h"

static void test_upsample(th_ctx *t, uint32_t planes, uint32_t h, uint32_t w, VkDeviceSize range) {
  if (!th_case(t, "upsample2x planes=%u %ux%u%s", planes, h, w, range ? " split" : "")) return;
  size_t nx = (size_t)planes * h * w, ny = nx * 4;
  float *x = malloc(nx * 4), *ref = malloc(ny * 4);
  th_fill_uniform(&t->rng, x, nx, -1, 1);
  for (size_t p = 0; p < planes; p++)
    for (uint32_t i = 0; i < 2 * h; i++)
      for (uint32_t j = 0; j < 2 * w; j++) ref[(p * 2 * h + i) * 2 * w + j] = x[(p * h + i / 2) * w + j / 2];
  th_buf dx, dy;
  dvk_status s = th_alloc(t, nx * 4, x, &dx);
  if (s == DVK_OK) s = th_alloc(t, ny * 4, NULL, &dy);
  if (s == DVK_OK) TH_WITH_RANGE(t, range, dvk_op_upsample2x(t->ctx, dy.t, dx.t, planes, h, w));
  if (s != DVK_OK) th_case_error(t, "upsample2x", s);
  else th_check_f32(t, &dy, ref, ny, 0);
  free(x), free(ref);
}

/* The halving plane ops: subsample 0: 2x2 max-pool; 1: the odd pixels (subsample2x). */
static void test_halve(th_ctx *t, int subsample, uint32_t planes, uint32_t h, uint32_t w, VkDeviceSize range) {
  const char *op = subsample ? "subsample2x" : "maxpool2x2";
  if (!th_case(t, "%s planes=%u %ux%u%s", op, planes, h, w, range ? " split" : "")) return;
  uint32_t oh = h / 2, ow = w / 2;
  size_t nx = (size_t)planes * h * w, ny = (size_t)planes * oh * ow;
  float *x = malloc(nx * 4), *ref = malloc(ny * 4);
  th_fill_uniform(&t->rng, x, nx, -1, 1);
  for (size_t p = 0; p < planes; p++)
    for (uint32_t i = 0; i < oh; i++)
      for (uint32_t j = 0; j < ow; j++) {
        const float *s0 = x + (p * h + 2 * i) * w + 2 * j;
        float m = fmaxf(fmaxf(s0[0], s0[1]), fmaxf(s0[w], s0[w + 1]));
        ref[(p * oh + i) * ow + j] = subsample ? s0[w + 1] : m;
      }
  th_buf dx, dy;
  dvk_status s = th_alloc(t, nx * 4, x, &dx);
  if (s == DVK_OK) s = th_alloc(t, ny * 4, NULL, &dy);
  if (s == DVK_OK)
    TH_WITH_RANGE(t, range, (subsample ? dvk_op_subsample2x : dvk_op_maxpool2x2)(t->ctx, dy.t, dx.t, planes, h, w));
  if (s != DVK_OK) th_case_error(t, op, s);
  else th_check_f32(t, &dy, ref, ny, 0);
  free(x), free(ref);
}

/* unmap_pixels(sigmoid(v)) in double */
static double unmap_ref(float v) {
  double sg = 1.0 / (1.0 + exp(-(double)v));
  double u = (sg - 0.1) / 0.8;
  return u < 0 ? 0 : u > 1 ? 1 : u;
}

static void test_map_planar(th_ctx *t, uint32_t b, uint32_t h, uint32_t w, VkDeviceSize range) {
  if (!th_case(t, "dvae_map_planar B=%u %ux%u%s", b, h, w, range ? " split" : "")) return;
  size_t hw = (size_t)h * w, nx = b * 6 * hw, ny = b * 3 * hw;
  float *x = malloc(nx * 4), *ref = malloc(ny * 4);
  th_fill_uniform(&t->rng, x, nx, -6, 6);
  for (size_t i = 0; i < b; i++)
    for (size_t c = 0; c < 3; c++)
      for (size_t p = 0; p < hw; p++) ref[(i * 3 + c) * hw + p] = (float)unmap_ref(x[(i * 6 + c) * hw + p]);
  th_buf dx, dy;
  dvk_status s = th_alloc(t, nx * 4, x, &dx);
  if (s == DVK_OK) s = th_alloc(t, ny * 4, NULL, &dy);
  if (s == DVK_OK) TH_WITH_RANGE(t, range, dvk_op_dvae_map_planar(t->ctx, dy.t, dx.t, b, h, w));
  if (s != DVK_OK) th_case_error(t, "dvae_map_planar", s);
  else th_check_f32(t, &dy, ref, ny, 1e-5);
  free(x), free(ref);
}

/* Bytes may differ by 1 where v*255 + 0.5 lies within float rounding of an integer. */
static void test_map_rgb8(th_ctx *t, uint32_t b, uint32_t h, uint32_t w, VkDeviceSize range) {
  if (!th_case(t, "dvae_map_rgb8 B=%u %ux%u%s", b, h, w, range ? " split" : "")) return;
  size_t hw = (size_t)h * w, nx = b * 6 * hw, ny = b * hw * 3, ny4 = (ny + 3) & ~(size_t)3;
  float *x = malloc(nx * 4);
  uint8_t *ref = calloc(ny4, 1), *out = malloc(ny4);
  th_fill_uniform(&t->rng, x, nx, -6, 6);
  for (size_t i = 0; i < b; i++)
    for (size_t p = 0; p < hw; p++)
      for (size_t c = 0; c < 3; c++)
        ref[(i * hw + p) * 3 + c] = (uint8_t)floor(unmap_ref(x[(i * 6 + c) * hw + p]) * 255 + 0.5);
  th_buf dx, dy;
  dvk_status s = th_alloc(t, nx * 4, x, &dx);
  if (s == DVK_OK) s = th_alloc(t, ny4, NULL, &dy);
  if (s == DVK_OK) TH_WITH_RANGE(t, range, dvk_op_dvae_map_rgb8(t->ctx, dy.t, dx.t, b, h, w));
  if (s == DVK_OK) s = th_read(t, &dy, out);
  if (s != DVK_OK) {
    th_case_error(t, "dvae_map_rgb8", s);
  } else {
    int maxd = 0;
    for (size_t i = 0; i < ny4; i++) {
      int d = abs((int)out[i] - (int)ref[i]);
      if (d > maxd) maxd = d;
    }
    th_case_done(t, th_guard_ok(t, &dy) && maxd <= 1, maxd, 1);
  }
  free(x), free(ref), free(out);
}

static void test_gather(th_ctx *t, uint32_t b, uint32_t g, uint32_t vocab, uint32_t n_init, int f16, int bad) {
  if (!th_case(t, "dvae_gather B=%u g=%u vocab=%u n_init=%u%s%s", b, g, vocab, n_init, f16 ? " f16" : "",
               bad ? " bad code" : ""))
    return;
  size_t hw = (size_t)g * g, nw = (size_t)vocab * n_init, ny = b * n_init * hw;
  int32_t *codes = malloc(b * hw * 4);
  float *wt = malloc(nw * 4), *bias = malloc(n_init * 4), *ref = malloc(ny * 4), *out = malloc(ny * 4);
  uint16_t *wh = calloc(nw + 1, 2);
  for (size_t i = 0; i < b * hw; i++) codes[i] = (int32_t)(th_rng_u64(&t->rng) % vocab);
  if (bad) codes[hw / 2] = (int32_t)vocab, codes[hw / 3] = -1;
  th_fill_uniform(&t->rng, wt, nw, -1, 1);
  th_fill_uniform(&t->rng, bias, n_init, -1, 1);
  if (f16)
    for (size_t i = 0; i < nw; i++) wh[i] = th_f32_to_f16(wt[i]), wt[i] = th_f16_to_f32(wh[i]);
  for (size_t i = 0; i < b; i++)
    for (size_t c = 0; c < n_init; c++)
      for (size_t p = 0; p < hw; p++) {
        int32_t cd = codes[i * hw + p];
        ref[(i * n_init + c) * hw + p] = cd >= 0 && (uint32_t)cd < vocab ? wt[(size_t)cd * n_init + c] + bias[c] : 0;
      }
  th_buf dc, dw, db, dy;
  size_t wbytes = f16 ? ((nw * 2 + 3) & ~(size_t)3) : nw * 4;
  dvk_status s = th_alloc(t, b * hw * 4, codes, &dc);
  if (s == DVK_OK) s = th_alloc(t, wbytes, f16 ? (void *)wh : (void *)wt, &dw);
  if (s == DVK_OK) s = th_alloc(t, n_init * 4, bias, &db);
  if (s == DVK_OK) s = th_alloc(t, ny * 4, NULL, &dy);
  if (s == DVK_OK) s = dvk_op_dvae_gather(t->ctx, dy.t, dc.t, dw.t, db.t, b, g, vocab, n_init, f16);
  if (s == DVK_OK) s = dvk_flush(t->ctx);
  if (s != DVK_OK) {
    th_case_error(t, "dvae_gather", s);
  } else if (!bad) {
    th_check_f32(t, &dy, ref, ny, 0);
  } else { /* the bad positions must be NaN in every channel, all others exact */
    s = th_read(t, &dy, out);
    int ok = s == DVK_OK;
    for (size_t i = 0; ok && i < b; i++)
      for (size_t c = 0; ok && c < n_init; c++)
        for (size_t p = 0; p < hw; p++) {
          int32_t cd = codes[i * hw + p];
          float o = out[(i * n_init + c) * hw + p];
          if ((cd < 0 || (uint32_t)cd >= vocab) ? !isnan(o) : o != ref[(i * n_init + c) * hw + p]) ok = 0;
        }
    th_case_done(t, ok && th_guard_ok(t, &dy), ok ? 0 : 1, 0);
  }
  free(codes), free(wt), free(bias), free(ref), free(out), free(wh);
}

int main(int argc, char **argv) {
  th_ctx t;
  int rc = th_init(&t, argc, argv);
  if (rc) return rc;
  test_upsample(&t, 1, 1, 1, 0);
  test_upsample(&t, 15, 5, 7, 0);  /* B=3 x C=5 */
  test_upsample(&t, 8, 16, 16, 0);
  test_upsample(&t, 15, 5, 7, 1024);
  test_halve(&t, 0, 1, 2, 2, 0);
  test_halve(&t, 0, 15, 5, 7, 0);   /* odd: last row/column dropped */
  test_halve(&t, 0, 6, 32, 32, 0);
  test_halve(&t, 0, 15, 6, 8, 512);
  test_halve(&t, 1, 1, 2, 2, 0);
  test_halve(&t, 1, 7, 6, 10, 0);
  test_halve(&t, 1, 15, 6, 8, 512);
  test_map_planar(&t, 1, 5, 7, 0);
  test_map_planar(&t, 3, 16, 16, 0);
  test_map_planar(&t, 5, 4, 6, 2048);
  test_map_rgb8(&t, 1, 3, 5, 0);   /* 45 bytes: a partial last word */
  test_map_rgb8(&t, 3, 16, 16, 0);
  test_map_rgb8(&t, 9, 3, 5, 2048); /* h*w odd: chunks of 4 images */
  test_map_rgb8(&t, 5, 4, 6, 2048);
  test_gather(&t, 1, 5, 37, 12, 0, 0);
  test_gather(&t, 3, 16, 512, 128, 0, 0);
  test_gather(&t, 3, 7, 300, 13, 1, 0);
  test_gather(&t, 2, 6, 50, 9, 0, 1);
  return th_finish(&t);
}
