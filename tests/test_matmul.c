/* Matmul (src/ops/matmul.h) against a double-accumulation C reference: every kernel (forced, so the
 * GPU kernels are covered on lavapipe too), f32, f16 and q8_0 weights (q8_0 quantised by the tests' own
 * ggml rule, th_q8_quantize, the reference using its decoded values), M = 1 and M > 1, sizes that are
 * multiples of no tile, bias / GELU (erf and tanh) / clamp / accumulate / multiply (GLU), row strides with NaN-filled gaps, one weight
 * larger than maxStorageBufferRange (split into chunks by the op), and the KV-cache append of a QKV
 * projection (its cache rows must equal Y's K and V columns bit for bit, everything else untouched). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/matmul.h"

typedef struct mm_case {
  uint32_t m, n, k;
  dvk_matmul_wtype type;
  dvk_matmul_kernel kernel;
  int bias;
  uint32_t flags;
  uint32_t pad_x, pad_y; /* extra floats per row of X / Y (ldx = k + pad_x, ldy = n + pad_y) */
  uint32_t off;          /* X and Y start this many floats into their buffers (sub-blocks) */
  VkDeviceSize range;    /* maxStorageBufferRange for the op (0: the device's), to force W chunks */
  float clamp;           /* DVK_MATMUL_CLAMP bound */
} mm_case;

static const char *type_name(dvk_matmul_wtype t) {
  return t == DVK_MATMUL_Q8_0 ? "q8_0" : t == DVK_MATMUL_F16 ? "f16" : "f32";
}

/* GELU, tanh form, in double. */
static double gelu_tanh(double v) { return 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))); }

static const char *kernel_name(dvk_matmul_kernel k) {
  switch (k) {
  case DVK_MATMUL_KERNEL_CPU: return "cpu";
  case DVK_MATMUL_KERNEL_GPU_TILED: return "gpu";
  case DVK_MATMUL_KERNEL_GPU_VEC: return "vec";
  default: return "auto";
  }
}

/* Y[m, n] (+)= epilogue(X . W^T + b) in double; w holds the (already f16-rounded) weights, dense [n, k]. */
static void reference(const mm_case *c, const float *x, uint32_t ldx, const float *w, const float *b, float *y,
                      uint32_t ldy) {
  for (uint32_t i = 0; i < c->m; i++)
    for (uint32_t j = 0; j < c->n; j++) {
      double s = 0;
      for (uint32_t q = 0; q < c->k; q++) s += (double)x[(size_t)i * ldx + q] * (double)w[(size_t)j * c->k + q];
      if (b) s += b[j];
      if (c->flags & DVK_MATMUL_GELU) s = 0.5 * s * (1.0 + erf(s / sqrt(2.0)));
      if (c->flags & DVK_MATMUL_GELU_TANH) s = gelu_tanh(s);
      if (c->flags & DVK_MATMUL_CLAMP) s = fmin(fmax(s, -c->clamp), c->clamp);
      float *o = &y[(size_t)i * ldy + j];
      *o = (float)((c->flags & DVK_MATMUL_ACCUMULATE) ? *o + s : (c->flags & DVK_MATMUL_MULTIPLY) ? *o * s : s);
    }
}

