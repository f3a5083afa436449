/* LayerNorm and logits read-back against plain C references (double sums). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/logits.h"
#include "ops/norm.h"

static void ref_layernorm(float *y, const float *x, const float *w, const float *b, uint32_t rows, uint32_t d,
                          float eps) {
  for (uint32_t r = 0; r < rows; r++) {
    const float *xr = x + (size_t)r * d;
    double mean = 0, var = 0;
    for (uint32_t c = 0; c < d; c++) mean += xr[c];
    mean /= d;
    for (uint32_t c = 0; c < d; c++) var += (xr[c] - mean) * (xr[c] - mean);
    var /= d;
    double rstd = 1.0 / sqrt(var + eps);
    for (uint32_t c = 0; c < d; c++) y[(size_t)r * d + c] = (float)((xr[c] - mean) * rstd * w[c] + b[c]);
  }
}

/* offset: a large common offset makes E[x^2] - E[x]^2 lose ~offset^2 * 6e-8 of the variance (0.5% at 300);
 * the two-pass variance only loses the fp32 rounding of the mean itself. */
static void test_layernorm(th_ctx *t, uint32_t rows, uint32_t d, float offset, int in_place) {
  const char *variant = t->ctx->limits.subgroup_ops & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT ? "" : " shared-memory";
  if (!th_case(t, "layernorm rows=%u d=%u offset=%g%s%s", rows, d, offset, in_place ? " in-place" : "", variant))
    return;
  size_t n = (size_t)rows * d;
  float *x = malloc(n * 4), *w = malloc(d * 4), *b = malloc(d * 4), *ref = malloc(n * 4);
  for (size_t i = 0; i < n; i++) x[i] = offset + th_rng_normal(&t->rng);
  th_fill_uniform(&t->rng, w, d, 0.5f, 1.5f);
  th_fill_uniform(&t->rng, b, d, -0.5f, 0.5f);
  ref_layernorm(ref, x, w, b, rows, d, 1e-5f);
  th_buf dx, dw, db, dy;
  dvk_status s = th_alloc(t, n * 4, x, &dx);
  if (s == DVK_OK) s = th_alloc(t, d * 4, w, &dw);
  if (s == DVK_OK) s = th_alloc(t, d * 4, b, &db);
  if (s == DVK_OK && !in_place) s = th_alloc(t, n * 4, NULL, &dy);
  if (in_place) dy = dx;
  if (s == DVK_OK) s = dvk_op_layernorm(t->ctx, dy.t, dx.t, dw.t, db.t, rows, d, 1e-5f);
  if (s != DVK_OK) th_case_error(t, "layernorm", s);
  else th_check_f32(t, &dy, ref, n, 2e-6 + 1.2e-7 * fabs(offset)); /* fp32 mean: half an ulp of offset */
  free(x), free(w), free(b), free(ref);
}

/* dvk_read_logits of columns [c0, c0 + n) of rows of `stride` floats: the exact values, nothing outside. */
static void test_read_logits(th_ctx *t, uint32_t rows, uint32_t stride, uint32_t c0, uint32_t n) {
  if (!th_case(t, "read_logits rows=%u stride=%u cols=[%u,+%u)", rows, stride, c0, n)) return;
  size_t total = (size_t)rows * stride;
  float *x = malloc(total * 4), *slice = malloc((size_t)rows * n * 4), *ref = malloc((size_t)rows * n * 4);
  th_fill_uniform(&t->rng, x, total, -5, 5);
  for (uint32_t r = 0; r < rows; r++)
    for (uint32_t c = 0; c < n; c++) ref[(size_t)r * n + c] = x[(size_t)r * stride + c0 + c];
  th_buf dx;
  dvk_status s = th_alloc(t, total * 4, x, &dx);
  if (s == DVK_OK) s = dvk_read_logits(t->ctx, slice, dx.t, rows, stride, c0, n);
  if (s != DVK_OK) {
    th_case_error(t, "read_logits", s);
  } else {
    uint32_t bad = 0;
    for (size_t i = 0; i < (size_t)rows * n; i++) bad += memcmp(&slice[i], &ref[i], 4) != 0;
    th_case_done(t, bad == 0, bad, 0);
  }
  free(x), free(slice), free(ref);
}

int main(int argc, char **argv) {
  th_ctx t;
  int rc = th_init(&t, argc, argv);
  if (rc) return rc;
  test_layernorm(&t, 1, 1, 0, 0);
  test_layernorm(&t, 1, 3968, 0, 0);
  test_layernorm(&t, 5, 77, 0, 0);
  test_layernorm(&t, 33, 1000, 300, 0);
  test_layernorm(&t, 130, 257, -2, 1);
  /* again with subgroup arithmetic hidden, so the shared-memory reduction runs on CPU devices too */
  const uint32_t ops = t.ctx->limits.subgroup_ops;
  t.ctx->limits.subgroup_ops &= ~(uint32_t)VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
  test_layernorm(&t, 1, 3968, 0, 0);
  test_layernorm(&t, 130, 257, -2, 1);
  t.ctx->limits.subgroup_ops = ops;
  test_read_logits(&t, 1, 10, 0, 10);
  test_read_logits(&t, 4, 16384 + 8192, 16384, 8192);
  test_read_logits(&t, 7, 301, 5, 290);
  return th_finish(&t);
}
