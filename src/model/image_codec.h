/* One interface over the image tokenizers a model file may hold (docs/model-format.md §3 dVAE, §8.2 VQGAN):
 * decode codes -> RGB8, encode RGB8 -> codes, and the sizes the generation code needs. The generation code
 * asks this interface, never a particular decoder. Tagged struct: `kind` says which member is loaded. */
#ifndef DVK_MODEL_IMAGE_CODEC_H
#define DVK_MODEL_IMAGE_CODEC_H

#include "model/dvae.h"
#include "model/dvae_enc.h"
#include "model/vqgan.h"

typedef enum dvk_image_codec_kind { DVK_CODEC_NONE = 0, DVK_CODEC_DVAE, DVK_CODEC_VQGAN } dvk_image_codec_kind;

typedef struct dvk_image_codec {
  dvk_image_codec_kind kind;
  uint32_t grid;        /* G: codes per side */
  uint32_t image_size;  /* R: pixels per side */
  uint32_t vocab;       /* codes are in [0, vocab) */
  int has_encoder;      /* encode is available */
  union {
    struct {
      dvk_dvae dec;
      dvk_dvae_encoder enc; /* when has_encoder */
    } dvae;
    dvk_vqgan vqgan;
  } u;
} dvk_image_codec;

/* The name of the kind for messages: "dVAE", "VQGAN" ("none"). */
const char *dvk_image_codec_name(dvk_image_codec_kind kind);

/* Loads the codec from L->file: the VQGAN of config vqgan (from dvk_vqgan_config_read) when vqgan is not NULL,
 * else the dVAE of config dvae (decoder, and the encoder when dvae->has_encoder) with grid G. Errors:
 * DVK_ERR_MODEL_FORMAT (message in L->err naming the file and the tensor), DVK_ERR_*. On failure call
 * dvk_image_codec_free. */
dvk_status dvk_image_codec_load(dvk_loader *L, const dvk_vqgan_config *vqgan, const dvk_dvae_config *dvae,
                                uint32_t grid, dvk_image_codec *c);
void dvk_image_codec_free(dvk_image_codec *c);

/* Device bytes dvk_image_codec_decode takes from its arena (any n: one image at a time), an upper bound. */
uint64_t dvk_image_codec_decode_bytes(const dvk_image_codec *c);

/* codes int32 [n, G, G] (host) -> rgb RGB8 [n, R, R, 3] or planar f32 [n, 3, R, R] in [0, 1] (exactly one non-NULL).
 * Scratch from arena. Blocking. cancel (NULL: none) is checked before each image and after each decoder stage
 * (dvk_check_cancel). Errors: those of dvk_dvae_decode / dvk_vqgan_decode, DVK_ERR_CANCELLED. */
dvk_status dvk_image_codec_decode(dvk_device *ctx, dvk_arena *arena, const dvk_image_codec *c, const int32_t *codes,
                                  uint32_t n, uint8_t *rgb, float *planar, const volatile int *cancel);

/* One image rgb RGB8 [R, R, 3] -> codes int32 [G, G] (argmax of logits, lowest on ties) and, when not NULL, logits
 * f32 [vocab, G, G] (dVAE: the encoder's logits; VQGAN: dvk_vqgan_encode's). Errors: DVK_ERR_UNSUPPORTED (no
 * encoder), those of dvk_dvae_encode / dvk_vqgan_encode. */
dvk_status dvk_image_codec_encode(dvk_device *ctx, dvk_arena *arena, const dvk_image_codec *c, const uint8_t *rgb,
                                  int32_t *codes, float *logits);

#endif