static void run_case(th_ctx *t, const mm_case *c) {
  const uint32_t ldx = c->k + c->pad_x, ldy = c->n + c->pad_y;
  if (!th_case(t, "%s %s m=%u n=%u k=%u%s%s%s%s%s%s ldx=%u ldy=%u off=%u range=%llu", kernel_name(c->kernel),
               type_name(c->type), c->m, c->n, c->k, c->bias ? " bias" : "",
               (c->flags & DVK_MATMUL_GELU) ? " gelu" : "", (c->flags & DVK_MATMUL_GELU_TANH) ? " gelu-tanh" : "",
               (c->flags & DVK_MATMUL_CLAMP) ? " clamp" : "", (c->flags & DVK_MATMUL_ACCUMULATE) ? " acc" : "",
               (c->flags & DVK_MATMUL_MULTIPLY) ? " mul" : "", ldx,
               ldy, c->off, (unsigned long long)c->range))
    return;
  const size_t nx = (size_t)(c->m - 1) * ldx + c->k, ny = (size_t)(c->m - 1) * ldy + c->n;
  const size_t nw = (size_t)c->n * c->k;
  float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc((size_t)c->n * 4), *y0 = malloc(ny * 4),
        *ref = malloc(ny * 4);
  uint16_t *wh = malloc(nw * 2);
  uint8_t *wq = malloc(nw / 32 * 34 + 1);
  const uint32_t nan_bits = TH_SENTINEL;
  float nan;
  memcpy(&nan, &nan_bits, 4);
  for (size_t i = 0; i < nx; i++) x[i] = (i % ldx < c->k) ? th_rng_uniform(&t->rng, -1, 1) : nan; /* gaps: NaN */
  const float ws = 1.0f / sqrtf((float)c->k); /* keeps |Y| ~ 1, where GELU is curved */
  th_fill_uniform(&t->rng, w, nw, -2 * ws, 2 * ws);
  th_fill_uniform(&t->rng, b, c->n, -1, 1);
  th_fill_uniform(&t->rng, y0, ny, -1, 1); /* also the gaps between Y rows, which must stay as they are;
                                              MULTIPLY: the other GLU branch */
  if (c->type == DVK_MATMUL_F16)
    for (size_t i = 0; i < nw; i++) wh[i] = th_f32_to_f16(w[i]), w[i] = th_f16_to_f32(wh[i]);
  if (c->type == DVK_MATMUL_Q8_0) th_q8_quantize(w, nw, wq, w); /* the reference uses the decoded d * q */
  memcpy(ref, y0, ny * 4);
  reference(c, x, ldx, w, c->bias ? b : NULL, ref, ldy);

  th_buf dx, db, dy;
  dvk_matmul_weight wt;
  /* f16 cases alternate between uploading halves and letting the op convert floats */
  const int from_halves = c->type == DVK_MATMUL_F16 && (c->k & 1);
  /* X and Y live `off` floats into their buffers; before them X holds NaN, Y 7.0, which must stay */
  float *xo = malloc((c->off + nx) * 4), *yo = malloc((c->off + ny) * 4), *refo = malloc((c->off + ny) * 4);
  for (uint32_t i = 0; i < c->off; i++) xo[i] = nan, yo[i] = refo[i] = 7.0f;
  memcpy(xo + c->off, x, nx * 4), memcpy(yo + c->off, y0, ny * 4), memcpy(refo + c->off, ref, ny * 4);
  dvk_status s = th_alloc(t, (c->off + nx) * 4, xo, &dx);
  if (s == DVK_OK) s = th_alloc(t, (size_t)c->n * 4, b, &db);
  if (s == DVK_OK) s = th_alloc(t, (c->off + ny) * 4, yo, &dy);
  if (s == DVK_OK && c->type == DVK_MATMUL_Q8_0)
    s = dvk_matmul_weight_upload(t->ctx, t->arena, c->type, c->n, c->k, wq, DVK_MATMUL_Q8_0, &wt);
  else if (s == DVK_OK)
    s = dvk_matmul_weight_upload(t->ctx, t->arena, c->type, c->n, c->k, from_halves ? (const void *)wh : w,
                                 from_halves ? DVK_MATMUL_F16 : DVK_MATMUL_F32, &wt);
  if (s == DVK_OK) {
    dvk_tensor xt = dvk_tensor_slice(dx.t, (VkDeviceSize)c->off * 4, nx * 4);
    dvk_tensor yt = dvk_tensor_slice(dy.t, (VkDeviceSize)c->off * 4, ny * 4);
    dvk_matmul_desc d = {.m = c->m, .x = xt, .ldx = ldx, .w = &wt, .bias = c->bias ? &db.t : NULL, .y = yt,
                         .ldy = ldy, .flags = c->flags, .clamp = c->clamp, .kernel = c->kernel};
    TH_WITH_RANGE(t, c->range, dvk_op_matmul_ex(t->ctx, &d));
  }
  if (s != DVK_OK) th_case_error(t, "matmul", s);
  else th_check_f32(t, &dy, refo, c->off + ny, 1e-5);
  free(x), free(w), free(b), free(y0), free(ref), free(wh), free(wq), free(xo), free(yo), free(refo);
}

