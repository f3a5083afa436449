/* dVAE decoder (and the conv helpers the encoder shares). See dvae.h. */
#include "model/dvae.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/image.h"

dvk_status dvk_conv_upload(dvk_loader *L, const char *name, const void *src, int f16, uint32_t cin, uint32_t cout,
                           uint32_t k, dvk_dvae_conv *c) {
  *c = (dvk_dvae_conv){.cin = cin, .cout = cout, .k = k, .f16 = f16};
  uint64_t bytes = dvk_conv2d_weight_bytes(cout, cin, k, f16);
  void *packed = calloc(1, bytes);
  if (!packed) {
    return dvk_error_set(L->err, DVK_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory repacking '%s'", gguf_name(L->file), name);
  }
  if (f16) dvk_conv2d_repack_f16(packed, src, cout, cin, k);
  else dvk_conv2d_repack_f32(packed, src, cout, cin, k);
  dvk_status s = dvk_arena_alloc(L->arena, bytes, &c->w);
  if (s == DVK_OK) s = dvk_upload(L->ctx, c->w, packed, bytes);
  free(packed);
  if (s != DVK_OK) return dvk_loader_device_error(L, name, s);
  L->bytes += bytes;
  return DVK_OK;
}

dvk_status dvk_conv_load_named(dvk_loader *L, const char *wname, const char *bname, uint32_t cin, uint32_t cout,
                               uint32_t k, dvk_dvae_conv *c) {
  const gguf_tensor *t;
  const uint64_t shape[4] = {cout, cin, k, k};
  DVK_TRY(gguf_require_tensor(L->file, wname, 4, shape, GGUF_ALLOW_FLOAT, &t, L->err));
  DVK_TRY(dvk_conv_upload(L, wname, t->data, t->type == GGUF_TENSOR_F16, cin, cout, k, c));
  return dvk_load_vector(L, bname, cout, &c->b);
}

dvk_status dvk_dvae_conv_load(dvk_loader *L, const char *prefix, uint32_t cin, uint32_t cout, uint32_t k,
                              dvk_dvae_conv *c) {
  char wname[160], bname[160];
  snprintf(wname, sizeof wname, "%s.w", prefix);
  snprintf(bname, sizeof bname, "%s.b", prefix);
  return dvk_conv_load_named(L, wname, bname, cin, cout, k, c);
}

dvk_status dvk_dvae_block_load(dvk_loader *L, const char *part, uint32_t g, uint32_t i, uint32_t n_in, uint32_t n_out,
                               const uint32_t kernels[4], dvk_dvae_block *b) {
  char prefix[128];
  const uint32_t hid = n_out / 4, cin[4] = {n_in, hid, hid, hid}, cout[4] = {hid, hid, hid, n_out};
  b->has_id = n_in != n_out;
  if (b->has_id) {
    snprintf(prefix, sizeof prefix, "dvae.%s.blocks.group_%u.block_%u.id_path", part, g, i);
    DVK_TRY(dvk_dvae_conv_load(L, prefix, n_in, n_out, 1, &b->id));
  }
  for (int j = 0; j < 4; j++) {
    snprintf(prefix, sizeof prefix, "dvae.%s.blocks.group_%u.block_%u.res_path.conv_%d", part, g, i, j + 1);
    DVK_TRY(dvk_dvae_conv_load(L, prefix, cin[j], cout[j], kernels[j], &b->conv[j]));
  }
  return DVK_OK;
}

dvk_status dvk_dvae_load(dvk_loader *L, const dvk_dvae_config *cfg, uint32_t grid, dvk_dvae *v) {
  memset(v, 0, sizeof *v);
  v->cfg = *cfg;
  v->grid = grid;
  const uint32_t ng = cfg->group_count, nb = cfg->n_blk_per_group;
  const uint64_t in_shape[2] = {cfg->vocab_size, cfg->n_init};
  DVK_TRY(dvk_load_raw(L, "dvae.dec.blocks.input.w", 2, in_shape, &v->input_w, &v->input_f16));
  DVK_TRY(dvk_load_vector(L, "dvae.dec.blocks.input.b", cfg->n_init, &v->input_b));
  v->blocks = calloc((size_t)ng * nb, sizeof *v->blocks);
  if (!v->blocks) {
    return dvk_error_set(L->err, DVK_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", gguf_name(L->file));
  }
  uint32_t n_prev = cfg->n_init, res = grid;
  v->act_floats = (uint64_t)cfg->n_init * res * res;
  static const uint32_t kernels[4] = {1, 3, 3, 3};
  for (uint32_t g = 1; g <= ng; g++) {
    const uint32_t n_g = cfg->n_hid << (ng - g);
    for (uint32_t i = 1; i <= nb; i++)
      DVK_TRY(dvk_dvae_block_load(L, "dec", g, i, i == 1 ? n_prev : n_g, n_g, kernels, &v->blocks[(g - 1) * nb + (i - 1)]));
    uint64_t act = (uint64_t)n_g * res * res;
    if (g < ng) res *= 2; /* upsampled output of this group */
    uint64_t up = (uint64_t)n_g * res * res;
    if (act > v->act_floats) v->act_floats = act;
    if (up > v->act_floats) v->act_floats = up;
    n_prev = n_g;
  }
  DVK_TRY(dvk_dvae_conv_load(L, "dvae.dec.blocks.output.conv", cfg->n_hid, 2 * cfg->output_channels, 1, &v->output));
  uint64_t out_act = (uint64_t)2 * cfg->output_channels * res * res;
  if (out_act > v->act_floats) v->act_floats = out_act;
  return DVK_OK;
}

void dvk_dvae_free(dvk_dvae *v) {
  free(v->blocks);
  v->blocks = NULL;
}

dvk_status dvk_dvae_conv_run(dvk_device *ctx, const dvk_dvae_conv *c, uint32_t res, int relu, float gain, dvk_tensor y,
                             dvk_tensor x, const dvk_tensor *residual) {
  dvk_conv2d_params p = {.batch = 1, .cin = c->cin, .cout = c->cout, .h = res, .w = res, .k = c->k,
                         .weight_f16 = c->f16, .relu_input = relu, .residual = residual != NULL, .gain = gain};
  return dvk_op_conv2d(ctx, &p, y, x, c->w, c->b, residual ? *residual : y);
}

dvk_status dvk_dvae_block_run(dvk_device *ctx, const dvk_dvae_block *b, uint32_t res, float gain, dvk_tensor *x,
                              dvk_tensor *y, dvk_tensor h1, dvk_tensor h2) {
  /* res_path: 4 x (ReLU, conv); the last adds to the id_path output in place */
  DVK_TRY(dvk_dvae_conv_run(ctx, &b->conv[0], res, 1, 0, h1, *x, NULL));
  DVK_TRY(dvk_dvae_conv_run(ctx, &b->conv[1], res, 1, 0, h2, h1, NULL));
  DVK_TRY(dvk_dvae_conv_run(ctx, &b->conv[2], res, 1, 0, h1, h2, NULL));
  if (!b->has_id) return dvk_dvae_conv_run(ctx, &b->conv[3], res, 1, gain, *x, h1, x);
  DVK_TRY(dvk_dvae_conv_run(ctx, &b->id, res, 0, 0, *y, *x, NULL));
  DVK_TRY(dvk_dvae_conv_run(ctx, &b->conv[3], res, 1, gain, *y, h1, y));
  dvk_tensor t = *x;
  *x = *y;
  *y = t;
  return DVK_OK;
}

/* One image: codes [G, G] -> `out` (device): RGB8 [R, R, 3] bytes, or f32 [3, R, R] when planar. */
static dvk_status decode_one(dvk_device *ctx, const dvk_dvae *v, dvk_tensor codes, dvk_tensor bufs[4], dvk_tensor out,
                             int planar, const volatile int *cancel) {
  const dvk_dvae_config *c = &v->cfg;
  const float gain = 1.0f / (float)((c->group_count * c->n_blk_per_group) * (c->group_count * c->n_blk_per_group));
  dvk_tensor x = bufs[0], y = bufs[1], h1 = bufs[2], h2 = bufs[3];
  uint32_t res = v->grid;
  DVK_TRY(dvk_op_dvae_gather(ctx, x, codes, v->input_w, v->input_b, 1, v->grid, c->vocab_size, c->n_init,
                             v->input_f16));
  for (uint32_t g = 1; g <= c->group_count; g++) {
    for (uint32_t i = 1; i <= c->n_blk_per_group; i++)
      DVK_TRY(dvk_dvae_block_run(ctx, &v->blocks[(g - 1) * c->n_blk_per_group + (i - 1)], res, gain, &x, &y, h1, h2));
    DVK_TRY(dvk_check_cancel(ctx, cancel));
    if (g < c->group_count) {
      const uint32_t n_g = c->n_hid << (c->group_count - g);
      DVK_TRY(dvk_op_upsample2x(ctx, y, x, n_g, res, res));
      dvk_tensor t = x; x = y; y = t;
      res *= 2;
    }
  }
  DVK_TRY(dvk_dvae_conv_run(ctx, &v->output, res, 1, 0, h1, x, NULL));
  return planar ? dvk_op_dvae_map_planar(ctx, out, h1, 1, res, res) : dvk_op_dvae_map_rgb8(ctx, out, h1, 1, res, res);
}

uint64_t dvk_dvae_decode_bytes(const dvk_dvae *v) {
  /* 16 bytes per pixel bound the codes (G*G*4 <= R*R) and the output (planar f32: 12 bytes per pixel) */
  return 4 * v->act_floats * 4 + (uint64_t)v->cfg.image_size * v->cfg.image_size * 16;
}

dvk_status dvk_dvae_decode(dvk_device *ctx, dvk_arena *arena, const dvk_dvae *v, const int32_t *codes, uint32_t n,
                           uint8_t *rgb, float *planar, const volatile int *cancel) {
  const uint32_t G = v->grid, R = v->cfg.image_size;
  const VkDeviceSize img_bytes = (VkDeviceSize)R * R * 3 * (planar ? 4 : 1);
  const VkDeviceSize out_bytes = (img_bytes + 3) & ~(VkDeviceSize)3;
  dvk_tensor bufs[4], dcodes, out;
  for (int i = 0; i < 4; i++) DVK_TRY(dvk_arena_alloc(arena, v->act_floats * 4, &bufs[i]));
  DVK_TRY(dvk_arena_alloc(arena, (VkDeviceSize)G * G * 4, &dcodes));
  DVK_TRY(dvk_arena_alloc(arena, out_bytes, &out));
  for (uint32_t i = 0; i < n; i++) {
    DVK_TRY(dvk_check_cancel(ctx, cancel));
    DVK_TRY(dvk_upload(ctx, dcodes, codes + (size_t)i * G * G, (VkDeviceSize)G * G * 4));
    DVK_TRY(decode_one(ctx, v, dcodes, bufs, out, planar != NULL, cancel));
    void *dst = planar ? (void *)((char *)planar + (size_t)i * img_bytes) : (void *)(rgb + (size_t)i * img_bytes);
    DVK_TRY(dvk_download(ctx, dst, out, img_bytes));
  }
  return DVK_OK;
}
