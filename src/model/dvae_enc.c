/* dVAE encoder. See dvae_enc.h. */
#include "model/dvae_enc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/image.h"

static void grow(uint64_t *max, uint64_t floats) {
  if (floats > *max) *max = floats;
}

dvk_status dvk_dvae_encoder_load(dvk_loader *L, const dvk_dvae_config *cfg, uint32_t grid, dvk_dvae_encoder *e) {
  memset(e, 0, sizeof *e);
  e->cfg = *cfg;
  e->grid = grid;
  const uint32_t ng = cfg->group_count, nb = cfg->n_blk_per_group;
  uint32_t res = cfg->image_size;
  DVK_TRY(dvk_dvae_conv_load(L, "dvae.enc.blocks.input", cfg->input_channels, cfg->n_hid, 7, &e->input));
  grow(&e->act_floats, (uint64_t)cfg->input_channels * res * res);
  e->blocks = calloc((size_t)ng * nb, sizeof *e->blocks);
  if (!e->blocks) {
    return dvk_error_set(L->err, DVK_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", gguf_name(L->file));
  }
  uint32_t n_prev = cfg->n_hid;
  static const uint32_t kernels[4] = {3, 3, 3, 1};
  for (uint32_t g = 1; g <= ng; g++) {
    const uint32_t n_g = cfg->n_hid << (g - 1);
    for (uint32_t i = 1; i <= nb; i++) {
      const uint32_t n_in = i == 1 ? n_prev : n_g;
      DVK_TRY(dvk_dvae_block_load(L, "enc", g, i, n_in, n_g, kernels, &e->blocks[(g - 1) * nb + (i - 1)]));
      grow(&e->act_floats, (uint64_t)n_in * res * res);
    }
    grow(&e->act_floats, (uint64_t)n_g * res * res);
    if (g < ng) res /= 2; /* max-pooled output of this group */
    n_prev = n_g;
  }
  DVK_TRY(dvk_dvae_conv_load(L, "dvae.enc.blocks.output.conv", n_prev, cfg->vocab_size, 1, &e->output));
  grow(&e->act_floats, (uint64_t)cfg->vocab_size * res * res);
  return DVK_OK;
}

void dvk_dvae_encoder_free(dvk_dvae_encoder *e) {
  free(e->blocks);
  e->blocks = NULL;
}

/* One image: x (device) = the mapped pixels f32 [3, R, R] -> `out` = logits f32 [vocab, G, G]. Clobbers bufs. */
static dvk_status encode_one(dvk_device *ctx, const dvk_dvae_encoder *e, dvk_tensor x, dvk_tensor bufs[3], dvk_tensor out) {
  const dvk_dvae_config *c = &e->cfg;
  const float gain = 1.0f / (float)((c->group_count * c->n_blk_per_group) * (c->group_count * c->n_blk_per_group));
  dvk_tensor y = bufs[0], h1 = bufs[1], h2 = bufs[2];
  uint32_t res = c->image_size;
  DVK_TRY(dvk_dvae_conv_run(ctx, &e->input, res, 0, 0, y, x, NULL));
  { dvk_tensor t = x; x = y; y = t; }
  for (uint32_t g = 1; g <= c->group_count; g++) {
    for (uint32_t i = 1; i <= c->n_blk_per_group; i++)
      DVK_TRY(dvk_dvae_block_run(ctx, &e->blocks[(g - 1) * c->n_blk_per_group + (i - 1)], res, gain, &x, &y, h1, h2));
    if (g < c->group_count) {
      DVK_TRY(dvk_op_maxpool2x2(ctx, y, x, c->n_hid << (g - 1), res, res));
      dvk_tensor t = x; x = y; y = t;
      res /= 2;
    }
  }
  return dvk_dvae_conv_run(ctx, &e->output, res, 1, 0, out, x, NULL);
}

dvk_status dvk_dvae_encode(dvk_device *ctx, dvk_arena *arena, const dvk_dvae_encoder *e, const uint8_t *rgb,
                           int32_t *codes, float *logits) {
  const uint32_t G = e->grid, R = e->cfg.image_size, V = e->cfg.vocab_size;
  const uint64_t px = (uint64_t)R * R, cells = (uint64_t)G * G;
  float *host = malloc((px * 3 > V * cells ? px * 3 : V * cells) * sizeof *host);
  if (!host) return dvk_fail(ctx, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory encoding an image");
  for (uint64_t p = 0; p < px; p++) /* RGB8 interleaved -> planar [3, R, R], map_pixels */
    for (uint32_t ch = 0; ch < 3; ch++) host[ch * px + p] = 0.8f * ((float)rgb[p * 3 + ch] / 255.0f) + 0.1f;
  dvk_tensor bufs[4], out;
  dvk_status s = DVK_OK;
  for (int i = 0; i < 4 && s == DVK_OK; i++) s = dvk_arena_alloc(arena, e->act_floats * 4, &bufs[i]);
  if (s == DVK_OK) s = dvk_arena_alloc(arena, (VkDeviceSize)V * cells * 4, &out);
  if (s == DVK_OK) s = dvk_upload(ctx, bufs[3], host, px * 3 * sizeof *host);
  if (s == DVK_OK) s = encode_one(ctx, e, bufs[3], bufs, out);
  if (s == DVK_OK) s = dvk_download(ctx, host, out, (VkDeviceSize)V * cells * sizeof *host);
  for (uint64_t c = 0; s == DVK_OK && c < cells; c++) {
    uint32_t best = 0;
    for (uint32_t v = 1; v < V; v++)
      if (host[v * cells + c] > host[best * cells + c]) best = v;
    codes[c] = (int32_t)best;
  }
  if (s == DVK_OK && logits) memcpy(logits, host, (size_t)V * cells * sizeof *host);
  free(host);
  return s;
}
