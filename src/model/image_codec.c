/* Image tokenizer interface. See image_codec.h. */
#include "model/image_codec.h"

#include <stdio.h>
#include <string.h>

const char *dvk_image_codec_name(dvk_image_codec_kind kind) {
  return kind == DVK_CODEC_DVAE ? "dVAE" : kind == DVK_CODEC_VQGAN ? "VQGAN" : "none";
}

dvk_image_codec_kind dvk_image_codec_kind_of(const gguf_file *f) {
  if (dvk_vqgan_present(f)) return DVK_CODEC_VQGAN;
  return gguf_find_key(f, "dvae.n_hid") ? DVK_CODEC_DVAE : DVK_CODEC_NONE;
}

dvk_status dvk_image_codec_load(dvk_loader *L, dvk_image_codec_kind kind, const dvk_dvae_config *dvae, uint32_t grid,
                                dvk_image_codec *c) {
  memset(c, 0, sizeof *c);
  if (kind == DVK_CODEC_DVAE) {
    c->kind = kind;
    c->grid = grid, c->image_size = dvae->image_size, c->vocab = dvae->vocab_size;
    c->has_encoder = dvae->has_encoder;
    DVK_TRY(dvk_dvae_load(L, dvae, grid, &c->u.dvae.dec));
    return dvae->has_encoder ? dvk_dvae_encoder_load(L, dvae, grid, &c->u.dvae.enc) : DVK_OK;
  }
  if (kind != DVK_CODEC_VQGAN) {
    if (L->err) snprintf(L->err, L->errlen, "%s: no image decoder (neither dvae.* nor vqgan.* keys)", gguf_name(L->file));
    return DVK_ERR_MODEL_FORMAT;
  }
  dvk_vqgan_config vc;
  DVK_TRY(dvk_vqgan_config_read(L->file, &vc, L->err, L->errlen));
  const uint32_t g = vc.resolution >> (vc.n_levels - 1);
  if (grid && g != grid) {
    if (L->err)
      snprintf(L->err, L->errlen, "%s: the VQGAN's grid (vqgan.resolution %u / 2^%u = %u) differs from the "
               "transformer's grid %u", gguf_name(L->file), vc.resolution, vc.n_levels - 1, g, grid);
    return DVK_ERR_MODEL_FORMAT;
  }
  c->kind = kind;
  c->grid = g, c->image_size = vc.resolution, c->vocab = vc.n_embed, c->has_encoder = vc.has_encoder;
  return dvk_vqgan_load(L, &vc, &c->u.vqgan);
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

uint64_t dvk_image_codec_scratch_bytes(const dvk_image_codec *c) {
  if (c->kind == DVK_CODEC_VQGAN) return dvk_vqgan_scratch_bytes(&c->u.vqgan);
  if (c->kind != DVK_CODEC_DVAE) return 0;
  uint64_t act = c->u.dvae.dec.act_floats;
  if (c->has_encoder && c->u.dvae.enc.act_floats > act) act = c->u.dvae.enc.act_floats;
  return 4 * act * 4 + (uint64_t)c->image_size * c->image_size * 16;
}

dvk_status dvk_image_codec_decode(dvk_ctx *ctx, dvk_arena *arena, const dvk_image_codec *c, const int32_t *codes,
                                  uint32_t n, uint8_t *rgb, float *planar) {
  if (c->kind == DVK_CODEC_VQGAN) return dvk_vqgan_decode(ctx, arena, &c->u.vqgan, codes, n, rgb, planar);
  return dvk_dvae_decode(ctx, arena, &c->u.dvae.dec, codes, n, rgb, planar);
}

dvk_status dvk_image_codec_encode(dvk_ctx *ctx, dvk_arena *arena, const dvk_image_codec *c, const uint8_t *rgb,
                                  int32_t *codes, float *logits) {
  if (!c->has_encoder)
    return dvk_fail(ctx, DVK_ERR_UNSUPPORTED, "the model's %s has no encoder", dvk_image_codec_name(c->kind));
  if (c->kind == DVK_CODEC_VQGAN) return dvk_vqgan_encode(ctx, arena, &c->u.vqgan, rgb, codes, logits, NULL);
  return dvk_dvae_encode(ctx, arena, &c->u.dvae.enc, rgb, codes, logits);
}
