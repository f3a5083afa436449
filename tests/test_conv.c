/* conv2d (src/ops/conv.h) against a naive C reference with double accumulation: kernels 1/3/5/7, odd sizes,
 * batch 1 and > 1, input ReLU, residual epilogue (also in place), f16 weights, several tilings, and the
 * splitting of operands over maxStorageBufferRange (forced by lowering the context's limit). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/conv.h"

typedef struct conv_case {
  uint32_t b, cin, cout, h, w, k;
  int relu, residual, f16, in_place; /* in_place: r is y */
  dvk_conv2d_tile tile;              /* wg == 0: the device default */
  VkDeviceSize max_range;            /* 0: the device's; else a lowered maxStorageBufferRange */
} conv_case;

/* y = conv(relu?(x), w) + b, or r + gain * (...); x [B,cin,h,w], w [cout,cin,k,k] (PyTorch layout). */
static void conv_ref(const conv_case *c, float *y, const float *x, const float *w, const float *bias,
                     const float *r, float gain) {
  int pad = (int)c->k / 2;
  for (uint32_t b = 0; b < c->b; b++)
    for (uint32_t co = 0; co < c->cout; co++)
      for (int i = 0; i < (int)c->h; i++)
        for (int j = 0; j < (int)c->w; j++) {
          double acc = bias[co];
          for (uint32_t ci = 0; ci < c->cin; ci++)
            for (int dy = 0; dy < (int)c->k; dy++)
              for (int dx = 0; dx < (int)c->k; dx++) {
                int iy = i + dy - pad, ix = j + dx - pad;
                if (iy < 0 || iy >= (int)c->h || ix < 0 || ix >= (int)c->w) continue;
                double v = x[((b * c->cin + ci) * c->h + iy) * c->w + ix];
                if (c->relu && v < 0) v = 0;
                acc += v * w[((co * c->cin + ci) * c->k + dy) * c->k + dx];
              }
          size_t o = ((b * c->cout + co) * c->h + i) * c->w + j;
          y[o] = (float)(c->residual ? r[o] + gain * acc : acc);
        }
}

static void run_case(th_ctx *t, const conv_case *c) {
  if (!th_case(t, "conv2d B=%u cin=%u cout=%u %ux%u k=%u%s%s%s%s tile=%u/%u/%u%s%s", c->b, c->cin, c->cout, c->h,
               c->w, c->k, c->relu ? " relu" : "", c->residual ? " residual" : "", c->in_place ? "(in place)" : "",
               c->f16 ? " f16" : "", c->tile.wg, c->tile.tp, c->tile.tc, c->tile.texel ? "/texel" : "",
               c->max_range ? " split" : ""))
    return;
  size_t nx = (size_t)c->b * c->cin * c->h * c->w, ny = (size_t)c->b * c->cout * c->h * c->w;
  size_t nw = (size_t)c->cout * c->cin * c->k * c->k;
  float *x = malloc(nx * 4), *w = malloc(nw * 4), *bias = malloc(c->cout * 4), *r = malloc(ny * 4);
  uint64_t wbytes = dvk_conv2d_weight_bytes(c->cout, c->cin, c->k, c->f16);
  float *ref = malloc(ny * 4), *wd = malloc(wbytes);
  uint16_t *wh = malloc(nw * 2), *whd = malloc(wbytes);
  float gain = 0.37f, scale = 1.0f / sqrtf((float)(c->cin * c->k * c->k));
  th_fill_uniform(&t->rng, x, nx, -1, 1);
  th_fill_uniform(&t->rng, w, nw, -scale, scale);
  th_fill_uniform(&t->rng, bias, c->cout, -0.5f, 0.5f);
  th_fill_uniform(&t->rng, r, ny, -1, 1);
  if (c->f16) { /* the reference uses the rounded weights: what remains is accumulation error only */
    for (size_t i = 0; i < nw; i++) wh[i] = th_f32_to_f16(w[i]), w[i] = th_f16_to_f32(wh[i]);
    dvk_conv2d_repack_f16(whd, wh, c->cout, c->cin, c->k);
  } else {
    dvk_conv2d_repack_f32(wd, w, c->cout, c->cin, c->k);
  }
  conv_ref(c, ref, x, w, bias, r, gain);

  dvk_conv2d_params p = {.batch = c->b, .cin = c->cin, .cout = c->cout, .h = c->h, .w = c->w, .k = c->k,
                         .weight_f16 = c->f16, .relu_input = c->relu, .residual = c->residual, .gain = gain,
                         .tile = c->tile.wg ? &c->tile : NULL};
  th_buf dx, dw, db, dr, dy;
  dvk_status s = th_alloc(t, nx * 4, x, &dx);
  if (s == DVK_OK) s = th_alloc(t, wbytes, c->f16 ? (void *)whd : (void *)wd, &dw);
  if (s == DVK_OK) s = th_alloc(t, c->cout * 4, bias, &db);
  if (s == DVK_OK) s = th_alloc(t, ny * 4, c->residual && c->in_place ? r : NULL, &dy);
  if (s == DVK_OK && c->residual && !c->in_place) s = th_alloc(t, ny * 4, r, &dr);
  VkDeviceSize saved = t->ctx->limits.max_storage_range;
  if (s == DVK_OK) {
    if (c->max_range) t->ctx->limits.max_storage_range = c->max_range;
    s = dvk_op_conv2d(t->ctx, &p, dy.t, dx.t, dw.t, db.t, c->residual ? (c->in_place ? dy.t : dr.t) : dy.t);
    if (s == DVK_OK) s = dvk_flush(t->ctx);
    t->ctx->limits.max_storage_range = saved;
  }
  if (s != DVK_OK) th_case_error(t, "conv2d", s);
  else th_check_f32(t, &dy, ref, ny, c->f16 ? 2e-5 : 1e-5);
  free(x), free(w), free(bias), free(r), free(ref), free(wd), free(wh), free(whd);
}