/* The op must reject what it cannot do, with a message. */
static void test_errors(th_ctx *t) {
  if (!th_case(t, "errors")) return;
  float wf[8 * 4] = {0};
  dvk_matmul_weight wt;
  th_buf dx, dy;
  dvk_status s = dvk_matmul_weight_upload(t->ctx, t->arena, DVK_MATMUL_F32, 8, 4, wf, DVK_MATMUL_F32, &wt);
  if (s == DVK_OK) s = th_alloc(t, 16 * 4, NULL, &dx);
  if (s == DVK_OK) s = th_alloc(t, 16 * 8, NULL, &dy);
  if (s != DVK_OK) {
    th_case_error(t, "setup", s);
    return;
  }
  int ok = 1;
  ok &= dvk_op_matmul(t->ctx, dy.t, dx.t, &wt, NULL, 0, 0) == DVK_ERR_INVALID_ARGUMENT;      /* m = 0 */
  ok &= dvk_op_matmul(t->ctx, dy.t, dx.t, &wt, NULL, 5, 0) == DVK_ERR_INVALID_ARGUMENT;      /* X too small */
  dvk_matmul_desc d = {.m = 2, .x = dx.t, .ldx = 3, .w = &wt, .y = dy.t};                     /* ldx < k */
  ok &= dvk_op_matmul_ex(t->ctx, &d) == DVK_ERR_INVALID_ARGUMENT;
  d = (dvk_matmul_desc){.m = 9, .x = dx.t, .w = &wt, .y = dy.t, .kernel = DVK_MATMUL_KERNEL_GPU_VEC};
  ok &= dvk_op_matmul_ex(t->ctx, &d) == DVK_ERR_INVALID_ARGUMENT;                           /* vec, m > 8 */
  dvk_matmul_weight wq;
  uint8_t blocks[4 * 34] = {0};
  ok &= dvk_matmul_weight_upload(t->ctx, t->arena, DVK_MATMUL_Q8_0, 4, 8, blocks, DVK_MATMUL_Q8_0, &wq) ==
        DVK_ERR_INVALID_ARGUMENT; /* q8_0 with k not a multiple of 32 */
  ok &= dvk_matmul_weight_upload(t->ctx, t->arena, DVK_MATMUL_Q8_0, 1, 32, wf, DVK_MATMUL_F32, &wq) ==
        DVK_ERR_INVALID_ARGUMENT; /* q8_0 from floats */
  dvk_matmul_weight bad = wt;
  bad.type = DVK_MATMUL_Q8_0; /* a q8_0 weight of k = 4 (not whole blocks) */
  ok &= dvk_op_matmul(t->ctx, dy.t, dx.t, &bad, NULL, 2, 0) == DVK_ERR_INVALID_ARGUMENT;
  d = (dvk_matmul_desc){.m = 2, .x = dx.t, .w = &wt, .y = dy.t, .flags = DVK_MATMUL_GELU | DVK_MATMUL_GELU_TANH};
  ok &= dvk_op_matmul_ex(t->ctx, &d) == DVK_ERR_INVALID_ARGUMENT;                           /* two GELUs */
  d = (dvk_matmul_desc){.m = 2, .x = dx.t, .w = &wt, .y = dy.t, .flags = DVK_MATMUL_CLAMP};
  ok &= dvk_op_matmul_ex(t->ctx, &d) == DVK_ERR_INVALID_ARGUMENT;                           /* clamp bound 0 */
  d = (dvk_matmul_desc){.m = 2, .x = dx.t, .w = &wt, .y = dy.t, .flags = DVK_MATMUL_ACCUMULATE | DVK_MATMUL_MULTIPLY};
  ok &= dvk_op_matmul_ex(t->ctx, &d) == DVK_ERR_INVALID_ARGUMENT;                           /* add and multiply */
  th_case_done(t, ok, 0, 0);
}

