/* The dVAE encoder on the device (OpenAI's architecture, docs/design.md §3): an image ->
 * its grid of codebook tokens, the inverse direction of dvae.h. Pixels in [0, 1] are first mapped to
 * [0.1, 0.9] (dall_e's map_pixels: 0.8 x + 0.1), then: 7x7 input conv -> group_count groups of residual blocks
 * (id_path + post_gain * res_path, res_path = 4 x (ReLU, conv) with kernels 3, 3, 3, 1), 2x2 max-pooling between
 * groups -> ReLU + 1x1 conv to vocab_size logits per grid cell -> code = argmax (as DALL-E encodes its training
 * images). Used for image prompts: the codes of an image's first rows become the start of generated images. */
#ifndef DVK_MODEL_DVAE_ENC_H
#define DVK_MODEL_DVAE_ENC_H

#include "model/dvae.h"

typedef struct dvk_dvae_encoder {
  dvk_dvae_config cfg;
  uint32_t grid;           /* G = image_size / 2^(group_count - 1) */
  dvk_dvae_conv input;     /* input_channels -> n_hid, 7x7 */
  dvk_dvae_block *blocks;  /* [group_count * n_blk_per_group], group-major */
  dvk_dvae_conv output;    /* n_hid * 2^(group_count-1) -> vocab_size, 1x1 */
  uint64_t act_floats;     /* largest activation, floats (one image) */
} dvk_dvae_encoder;

/* Loads the dvae.enc.* tensors of docs/model-format.md §3 (exact shapes; cfg->has_encoder must be set).
 * Errors: DVK_ERR_MODEL_FORMAT (message in L->err), DVK_ERR_*. */
dvk_status dvk_dvae_encoder_load(dvk_loader *L, const dvk_dvae_config *cfg, uint32_t grid, dvk_dvae_encoder *e);
void dvk_dvae_encoder_free(dvk_dvae_encoder *e);

/* Encodes one image: rgb RGB8 [R, R, 3] bytes (R = image_size, top row first; byte / 255 = the pixel in [0, 1])
 * -> codes int32 [G, G] (row-major, argmax over the vocabulary, the lowest index on ties) and, when logits is not
 * NULL, the encoder's logits f32 [vocab_size, G, G] (host). Scratch buffers come from arena (about
 * 4 * act_floats * 4 bytes). Blocking. */
dvk_status dvk_dvae_encode(dvk_device *ctx, dvk_arena *arena, const dvk_dvae_encoder *e, const uint8_t *rgb,
                           int32_t *codes, float *logits);

#endif