/* A layer that cannot be split is rejected with a message that says why: at most 8 output channels (one
 * padded group) share one y window, here 6 channels of a 16x16 plane = 6 KiB, over 4 KiB bindings. */
static void run_unsplittable_case(th_ctx *t) {
  if (!th_case(t, "conv2d B=1 cin=1 cout=6 16x16 k=1 split: rejected")) return;
  const uint32_t hw = 16 * 16, cout = 6;
  th_buf dx, dw, db, dy;
  dvk_status s = th_alloc(t, hw * 4, NULL, &dx);
  if (s == DVK_OK) s = th_alloc(t, dvk_conv2d_weight_bytes(cout, 1, 1, 0), NULL, &dw);
  if (s == DVK_OK) s = th_alloc(t, cout * 4, NULL, &db);
  if (s == DVK_OK) s = th_alloc(t, cout * hw * 4, NULL, &dy);
  if (s != DVK_OK) {
    th_case_error(t, "alloc", s);
    return;
  }
  dvk_conv2d_params p = {.batch = 1, .cin = 1, .cout = cout, .h = 16, .w = 16, .k = 1, .gain = 1};
  VkDeviceSize saved = t->ctx->limits.max_storage_range;
  t->ctx->limits.max_storage_range = 4096;
  s = dvk_op_conv2d(t->ctx, &p, dy.t, dx.t, dw.t, db.t, dy.t);
  t->ctx->limits.max_storage_range = saved;
  int ok = s == DVK_ERR_INVALID_ARGUMENT && strstr(t->ctx->error, "6 output channels");
  if (!ok) printf("     status %d, message '%s'\n", (int)s, t->ctx->error);
  dvk_discard(t->ctx);
  th_case_done(t, ok, 0, 0);
}

int main(int argc, char **argv) {
  th_ctx t;
  int rc = th_init(&t, argc, argv);
  if (rc) return rc;
  const dvk_conv2d_tile def = {0}, t1 = {8, 1, 1, 0}, t2 = {32, 2, 16, 0}, t3 = {64, 4, 8, 0}, t4 = {16, 4, 4, 1},
                        t5 = {32, 2, 8, 1}, t6 = {64, 4, 8, 1}, t7 = {64, 16, 8, 1}, t8 = {64, 8, 4, 1};
  const conv_case cases[] = {
    /* kernels 1/3/5/7 on the odd shape, batch 1 and 3 */
    {1, 3, 5, 5, 7, 1, 0, 0, 0, 0, def, 0},
    {1, 3, 5, 5, 7, 3, 0, 0, 0, 0, def, 0},
    {1, 3, 5, 5, 7, 7, 0, 0, 0, 0, def, 0},
    {3, 3, 5, 5, 7, 5, 0, 0, 0, 0, def, 0},
    {3, 3, 5, 5, 7, 3, 1, 0, 0, 0, def, 0},
    {3, 3, 5, 5, 7, 7, 1, 1, 0, 0, def, 0},
    /* options: ReLU input, residual (separate r and in place), f16 weights */
    {3, 17, 12, 9, 11, 3, 1, 0, 0, 0, def, 0},
    {3, 17, 12, 9, 11, 3, 1, 1, 0, 0, def, 0},
    {2, 17, 12, 9, 11, 3, 1, 1, 0, 1, def, 0},
    {2, 17, 12, 9, 11, 1, 0, 1, 1, 1, def, 0},
    {3, 17, 13, 9, 11, 3, 1, 0, 1, 0, def, 0},
    {1, 3, 5, 5, 7, 7, 0, 0, 1, 0, def, 0},
    /* tilings, including ragged channel / pixel tiles; texel buffers with x as RGBA32F (w % 4 == 0) or R32F */
    {2, 9, 21, 13, 10, 3, 1, 1, 0, 0, t1, 0},
    {2, 9, 21, 13, 10, 3, 0, 0, 1, 0, t2, 0},
    {2, 9, 21, 13, 10, 1, 1, 0, 0, 0, t3, 0},
    {2, 9, 21, 13, 12, 3, 1, 1, 0, 0, t4, 0},
    {2, 9, 21, 13, 12, 7, 0, 0, 1, 0, t4, 0},
    {2, 9, 21, 13, 10, 5, 1, 0, 1, 0, t5, 0},
    {2, 9, 21, 13, 10, 3, 1, 1, 0, 1, t6, 0},
    /* both CPU defaults, whatever this host picks (dvk_conv2d_default_tile: 16 x 8 with AVX-512, 8 x 4 without) */
    {2, 24, 20, 18, 20, 3, 1, 1, 1, 0, t7, 0},
    {2, 24, 20, 18, 20, 3, 1, 0, 1, 0, t8, 0},
    /* bigger, closer to the small dVAE's shapes */
    {2, 64, 32, 16, 16, 3, 1, 1, 0, 1, def, 0},
    {1, 32, 64, 32, 32, 1, 1, 0, 1, 0, def, 0},
    /* splitting: by images (x per image 9*6*7*4 = 1512 bytes, range 4 KiB), by output channels and by
     * input channels (accumulating into y, also with residual and in place) */
    {5, 9, 7, 6, 7, 3, 1, 0, 0, 0, def, 4096},
    {3, 40, 36, 6, 7, 3, 1, 0, 0, 0, def, 4096},
    {3, 40, 36, 6, 7, 3, 1, 1, 1, 0, def, 4096},
    {2, 40, 36, 6, 7, 1, 0, 1, 0, 1, def, 4096},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) run_case(&t, &cases[i]);
  run_unsplittable_case(&t);
  return th_finish(&t);
}