/* A weight over maxStorageBufferRange: f32 [8448, 4096] = 138 MB on lavapipe's 128 MiB range. */
static void test_large(th_ctx *t) {
  const uint32_t m = 2, k = 4096;
  uint32_t n = 8448;
  const VkDeviceSize range = t->ctx->limits.max_storage_range;
  while (dvk_matmul_weight_bytes(DVK_MATMUL_F32, n, k) <= range) n += 1024; /* exceed larger ranges too */
  if (dvk_matmul_weight_bytes(DVK_MATMUL_F32, n, k) > ((VkDeviceSize)1 << 30)) {
    if (th_case(t, "large f32 (skipped: maxStorageBufferRange %llu is too large to exceed cheaply)",
                (unsigned long long)range))
      th_case_done(t, 1, 0, 0);
    return;
  }
  mm_case c = {.m = m, .n = n, .k = k, .type = DVK_MATMUL_F32, .bias = 1};
  run_case(t, &c);
}

/* The GELU the model runs: the matmul epilogue (bias, then GELU) against libm's erf. W is the identity
 * (rows of 0 and 1, exact in f16 too), so the pre-activation v = fl(x + b) is exact on both sides and
 * only the epilogue is measured. |x| is log-uniform in [1e-3, 1e2], either sign: the tails where erf
 * saturates and GELU(v) -> v or -> 0 are covered. Per element, |out - ref| <= 0.5 |v| E + 2^-23 |ref|:
 * E = 1.5e-7 (the erf approximation) + 4.5e-7 (about 8 f32 roundings of values <= 2 in its evaluation),
 * and the last term the rounding of the product. */
static void test_gelu_epilogue(th_ctx *t, uint32_t m, uint32_t n, dvk_matmul_wtype type, dvk_matmul_kernel kernel,
                               uint32_t flag) {
  const int tanh_form = flag == DVK_MATMUL_GELU_TANH;
  if (!th_case(t, "gelu%s epilogue %s %s m=%u n=%u", tanh_form ? "-tanh" : "", kernel_name(kernel),
               type == DVK_MATMUL_F16 ? "f16" : "f32", m, n))
    return;
  const size_t nx = (size_t)m * n;
  float *x = malloc(nx * 4), *w = calloc((size_t)n * n, 4), *b = malloc((size_t)n * 4), *out = malloc(nx * 4);
  for (size_t i = 0; i < nx; i++) {
    float mag = powf(10.0f, th_rng_uniform(&t->rng, -3, 2));
    x[i] = th_rng_uniform(&t->rng, -1, 1) < 0 ? -mag : mag;
  }
  for (uint32_t j = 0; j < n; j++) w[(size_t)j * n + j] = 1.0f;
  th_fill_uniform(&t->rng, b, n, -1, 1);
  th_buf dx, db, dy;
  dvk_matmul_weight wt;
  dvk_status s = th_alloc(t, nx * 4, x, &dx);
  if (s == DVK_OK) s = th_alloc(t, (size_t)n * 4, b, &db);
  if (s == DVK_OK) s = th_alloc(t, nx * 4, NULL, &dy);
  if (s == DVK_OK) s = dvk_matmul_weight_upload(t->ctx, t->arena, type, n, n, w, DVK_MATMUL_F32, &wt);
  if (s == DVK_OK) {
    dvk_matmul_desc d = {.m = m, .x = dx.t, .w = &wt, .bias = &db.t, .y = dy.t, .flags = flag, .kernel = kernel};
    s = dvk_op_matmul_ex(t->ctx, &d);
  }
  if (s == DVK_OK) s = dvk_flush(t->ctx);
  if (s == DVK_OK) s = th_read(t, &dy, out);
  if (s != DVK_OK) {
    th_case_error(t, "matmul gelu", s);
  } else {
    double worst = 0; /* largest |out - ref| / bound */
    for (size_t i = 0; i < nx; i++) {
      const float v = x[i] + b[i % n]; /* what the kernel adds: an f32 sum */
      const double ref = tanh_form ? gelu_tanh(v) : 0.5 * v * (1.0 + erf(v / sqrt(2.0)));
      /* erf: A&S 7.1.26 (1.5e-7) + f32 rounding; tanh through exp: a few ulp of 1 in (1 - e) / (1 + e) */
      const double bound = 0.5 * fabs(v) * (tanh_form ? 1e-6 : 1.5e-7 + 4.5e-7) + 0x1p-23 * fabs(ref) + 1e-30;
      const double r = isfinite(out[i]) ? fabs(out[i] - ref) / bound : INFINITY;
      if (!(r <= worst)) worst = r;
    }
    th_case_done(t, th_guard_ok(t, &dy) && worst <= 1.0, worst, 1.0);
  }
  free(x), free(w), free(b), free(out);
}

