/* LayerNorm (into y, in place, and added to y: the sandwich norm's residual add) and logits read-back against
 * plain C references (double sums). */
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

enum { INTO_Y, IN_PLACE, ADD_TO_Y };

/* offset: a large common offset makes E[x^2] - E[x]^2 lose ~offset^2 * 6e-8 of the variance (0.5% at 300);
 * the two-pass variance only loses the fp32 rounding of the mean itself. */
static void test_layernorm(th_ctx *t, uint32_t rows, uint32_t d, float offset, int mode) {
  static const char *modes[] = {"", " in-place", " add-to-y"};
  const char *variant = t->ctx->limits.subgroup_ops & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT ? "" : " shared-memory";
  if (!th_case(t, "layernorm rows=%u d=%u offset=%g%s%s", rows, d, offset, modes[mode], variant)) return;
  size_t n = (size_t)rows * d;
  float *x = malloc(n * 4), *w = malloc(d * 4), *b = malloc(d * 4), *ref = malloc(n * 4), *y0 = malloc(n * 4);
  for (size_t i = 0; i < n; i++) x[i] = offset + th_rng_normal(&t->rng);
  th_fill_uniform(&t->rng, w, d, 0.5f, 1.5f);
  th_fill_uniform(&t->rng, b, d, -0.5f, 0.5f);
  th_fill_uniform(&t->rng, y0, n, -3, 3); /* the residual a sandwich norm adds to */
  ref_layernorm(ref, x, w, b, rows, d, 1e-5f);
  if (mode == ADD_TO_Y)
    for (size_t i = 0; i < n; i++) ref[i] += y0[i];
  th_buf dx, dw, db, dy;
  dvk_status s = th_alloc(t, n * 4, x, &dx);
  if (s == DVK_OK) s = th_alloc(t, d * 4, w, &dw);
  if (s == DVK_OK) s = th_alloc(t, d * 4, b, &db);
  if (s == DVK_OK && mode != IN_PLACE) s = th_alloc(t, n * 4, mode == ADD_TO_Y ? y0 : NULL, &dy);
  if (mode == IN_PLACE) dy = dx;
  if (s == DVK_OK && mode == ADD_TO_Y) s = dvk_op_layernorm_add(t->ctx, dy.t, dx.t, dw.t, db.t, rows, d, 1e-5f);
  else if (s == DVK_OK) s = dvk_op_layernorm(t->ctx, dy.t, dx.t, dw.t, db.t, rows, d, 1e-5f);
  /* adding a row to itself would read what it writes: refused */
  const int refused = mode != ADD_TO_Y || s != DVK_OK ||
                      dvk_op_layernorm_add(t->ctx, dx.t, dx.t, dw.t, db.t, rows, d, 1e-5f) == DVK_ERR_INVALID_ARGUMENT;
  if (s != DVK_OK) th_case_error(t, "layernorm", s);
  else if (!refused) th_case_done(t, 0, 1, 0);
  else th_check_f32(t, &dy, ref, n, 2e-6 + 1.2e-7 * fabs(offset)); /* fp32 mean: half an ulp of offset */
  free(x), free(w), free(b), free(ref), free(y0);
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
  test_layernorm(&t, 130, 257, -2, IN_PLACE);
  test_layernorm(&t, 1, 3968, 0, ADD_TO_Y);
  test_layernorm(&t, 33, 1000, 300, ADD_TO_Y);
  /* again with subgroup arithmetic hidden, so the shared-memory reduction runs on CPU devices too */
  const uint32_t ops = t.ctx->limits.subgroup_ops;
  t.ctx->limits.subgroup_ops &= ~(uint32_t)VK_SUBGROUP_FEATURE_ARITHMETIC_BIT;
  test_layernorm(&t, 1, 3968, 0, 0);
  test_layernorm(&t, 130, 257, -2, IN_PLACE);
  test_layernorm(&t, 130, 257, -2, ADD_TO_Y);
  t.ctx->limits.subgroup_ops = ops;
  test_read_logits(&t, 1, 10, 0, 10);
  test_read_logits(&t, 4, 16384 + 8192, 16384, 8192);
  test_read_logits(&t, 7, 301, 5, 290);
  return th_finish(&t);
}
