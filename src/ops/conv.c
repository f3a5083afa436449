/* 2-D convolution host side: argument checks, splitting of large operands, dispatch. See conv.h. */
#include "ops/conv.h"

#include <string.h>

#include "conv_shared.h"
#include "ops/util.h"
#include "ops/window.h"

uint32_t dvk_conv2d_cout_padded(uint32_t cout) { return (cout + 7) & ~7u; }

uint64_t dvk_conv2d_weight_bytes(uint32_t cout, uint32_t cin, uint32_t k, int f16) {
  return (uint64_t)dvk_conv2d_cout_padded(cout) * cin * k * k * (f16 ? 2 : 4);
}

void dvk_conv2d_repack_f32(float *dst, const float *src, uint32_t cout, uint32_t cin, uint32_t k) {
  uint64_t kk = (uint64_t)k * k, cp = dvk_conv2d_cout_padded(cout);
  for (uint64_t row = 0; row < cin * kk; row++) /* row = ci * k*k + tap */
    for (uint64_t co = 0; co < cp; co++)
      dst[row * cp + co] = co < cout ? src[(co * cin + row / kk) * kk + row % kk] : 0.0f;
}

void dvk_conv2d_repack_f16(uint16_t *dst, const uint16_t *src, uint32_t cout, uint32_t cin, uint32_t k) {
  uint64_t kk = (uint64_t)k * k, cp = dvk_conv2d_cout_padded(cout);
  for (uint64_t row = 0; row < cin * kk; row++)
    for (uint64_t co = 0; co < cp; co++)
      dst[row * cp + co] = co < cout ? src[(co * cin + row / kk) * kk + row % kk] : 0;
}

/* CPU: measured on lavapipe with bench/bench_conv.c (3x3 at 128 ch 32x32 and 64 ch 64x64, 1x1 256->64 at
 * 32x32; WG/TP/TC). The best register tile depends on the host's vector registers:
 * - 32 (2-core Xeon, AVX-512): storage buffers 64/4/8 ~3-5 GFLOP/s; texel buffers 64/4/8 ~6-12, 64/8/8 ~15-16,
 *   64/16/8 ~27-31 (also best for 1x1).
 * - 16 (2-core AMD EPYC, AVX2): 64/16/8 11.2 / 9.5 / 8.6 GFLOP/s and 28 s of pipeline compiles on a cold
 *   shader cache; 64/8/4 14.6 / 14.2 / 8.0 and 6.6 s. 128 accumulators per lane overflow 16 registers, and
 *   LLVM spends the compile time on the spills.
 * Narrow images get half-width pixel tiles, so that fewer lanes idle past the row end. GPU: a plain
 * storage-buffer tiling, not tuned yet (no device measured). */
dvk_conv2d_tile dvk_conv2d_default_tile(const dvk_device *ctx, const dvk_conv2d_params *p) {
  if (ctx->device_class == DVK_CLASS_CPU && ctx->limits.cpu_vector_regs >= 32)
    return (dvk_conv2d_tile){.wg = 64, .tp = p->w >= 16 ? 16 : 8, .tc = 8, .texel = 1};
  if (ctx->device_class == DVK_CLASS_CPU)
    return (dvk_conv2d_tile){.wg = 64, .tp = p->w >= 8 ? 8 : 4, .tc = 4, .texel = 1};
  return (dvk_conv2d_tile){.wg = 64, .tp = 4, .tc = 8, .texel = 0};
}

static dvk_status check_params(dvk_device *ctx, const dvk_conv2d_params *p, const dvk_conv2d_tile *t) {
  if (!p->batch || !p->cin || !p->cout || !p->h || !p->w)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "conv2d: empty shape B=%u cin=%u cout=%u h=%u w=%u", p->batch,
                    p->cin, p->cout, p->h, p->w);
  if (p->k % 2 == 0 || p->k > 15)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "conv2d: kernel size %u is not odd in 1..15", p->k);
  if (!t->wg || !t->tp || !t->tc || t->tp * t->tc > 256 || t->wg > ctx->limits.max_invocations ||
      (t->texel && t->tc % 4))
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "conv2d: bad tiling wg=%u tp=%u tc=%u", t->wg, t->tp, t->tc);
  return DVK_OK;
}

/* How one dispatch's share of the work is bounded: nb images, nco output channels, nci input channels. */
typedef struct conv_split {
  uint32_t nb, nco, nci;
} conv_split;

