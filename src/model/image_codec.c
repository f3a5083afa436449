/* Image tokenizer interface. See image_codec.h. */
#include "model/image_codec.h"

#include <string.h>

const char *dvk_image_codec_name(dvk_image_codec_kind kind) {
  return kind == DVK_CODEC_DVAE ? "dVAE" : kind == DVK_CODEC_VQGAN ? "VQGAN" : "none";
}

dvk_status dvk_image_codec_load(dvk_loader *L, const dvk_vqgan_config *vqgan, const dvk_dvae_config *dvae,
                                uint32_t grid, dvk_image_codec *c) {
  memset(c, 0, sizeof *c);
  if (vqgan) {
    c->kind = DVK_CODEC_VQGAN;
    c->image_size = vqgan->resolution, c->vocab = vqgan->n_embed, c->has_encoder = vqgan->has_encoder;
    DVK_TRY(dvk_vqgan_load(L, vqgan, &c->u.vqgan));
    c->grid = c->u.vqgan.grid;
    return DVK_OK;
  }
  c->kind = DVK_CODEC_DVAE;
  c->grid = grid, c->image_size = dvae->image_size, c->vocab = dvae->vocab_size, c->has_encoder = dvae->has_encoder;
  DVK_TRY(dvk_dvae_load(L, dvae, grid, &c->u.dvae.dec));
  return dvae->has_encoder ? dvk_dvae_encoder_load(L, dvae, grid, &c->u.dvae.enc) : DVK_OK;
}

void dvk_image_codec_free(dvk_image_codec *c) {
  if (c->kind == DVK_CODEC_DVAE) {
    dvk_dvae_free(&c->u.dvae.dec);
    dvk_dvae_encoder_free(&c->u.dvae.enc);
  } else if (c->kind == DVK_CODEC_VQGAN) {
    dvk_vqgan_free(&c->u.vqgan);
  }
  c->kind = DVK_CODEC_NONE;
}

uint64_t dvk_image_codec_decode_bytes(const dvk_image_codec *c) {
  if (c->kind == DVK_CODEC_VQGAN) return dvk_vqgan_scratch_bytes(&c->u.vqgan);
  return c->kind == DVK_CODEC_DVAE ? dvk_dvae_decode_bytes(&c->u.dvae.dec) : 0;
}

dvk_status dvk_image_codec_decode(dvk_device *ctx, dvk_arena *arena, const dvk_image_codec *c, const int32_t *codes,
                                  uint32_t n, uint8_t *rgb, float *planar, const volatile int *cancel) {
  if (c->kind == DVK_CODEC_VQGAN) return dvk_vqgan_decode(ctx, arena, &c->u.vqgan, codes, n, rgb, planar, cancel);
  return dvk_dvae_decode(ctx, arena, &c->u.dvae.dec, codes, n, rgb, planar, cancel);
}

dvk_status dvk_image_codec_encode(dvk_device *ctx, dvk_arena *arena, const dvk_image_codec *c, const uint8_t *rgb,
                                  int32_t *codes, float *logits) {
  if (!c->has_encoder)
    return dvk_fail(ctx, DVK_ERR_UNSUPPORTED, "the model's %s has no encoder", dvk_image_codec_name(c->kind));
  if (c->kind == DVK_CODEC_VQGAN) return dvk_vqgan_encode(ctx, arena, &c->u.vqgan, rgb, codes, logits, NULL);
  return dvk_dvae_encode(ctx, arena, &c->u.dvae.enc, rgb, codes, logits);
}
