/* dVAE image ops: host side (checks, splitting of large operands, dispatch). See image.h. */
#include "ops/image.h"

#include "conv_shared.h"
#include "ops/util.h"
#include "ops/window.h"

/* Records a 256-invocation-per-group, one-dimensional dispatch of `n` invocations. */
static dvk_status dispatch_1d(dvk_device *ctx, dvk_dispatch_desc *d, uint64_t n) {
  dvk_groups_1d(ctx, (n + 255) / 256, d->groups);
  return dvk_dispatch(ctx, d);
}

/* Runs a plane-to-plane shader (upsample2x, maxpool2x2) over `planes` planes, as many per dispatch as fit. */
static dvk_status plane_op(dvk_device *ctx, const char *shader, dvk_tensor y, dvk_tensor x, uint64_t planes,
                           uint32_t ih, uint32_t iw, uint32_t oh, uint32_t ow, uint64_t per_plane_invocations) {
  uint64_t in_pl = (uint64_t)ih * iw, out_pl = (uint64_t)oh * ow;
  uint64_t big = in_pl > out_pl ? in_pl : out_pl, maxe = dvk_window_max_elems(ctx, 4);
  if (!planes || !in_pl || !out_pl || big > maxe)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "%s: bad shape planes=%llu %ux%u -> %ux%u", shader,
                    (unsigned long long)planes, ih, iw, oh, ow);
  uint64_t step = maxe / big;
  for (uint64_t p0 = 0; p0 < planes; p0 += step) {
    uint64_t np = planes - p0 < step ? planes - p0 : step;
    dvk_window wx = {0}, wy = {0};
    DVK_TRY(dvk_window_of(ctx, shader, "x", x, p0 * in_pl, np * in_pl, 4, &wx));
    DVK_TRY(dvk_window_of(ctx, shader, "y", y, p0 * out_pl, np * out_pl, 4, &wy));
    dvk_pc_plane2x pc = {.ih = ih, .iw = iw, .oh = oh, .ow = ow, .n_planes = (uint32_t)np,
                         .x_off = wx.off, .y_off = wy.off};
    dvk_dispatch_desc d = {.shader = shader, .n_bindings = 2, .push = &pc, .push_size = sizeof pc};
    d.bindings[0].t = wx.t;
    d.bindings[1].t = wy.t;
    DVK_TRY(dispatch_1d(ctx, &d, np * per_plane_invocations));
  }
  return DVK_OK;
}

dvk_status dvk_op_upsample2x(dvk_device *ctx, dvk_tensor y, dvk_tensor x, uint64_t planes, uint32_t h, uint32_t w) {
  return plane_op(ctx, "upsample2x", y, x, planes, h, w, 2 * h, 2 * w, (uint64_t)h * w);
}

dvk_status dvk_op_maxpool2x2(dvk_device *ctx, dvk_tensor y, dvk_tensor x, uint64_t planes, uint32_t h, uint32_t w) {
  return plane_op(ctx, "maxpool2x2", y, x, planes, h, w, h / 2, w / 2, (uint64_t)(h / 2) * (w / 2));
}

dvk_status dvk_op_subsample2x(dvk_device *ctx, dvk_tensor y, dvk_tensor x, uint64_t planes, uint32_t h, uint32_t w) {
  if (h % 2 || w % 2)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "subsample2x: %ux%u is not even in both sizes", h, w);
  return plane_op(ctx, "subsample2x", y, x, planes, h, w, h / 2, w / 2, (uint64_t)(h / 2) * (w / 2));
}

/* Every output-map variant: images in chunks whose output starts on a 32-bit word (RGB8). linear: the VQGAN
 * map of x's first 3 of `channels` channels; else the dVAE map of 6 channels. */
typedef struct pixel_map {
  int rgb8, linear;
  uint32_t channels;
  float lo, range;
} pixel_map;

