/* The VQGAN's ops against C references (double accumulation): GroupNorm (+ swish, in place, batches split over
 * maxStorageBufferRange), the row softmax, the strided activation matmul (plain, transposed operands), the
 * single-head spatial attention and the linear output map (planar f32 and RGB8). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/groupnorm.h"
#include "ops/image.h"
#include "ops/spatial_attn.h"

static void groupnorm_ref(float *y, const float *x, const float *w, const float *b, uint32_t batch, uint32_t c,
                          uint32_t hw, uint32_t groups, float eps, int swish) {
  uint32_t cpg = c / groups;
  size_t n = (size_t)cpg * hw;
  for (size_t gi = 0; gi < (size_t)batch * groups; gi++) {
    const float *xs = x + gi * n;
    double mean = 0, var = 0;
    for (size_t e = 0; e < n; e++) mean += xs[e];
    mean /= (double)n;
    for (size_t e = 0; e < n; e++) var += (xs[e] - mean) * (xs[e] - mean);
    var /= (double)n;
    double rstd = 1.0 / sqrt(var + eps);
    for (size_t e = 0; e < n; e++) {
      size_t ch = (gi % groups) * cpg + e / hw;
      double v = (xs[e] - mean) * rstd * w[ch] + b[ch];
      if (swish) v = v / (1.0 + exp(-v));
      y[gi * n + e] = (float)v;
    }
  }
}

static void test_groupnorm(th_ctx *t, uint32_t batch, uint32_t c, uint32_t hw, uint32_t groups, int swish,
                           int in_place, VkDeviceSize range) {
  if (!th_case(t, "groupnorm B=%u C=%u hw=%u groups=%u%s%s%s", batch, c, hw, groups, swish ? " swish" : "",
               in_place ? " in place" : "", range ? " split" : ""))
    return;
  size_t n = (size_t)batch * c * hw;
  float *x = malloc(n * 4), *ref = malloc(n * 4), *w = malloc(c * 4), *b = malloc(c * 4);
  /* an offset mean, as activations have: the two-pass variance must not lose it */
  th_fill_uniform(&t->rng, x, n, 2.0f, 5.0f);
  th_fill_uniform(&t->rng, w, c, 0.5f, 1.5f);
  th_fill_uniform(&t->rng, b, c, -0.5f, 0.5f);
  const float eps = 1e-6f;
  groupnorm_ref(ref, x, w, b, batch, c, hw, groups, eps, swish);
  th_buf dx, dy, dw, db;
  dvk_status s = th_alloc(t, n * 4, x, &dx);
  if (s == DVK_OK && !in_place) s = th_alloc(t, n * 4, NULL, &dy);
  if (s == DVK_OK) s = th_alloc(t, c * 4, w, &dw);
  if (s == DVK_OK) s = th_alloc(t, c * 4, b, &db);
  const th_buf *out = in_place ? &dx : &dy;
  if (s == DVK_OK) TH_WITH_RANGE(t, range, dvk_op_groupnorm(t->ctx, out->t, dx.t, dw.t, db.t, batch, c, hw, groups, eps, swish));
  if (s != DVK_OK) th_case_error(t, "groupnorm", s);
  else th_check_f32(t, out, ref, n, 1e-5);
  free(x), free(ref), free(w), free(b);
}

static void softmax_ref(float *x, uint32_t rows, uint32_t n) {
  for (uint32_t r = 0; r < rows; r++) {
    float *row = x + (size_t)r * n;
    double m = -INFINITY, s = 0;
    for (uint32_t j = 0; j < n; j++) m = row[j] > m ? row[j] : m;
    for (uint32_t j = 0; j < n; j++) s += exp(row[j] - m);
    for (uint32_t j = 0; j < n; j++) row[j] = (float)(exp(row[j] - m) / s);
  }
}

static void test_softmax(th_ctx *t, uint32_t rows, uint32_t n) {
  if (!th_case(t, "softmax_rows %u x %u", rows, n)) return;
  size_t total = (size_t)rows * n;
  float *x = malloc(total * 4), *ref = malloc(total * 4);
  th_fill_uniform(&t->rng, x, total, -20.0f, 20.0f); /* wide: the max must be subtracted */
  memcpy(ref, x, total * 4);
  softmax_ref(ref, rows, n);
  th_buf dx;
  dvk_status s = th_alloc(t, total * 4, x, &dx);
  if (s == DVK_OK) TH_WITH_RANGE(t, 0, dvk_op_softmax_rows(t->ctx, dx.t, rows, n));
  if (s != DVK_OK) th_case_error(t, "softmax_rows", s);
  else th_check_f32(t, &dx, ref, total, 1e-6);
  free(x), free(ref);
}