/* Chooses the split so that every window fits maxStorageBufferRange. Output-channel chunks are multiples
 * of 8, so that each starts on a vec4 of a weight row. */
static dvk_status plan_split(dvk_device *ctx, const dvk_conv2d_params *p, conv_split *s) {
  uint64_t hw = (uint64_t)p->h * p->w, maxe = dvk_window_max_elems(ctx, 4);
  uint64_t kkco = (uint64_t)p->k * p->k * dvk_conv2d_cout_padded(p->cout); /* weights per input channel */
  uint64_t maxw = dvk_window_max_elems(ctx, p->weight_f16 ? 2 : 4);
  if (hw > maxe || kkco > maxw || (p->cout > 8 && 8 * hw > maxe))
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "conv2d: a %ux%u plane or one input channel's weights exceed "
                    "maxStorageBufferRange", p->h, p->w);
  uint64_t nci = p->cin, nco = p->cout, nb = p->batch;
  if (nci * hw > maxe) nci = maxe / hw;
  if (nci * kkco > maxw) nci = maxw / kkco;
  if (nco * hw > maxe) nco = maxe / hw / 8 * 8;
  if (nco == 0) /* cout <= 8 cannot be split: the y window of all its channels must fit */
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "conv2d: %u output channels of a %ux%u plane exceed "
                    "maxStorageBufferRange", p->cout, p->h, p->w);
  if (nci < p->cin || nco < p->cout) nb = 1;
  else {
    uint64_t per = (p->cin > p->cout ? p->cin : p->cout) * hw;
    if (nb * per > maxe) nb = maxe / per;
  }
  s->nb = (uint32_t)nb, s->nco = (uint32_t)nco, s->nci = (uint32_t)nci;
  return DVK_OK;
}

/* Everything one dispatch needs besides the push constants. */
typedef struct conv_call {
  const dvk_conv2d_params *p;
  dvk_conv2d_tile t;
  dvk_tensor y, x, w, bias, r;
} conv_call;

/* The x and w bindings: storage buffers, or texel views when the tiling asks for them and they fit. */
static void bind_inputs(dvk_device *ctx, const conv_call *c, const dvk_window *wx, const dvk_window *ww,
                        dvk_dispatch_desc *d) {
  const dvk_conv2d_params *p = c->p;
  int xv4 = c->t.tp % 4 == 0 && p->w % 4 == 0;
  uint64_t x_texels = wx->t.size / (xv4 ? 16 : 4), w_texels = ww->t.size / (p->weight_f16 ? 8 : 16);
  int texel = c->t.texel && x_texels <= ctx->limits.max_texel_elements &&
              w_texels <= ctx->limits.max_texel_elements;
  d->bindings[0].t = wx->t;
  d->bindings[1].t = ww->t;
  if (!texel) {
    d->shader = p->weight_f16 ? "conv2d_f16" : "conv2d_f32";
    return;
  }
  d->shader = "conv2d_tb";
  d->spec[4] = (uint32_t)xv4;
  d->n_spec = 5;
  d->bindings[0].format = xv4 ? VK_FORMAT_R32G32B32A32_SFLOAT : VK_FORMAT_R32_SFLOAT;
  d->bindings[1].format = p->weight_f16 ? VK_FORMAT_R16G16B16A16_SFLOAT : VK_FORMAT_R32G32B32A32_SFLOAT;
  /* a texel view covers whole texels only */
  d->bindings[0].t.size -= d->bindings[0].t.size % (xv4 ? 16 : 4);
  d->bindings[1].t.size -= d->bindings[1].t.size % (p->weight_f16 ? 8 : 16);
}