/* QKV projection with the KV append (dvk_matmul_kv): Y against the reference, the cache rows of positions
 * p0 .. p0+nq-1 of sequences < batch equal to Y's k and v columns bit for bit (what dvk_op_kv_append would
 * copy), every other cache element (other positions, and a sequence past batch) unchanged. */
static void test_kv_append(th_ctx *t, dvk_matmul_kernel kernel, dvk_matmul_wtype type, uint32_t batch, uint32_t nq,
                           uint32_t p0) {
  const uint32_t heads = 3, dh = 8, dm = heads * dh, k = 40, s_max = p0 + nq + 2, m = batch * nq, n = 3 * dm;
  if (!th_case(t, "kv append %s %s batch=%u nq=%u p0=%u", kernel_name(kernel), type == DVK_MATMUL_F16 ? "f16" : "f32",
               batch, nq, p0))
    return;
  const size_t n_cache = (size_t)(batch + 1) * heads * s_max * dh;
  mm_case c = {.m = m, .n = n, .k = k, .type = type, .kernel = kernel, .bias = 1};
  float *x = malloc((size_t)m * k * 4), *w = malloc((size_t)n * k * 4), *b = malloc(n * 4),
        *ref = calloc((size_t)m * n, 4), *y = malloc((size_t)m * n * 4), *ck0 = malloc(n_cache * 4),
        *cv0 = malloc(n_cache * 4), *ck = malloc(n_cache * 4), *cv = malloc(n_cache * 4);
  th_fill_uniform(&t->rng, x, (size_t)m * k, -1, 1);
  th_fill_uniform(&t->rng, w, (size_t)n * k, -0.3f, 0.3f);
  th_fill_uniform(&t->rng, b, n, -1, 1);
  th_fill_uniform(&t->rng, ck0, n_cache, -1, 1);
  th_fill_uniform(&t->rng, cv0, n_cache, -1, 1);
  if (type == DVK_MATMUL_F16)
    for (size_t i = 0; i < (size_t)n * k; i++) w[i] = th_f16_to_f32(th_f32_to_f16(w[i]));
  reference(&c, x, k, w, b, ref, n);
  th_buf dx, db, dy, dk, dv;
  dvk_matmul_weight wt;
  dvk_status s = th_alloc(t, (size_t)m * k * 4, x, &dx);
  if (s == DVK_OK) s = th_alloc(t, n * 4, b, &db);
  if (s == DVK_OK) s = th_alloc(t, (size_t)m * n * 4, NULL, &dy);
  if (s == DVK_OK) s = th_alloc(t, n_cache * 4, ck0, &dk);
  if (s == DVK_OK) s = th_alloc(t, n_cache * 4, cv0, &dv);
  if (s == DVK_OK) s = dvk_matmul_weight_upload(t->ctx, t->arena, type, n, k, w, DVK_MATMUL_F32, &wt);
  if (s == DVK_OK) {
    const dvk_kv_cache cache =
      {.k = dk.t, .v = dv.t, .batch = batch + 1, .n_heads = heads, .s_max = s_max, .d_head = dh};
    const dvk_matmul_kv kv = {.cache = &cache, .batch = batch, .nq = nq, .p0 = p0};
    dvk_matmul_desc d = {.m = m, .x = dx.t, .w = &wt, .bias = &db.t, .y = dy.t, .kernel = kernel, .kv = &kv};
    s = dvk_op_matmul_ex(t->ctx, &d);
  }
  if (s == DVK_OK) s = dvk_flush(t->ctx);
  if (s == DVK_OK) s = th_read(t, &dy, y);
  if (s == DVK_OK) s = th_read(t, &dk, ck);
  if (s == DVK_OK) s = th_read(t, &dv, cv);
  if (s != DVK_OK) {
    th_case_error(t, "matmul kv append", s);
  } else {
    /* expected cache: the old one with the appended rows copied from the device's own Y */
    for (uint32_t r = 0; r < m; r++)
      for (uint32_t col = 0; col < 2 * dm; col++) {
        const uint32_t e = col % dm, seq = r / nq, pos = p0 + r % nq;
        const size_t at = (((size_t)seq * heads + e / dh) * s_max + pos) * dh + e % dh;
        (col < dm ? ck0 : cv0)[at] = y[(size_t)r * n + dm + col];
      }
    const int same = memcmp(ck, ck0, n_cache * 4) == 0 && memcmp(cv, cv0, n_cache * 4) == 0;
    const double err = th_rel_err(y, ref, (size_t)m * n);
    th_case_done(t, same && th_guard_ok(t, &dk) && th_guard_ok(t, &dv) && err <= 1e-5, same ? err : INFINITY, 1e-5);
  }
  free(x), free(w), free(b), free(ref), free(y), free(ck0), free(cv0), free(ck), free(cv);
}