/* gemm_strided with a [m, k] either row-major or stored transposed ([k, m]), b [k, n] likewise, c with a row
 * stride ldc > n and an offset (the elements in between must stay as they were). */
static void test_gemm(th_ctx *t, uint32_t m, uint32_t n, uint32_t k, int a_t, int b_t) {
  if (!th_case(t, "gemm_strided m=%u n=%u k=%u a%s b%s", m, n, k, a_t ? "^T" : "", b_t ? "^T" : "")) return;
  const uint32_t a_off = 3, b_off = 5, c_off = 7, ldc = n + 2;
  size_t na = a_off + (size_t)m * k, nb = b_off + (size_t)k * n, nc = c_off + (size_t)m * ldc;
  float *a = malloc(na * 4), *b = malloc(nb * 4), *c = malloc(nc * 4), *ref = malloc(nc * 4);
  th_fill_uniform(&t->rng, a, na, -1, 1);
  th_fill_uniform(&t->rng, b, nb, -1, 1);
  th_fill_uniform(&t->rng, c, nc, -1, 1);
  memcpy(ref, c, nc * 4);
  dvk_gemm_strided g = {.m = m, .n = n, .k = k, .a_off = a_off, .a_si = a_t ? 1 : k, .a_sk = a_t ? m : 1,
                        .b_off = b_off, .b_sk = b_t ? 1 : n, .b_sn = b_t ? k : 1, .c_off = c_off, .ldc = ldc,
                        .alpha = 0.7f};
  for (uint32_t i = 0; i < m; i++)
    for (uint32_t j = 0; j < n; j++) {
      double acc = 0;
      for (uint32_t kk = 0; kk < k; kk++)
        acc += (double)a[a_off + i * g.a_si + kk * g.a_sk] * b[b_off + kk * g.b_sk + j * g.b_sn];
      ref[c_off + (size_t)i * ldc + j] = (float)(0.7 * acc);
    }
  th_buf da, db, dc;
  dvk_status s = th_alloc(t, na * 4, a, &da);
  if (s == DVK_OK) s = th_alloc(t, nb * 4, b, &db);
  if (s == DVK_OK) s = th_alloc(t, nc * 4, c, &dc);
  g.a = da.t, g.b = db.t, g.c = dc.t;
  if (s == DVK_OK) TH_WITH_RANGE(t, 0, dvk_op_gemm_strided(t->ctx, &g));
  if (s != DVK_OK) th_case_error(t, "gemm_strided", s);
  else th_check_f32(t, &dc, ref, nc, 1e-6);
  free(a), free(b), free(c), free(ref);
}

static void test_attention(th_ctx *t, uint32_t c, uint32_t npos) {
  if (!th_case(t, "spatial_attention c=%u npos=%u", c, npos)) return;
  size_t nqkv = (size_t)3 * c * npos, no = (size_t)c * npos;
  float *qkv = malloc(nqkv * 4), *ref = malloc(no * 4);
  double *p = malloc((size_t)npos * sizeof *p);
  th_fill_uniform(&t->rng, qkv, nqkv, -2, 2);
  const float *q = qkv, *k = qkv + no, *v = qkv + 2 * no;
  for (uint32_t i = 0; i < npos; i++) {
    double m = -INFINITY, sum = 0;
    for (uint32_t j = 0; j < npos; j++) {
      double d = 0;
      for (uint32_t ch = 0; ch < c; ch++) d += (double)q[(size_t)ch * npos + i] * k[(size_t)ch * npos + j];
      p[j] = d / sqrt((double)c);
      m = p[j] > m ? p[j] : m;
    }
    for (uint32_t j = 0; j < npos; j++) sum += (p[j] = exp(p[j] - m));
    for (uint32_t ch = 0; ch < c; ch++) {
      double acc = 0;
      for (uint32_t j = 0; j < npos; j++) acc += p[j] / sum * v[(size_t)ch * npos + j];
      ref[(size_t)ch * npos + i] = (float)acc;
    }
  }
  th_buf dqkv, ds, dout;
  dvk_status s = th_alloc(t, nqkv * 4, qkv, &dqkv);
  if (s == DVK_OK) s = th_alloc(t, (size_t)npos * npos * 4, NULL, &ds);
  if (s == DVK_OK) s = th_alloc(t, no * 4, NULL, &dout);
  if (s == DVK_OK) TH_WITH_RANGE(t, 0, dvk_op_spatial_attention(t->ctx, dout.t, dqkv.t, ds.t, c, npos));
  if (s != DVK_OK) th_case_error(t, "spatial_attention", s);
  else th_check_f32(t, &dout, ref, no, 1e-5);
  free(qkv), free(ref), free(p);
}