static dvk_status run_pixel_map(dvk_device *ctx, const pixel_map *m, dvk_tensor y, dvk_tensor x, uint32_t batch,
                                uint32_t h, uint32_t w) {
  static const char *names[2][2] = {{"dvae_map_planar", "dvae_map_rgb8"}, {"dvae_map_linear_planar",
                                                                          "dvae_map_linear_rgb8"}};
  const char *op = names[m->linear][m->rgb8];
  uint64_t hw = (uint64_t)h * w, maxe = dvk_window_max_elems(ctx, 4), xc = m->channels;
  if (!batch || !hw || xc < 3 || xc * hw > maxe || (m->linear && !(m->range != 0.0f)))
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "%s: bad shape B=%u %ux%u channels=%u", op, batch, h, w,
                    m->channels);
  uint64_t step = maxe / (xc * hw);
  if (step >= batch) step = batch;
  else if (m->rgb8 && hw % 4) step &= ~(uint64_t)3; /* chunks of 4k images start on a 32-bit word */
  if (!step) return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "%s: B=%u images of %ux%u cannot be split", op, batch, h, w);
  for (uint64_t b0 = 0; b0 < batch; b0 += step) {
    uint64_t nb = batch - b0 < step ? batch - b0 : step;
    dvk_window wx = {0}, wy = {0};
    DVK_TRY(dvk_window_of(ctx, op, "x", x, b0 * xc * hw, nb * xc * hw, 4, &wx));
    uint64_t n_out = m->rgb8 ? (nb * hw * 3 + 3) / 4 : nb * 3 * hw;
    DVK_TRY(dvk_window_of(ctx, op, "y", y, m->rgb8 ? b0 * hw * 3 / 4 : b0 * 3 * hw, n_out, 4, &wy));
    dvk_pc_dvae_map pc = {.nb = (uint32_t)nb, .hw = (uint32_t)hw, .x_off = wx.off, .y_off = wy.off,
                          .channels = m->channels, .lo = m->lo, .range = m->range};
    dvk_dispatch_desc d = {.shader = op, .n_bindings = 2, .push = &pc, .push_size = sizeof pc};
    d.bindings[0].t = wx.t;
    d.bindings[1].t = wy.t;
    DVK_TRY(dispatch_1d(ctx, &d, n_out));
  }
  return DVK_OK;
}

dvk_status dvk_op_dvae_map_planar(dvk_device *ctx, dvk_tensor y, dvk_tensor x, uint32_t batch, uint32_t h, uint32_t w) {
  return run_pixel_map(ctx, &(pixel_map){.channels = 6}, y, x, batch, h, w);
}

dvk_status dvk_op_dvae_map_rgb8(dvk_device *ctx, dvk_tensor y, dvk_tensor x, uint32_t batch, uint32_t h, uint32_t w) {
  return run_pixel_map(ctx, &(pixel_map){.rgb8 = 1, .channels = 6}, y, x, batch, h, w);
}

dvk_status dvk_op_linear_map(dvk_device *ctx, int rgb8, dvk_tensor y, dvk_tensor x, uint32_t batch, uint32_t channels,
                             uint32_t h, uint32_t w, float lo, float hi) {
  pixel_map m = {.rgb8 = rgb8 != 0, .linear = 1, .channels = channels, .lo = lo, .range = hi - lo};
  return run_pixel_map(ctx, &m, y, x, batch, h, w);
}

dvk_status dvk_op_dvae_gather(dvk_device *ctx, dvk_tensor y, dvk_tensor codes, dvk_tensor wt, dvk_tensor bias,
                              uint32_t batch, uint32_t g, uint32_t vocab, uint32_t n_init, int weight_f16) {
  uint64_t hw = (uint64_t)g * g, n_out = (uint64_t)batch * n_init * hw;
  uint64_t nw = (uint64_t)vocab * n_init, wbytes = weight_f16 ? (nw * 2 + 3) & ~(uint64_t)3 : nw * 4;
  if (!n_out || !vocab || n_out > dvk_window_max_elems(ctx, 4))
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "dvae_gather: bad shape B=%u g=%u vocab=%u n_init=%u", batch, g,
                    vocab, n_init);
  DVK_TRY(dvk_need_bytes(ctx, "dvae_gather", "codes", codes, batch * hw * 4));
  DVK_TRY(dvk_need_bytes(ctx, "dvae_gather", "wt", wt, wbytes));
  DVK_TRY(dvk_need_bytes(ctx, "dvae_gather", "bias", bias, (VkDeviceSize)n_init * 4));
  DVK_TRY(dvk_need_bytes(ctx, "dvae_gather", "y", y, n_out * 4));
  dvk_pc_dvae_gather pc = {.nb = batch, .hw = (uint32_t)hw, .n_init = n_init, .vocab = vocab, .y_off = 0};
  dvk_dispatch_desc d = {.shader = weight_f16 ? "dvae_gather_f16" : "dvae_gather_f32", .n_bindings = 4,
                         .push = &pc, .push_size = sizeof pc};
  d.bindings[0].t = dvk_bind_range(codes, batch * hw * 4);
  d.bindings[1].t = dvk_bind_range(wt, wbytes);
  d.bindings[2].t = dvk_bind_range(bias, (VkDeviceSize)n_init * 4);
  d.bindings[3].t = dvk_bind_range(y, n_out * 4);
  return dispatch_1d(ctx, &d, n_out);
}