int main(int argc, char **argv) {
  th_ctx t;
  int rc = th_init(&t, argc, argv);
  if (rc) return rc;
  const dvk_matmul_wtype types[] = {DVK_MATMUL_F32, DVK_MATMUL_F16, DVK_MATMUL_Q8_0};
  /* m, n, k, type, kernel, bias, flags, pad_x, pad_y, off, range, clamp */
  const mm_case shapes[] = {
    {1, 37, 65, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    {3, 37, 65, 0, 0, 1, 0, 0, 0, 0, 0, 0},
    {1, 256, 256, 0, 0, 1, DVK_MATMUL_GELU, 0, 0, 0, 0, 0},
    {2, 64, 8, 0, 0, 0, DVK_MATMUL_ACCUMULATE, 0, 0, 0, 0, 0},
    {8, 100, 129, 0, 0, 1, DVK_MATMUL_ACCUMULATE, 3, 5, 1, 0, 0},
    {9, 33, 7, 0, 0, 1, DVK_MATMUL_GELU | DVK_MATMUL_ACCUMULATE, 0, 0, 0, 0, 0},
    {17, 70, 33, 0, 0, 0, DVK_MATMUL_GELU, 2, 0, 3, 0, 0},
    {69, 130, 200, 0, 0, 1, 0, 0, 7, 0, 0, 0},
    {130, 67, 513, 0, 0, 1, DVK_MATMUL_GELU, 0, 0, 0, 0, 0},
    {5, 300, 256, 0, 0, 1, 0, 0, 0, 0, 16384, 0}, /* W split into chunks by a lowered maxStorageBufferRange */
    {9, 33, 7, 0, 0, 1, DVK_MATMUL_GELU_TANH | DVK_MATMUL_ACCUMULATE, 0, 0, 0, 0, 0},
    {17, 70, 33, 0, 0, 1, DVK_MATMUL_CLAMP | DVK_MATMUL_ACCUMULATE, 2, 0, 3, 0, 0.3f}, /* clamp bites often */
    {1, 256, 256, 0, 0, 1, DVK_MATMUL_GELU_TANH | DVK_MATMUL_CLAMP, 0, 0, 0, 0, 0.25f},
    {70, 130, 65, 0, 0, 1, DVK_MATMUL_CLAMP, 0, 0, 0, 0, 0.5f},
    /* GLU: Y holds the gate branch, the op multiplies it by epilogue(fc); K = 2730 and 40 are GLU widths */
    {3, 45, 2730, 0, 0, 1, DVK_MATMUL_GELU | DVK_MATMUL_MULTIPLY, 0, 0, 0, 0, 0},
    {9, 37, 40, 0, 0, 1, DVK_MATMUL_MULTIPLY, 0, 3, 1, 0, 0},
    {1, 53, 40, 0, 0, 0, DVK_MATMUL_GELU | DVK_MATMUL_MULTIPLY, 1, 0, 2, 0, 0},
    {70, 131, 40, 0, 0, 1, DVK_MATMUL_GELU | DVK_MATMUL_MULTIPLY, 0, 2, 0, 0, 0},
    {5, 29, 2730, 0, 0, 1, DVK_MATMUL_GELU_TANH | DVK_MATMUL_CLAMP | DVK_MATMUL_MULTIPLY, 0, 0, 0, 0, 0.3f},
  };
  const dvk_matmul_kernel kernels[] = {DVK_MATMUL_AUTO, DVK_MATMUL_KERNEL_CPU, DVK_MATMUL_KERNEL_GPU_TILED,
                                       DVK_MATMUL_KERNEL_GPU_VEC};
  for (size_t q = 0; q < sizeof kernels / sizeof *kernels; q++)
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++)
      for (size_t ty = 0; ty < sizeof types / sizeof *types; ty++) {
        mm_case c = shapes[i];
        c.type = types[ty];
        if (c.type == DVK_MATMUL_Q8_0) c.k = (c.k + 31) / 32 * 32; /* whole q8_0 blocks */
        c.kernel = kernels[q];
        if (c.kernel == DVK_MATMUL_KERNEL_GPU_VEC && c.m > 8) continue;
        if (c.kernel == DVK_MATMUL_KERNEL_CPU && t.ctx->device_class == DVK_CLASS_CPU) continue; /* = auto */
        run_case(&t, &c);
      }
  for (uint32_t g = 0; g < 2; g++) {
    const uint32_t flag = g ? DVK_MATMUL_GELU_TANH : DVK_MATMUL_GELU;
    test_gelu_epilogue(&t, 8, 512, DVK_MATMUL_F32, DVK_MATMUL_AUTO, flag);
    test_gelu_epilogue(&t, 40, 384, DVK_MATMUL_F16, DVK_MATMUL_AUTO, flag);
    for (size_t q = 1; q < sizeof kernels / sizeof *kernels; q++)
      test_gelu_epilogue(&t, 8, 256, DVK_MATMUL_F32, kernels[q], flag);
  }
  for (size_t q = 0; q < sizeof kernels / sizeof *kernels; q++) {
    if (kernels[q] == DVK_MATMUL_KERNEL_CPU && t.ctx->device_class == DVK_CLASS_CPU) continue;            /* = auto */
    test_kv_append(&t, kernels[q], DVK_MATMUL_F16, 3, 1, 5);                                              /* decode */
    if (kernels[q] != DVK_MATMUL_KERNEL_GPU_VEC) test_kv_append(&t, kernels[q], DVK_MATMUL_F32, 2, 9, 0); /* prefill */
  }
  test_errors(&t);
  test_large(&t);
  return th_finish(&t);
}