static void test_linear_map(th_ctx *t, int rgb8, uint32_t b, uint32_t channels, uint32_t h, uint32_t w,
                            VkDeviceSize range) {
  if (!th_case(t, "linear_map %s B=%u channels=%u %ux%u%s", rgb8 ? "rgb8" : "planar", b, channels, h, w,
               range ? " split" : ""))
    return;
  const float lo = -1.0f, hi = 1.5f;
  size_t hw = (size_t)h * w, nx = b * channels * hw, ny = b * 3 * hw, ny4 = (ny + 3) & ~(size_t)3;
  float *x = malloc(nx * 4), *ref = malloc(ny * 4);
  uint8_t *ref8 = calloc(ny4, 1), *out8 = malloc(ny4);
  th_fill_uniform(&t->rng, x, nx, -1.5f, 2.0f); /* beyond [lo, hi] on both sides: clamped */
  for (size_t i = 0; i < b; i++)
    for (size_t c = 0; c < 3; c++)
      for (size_t p = 0; p < hw; p++) {
        double v = (x[(i * channels + c) * hw + p] - lo) / (double)(hi - lo);
        v = v < 0 ? 0 : v > 1 ? 1 : v;
        ref[(i * 3 + c) * hw + p] = (float)v;
        ref8[(i * hw + p) * 3 + c] = (uint8_t)floor(v * 255 + 0.5);
      }
  th_buf dx, dy;
  dvk_status s = th_alloc(t, nx * 4, x, &dx);
  if (s == DVK_OK) s = th_alloc(t, rgb8 ? ny4 : ny * 4, NULL, &dy);
  if (s == DVK_OK) TH_WITH_RANGE(t, range, dvk_op_linear_map(t->ctx, rgb8, dy.t, dx.t, b, channels, h, w, lo, hi));
  if (s == DVK_OK && rgb8) s = th_read(t, &dy, out8);
  if (s != DVK_OK) {
    th_case_error(t, "linear_map", s);
  } else if (!rgb8) {
    th_check_f32(t, &dy, ref, ny, 1e-6);
  } else {
    int maxd = 0;
    for (size_t i = 0; i < ny4; i++) {
      int d = abs((int)out8[i] - (int)ref8[i]);
      if (d > maxd) maxd = d;
    }
    th_case_done(t, th_guard_ok(t, &dy) && maxd <= 1, maxd, 1);
  }
  free(x), free(ref), free(ref8), free(out8);
}

int main(int argc, char **argv) {
  th_ctx t;
  int rc = th_init(&t, argc, argv);
  if (rc) return rc;
  test_groupnorm(&t, 1, 32, 16, 32, 0, 0, 0);   /* one channel per group */
  test_groupnorm(&t, 1, 64, 49, 32, 1, 0, 0);   /* swish, odd plane */
  test_groupnorm(&t, 2, 96, 37, 32, 1, 1, 0);   /* batch 2, in place */
  test_groupnorm(&t, 1, 6, 4096, 3, 0, 0, 0);   /* large groups: long per-lane sums */
  test_groupnorm(&t, 5, 8, 25, 4, 1, 0, 4096);  /* split: 800 bytes per image, 4 KiB windows */
  test_softmax(&t, 1, 1);
  test_softmax(&t, 7, 33);
  test_softmax(&t, 64, 1024);
  test_gemm(&t, 1, 1, 1, 0, 0);
  test_gemm(&t, 13, 9, 17, 0, 0);
  test_gemm(&t, 13, 9, 17, 1, 0);
  test_gemm(&t, 13, 9, 17, 0, 1);
  test_gemm(&t, 64, 70, 33, 1, 1);
  test_attention(&t, 8, 16);
  test_attention(&t, 32, 49);
  test_attention(&t, 64, 256);
  test_linear_map(&t, 0, 1, 3, 5, 7, 0);
  test_linear_map(&t, 0, 2, 8, 4, 4, 0);
  test_linear_map(&t, 1, 1, 3, 3, 5, 0);       /* 45 bytes: a partial last word */
  test_linear_map(&t, 1, 9, 3, 3, 5, 2048);    /* split in chunks of 4 images */
  return th_finish(&t);
}