/* One dispatch: images [b0, b0+nb), output channels [co0, co0+nco), input channels [ci0, ci0+nci). */
static dvk_status conv_dispatch(dvk_device *ctx, const conv_call *c, uint32_t b0, uint32_t nb, uint32_t co0,
                                uint32_t nco, uint32_t ci0, uint32_t nci) {
  const dvk_conv2d_params *p = c->p;
  uint64_t hw = (uint64_t)p->h * p->w, xi = (uint64_t)p->cin * hw, yi = (uint64_t)p->cout * hw;
  uint32_t coutp = dvk_conv2d_cout_padded(p->cout);
  uint64_t kkco = (uint64_t)p->k * p->k * coutp;
  int first = ci0 == 0;
  dvk_window wx = {0}, ww = {0}, wy = {0}, wr = {0};
  DVK_TRY(dvk_window_of(ctx, "conv2d", "x", c->x, b0 * xi + ci0 * hw, (nb - 1) * xi + nci * hw, 4, &wx));
  DVK_TRY(dvk_window_of(ctx, "conv2d", "w", c->w, ci0 * kkco, nci * kkco, p->weight_f16 ? 2 : 4, &ww));
  DVK_TRY(dvk_window_of(ctx, "conv2d", "y", c->y, b0 * yi + co0 * hw, (nb - 1) * yi + nco * hw, 4, &wy));
  /* later input-channel chunks accumulate into y: r = y */
  dvk_tensor rt = (p->residual && first) ? c->r : c->y;
  DVK_TRY(dvk_window_of(ctx, "conv2d", "r", rt, b0 * yi + co0 * hw, (nb - 1) * yi + nco * hw, 4, &wr));
  uint32_t tiles = dvk_div_up(p->w, c->t.tp) * p->h;
  dvk_pc_conv2d pc = {.h = p->h, .w = p->w, .nci = nci, .nco = nco, .w_off = ww.off, .co0 = co0,
                      .cout = coutp, .x_off = wx.off, .x_img = (uint32_t)xi, .y_off = wy.off,
                      .y_img = (uint32_t)yi, .r_off = wr.off,
                      .mode = (p->residual || !first) ? DVK_CONV_MODE_RESIDUAL : DVK_CONV_MODE_PLAIN,
                      .add_bias = first, .relu = p->relu_input ? 1u : 0u, .gain = p->residual ? p->gain : 1.0f,
                      .n_pgroups = dvk_div_up(tiles, c->t.wg), .n_ctiles = dvk_div_up(nco, c->t.tc)};
  pc.n_groups = pc.n_pgroups * pc.n_ctiles * nb;
  dvk_dispatch_desc d = {.label = "conv2d", .n_bindings = 5, .push = &pc, .push_size = sizeof pc, .n_spec = 4,
                         .spec = {c->t.wg, p->k, c->t.tp, c->t.tc}};
  bind_inputs(ctx, c, &wx, &ww, &d);
  d.bindings[2].t = dvk_bind_range(c->bias, (VkDeviceSize)p->cout * 4);
  d.bindings[3].t = wr.t;
  d.bindings[4].t = wy.t;
  dvk_groups_1d(ctx, pc.n_groups, d.groups);
  return dvk_dispatch(ctx, &d);
}

dvk_status dvk_op_conv2d(dvk_device *ctx, const dvk_conv2d_params *p, dvk_tensor y, dvk_tensor x, dvk_tensor w,
                         dvk_tensor bias, dvk_tensor r) {
  conv_call c = {.p = p, .y = y, .x = x, .w = w, .bias = bias, .r = r};
  c.t = p->tile ? *p->tile : dvk_conv2d_default_tile(ctx, p);
  DVK_TRY(check_params(ctx, p, &c.t));
  uint64_t hw = (uint64_t)p->h * p->w;
  DVK_TRY(dvk_need_bytes(ctx, "conv2d", "x", x, (uint64_t)p->batch * p->cin * hw * 4));
  DVK_TRY(dvk_need_bytes(ctx, "conv2d", "y", y, (uint64_t)p->batch * p->cout * hw * 4));
  DVK_TRY(dvk_need_bytes(ctx, "conv2d", "w", w, dvk_conv2d_weight_bytes(p->cout, p->cin, p->k, p->weight_f16)));
  DVK_TRY(dvk_need_bytes(ctx, "conv2d", "bias", bias, (VkDeviceSize)p->cout * 4));
  if (p->residual) DVK_TRY(dvk_need_bytes(ctx, "conv2d", "r", r, (uint64_t)p->batch * p->cout * hw * 4));
  conv_split s = {0};
  DVK_TRY(plan_split(ctx, p, &s));
  for (uint32_t b0 = 0; b0 < p->batch; b0 += s.nb) {
    uint32_t nb = p->batch - b0 < s.nb ? p->batch - b0 : s.nb;
    for (uint32_t co0 = 0; co0 < p->cout; co0 += s.nco) {
      uint32_t nco = p->cout - co0 < s.nco ? p->cout - co0 : s.nco;
      for (uint32_t ci0 = 0; ci0 < p->cin; ci0 += s.nci) {
        uint32_t nci = p->cin - ci0 < s.nci ? p->cin - ci0 : s.nci;
        DVK_TRY(conv_dispatch(ctx, &c, b0, nb, co0, nco, ci0, nci));
      }
    }
  }
  return DVK_OK;
}
