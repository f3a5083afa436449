/* The dVAE decoder on the device (OpenAI's architecture, reference/dalle-architecture.md §1.4):
 * codes [B, G, G] -> input 1x1 conv as an embedding gather -> group_count groups of residual blocks
 * (id_path + post_gain * res_path, res_path = 4 x (ReLU, conv) with kernels 1, 3, 3, 3) with 2x nearest
 * upsampling between groups -> ReLU + 1x1 conv to 6 channels -> RGB8 = clamp((sigmoid(mu) - 0.1) / 0.8).
 * Images are decoded one at a time, so activation memory does not grow with the batch. */
#ifndef DVK_MODEL_DVAE_H
#define DVK_MODEL_DVAE_H

#include "model/config.h"
#include "model/weights.h"
#include "ops/conv.h"

typedef struct dvk_dvae_conv {
  dvk_tensor w;     /* conv2d device layout (ops/conv.h) */
  dvk_tensor b;     /* f32 [cout] */
  uint32_t cin, cout, k;
  int f16;
} dvk_dvae_conv;

typedef struct dvk_dvae_block {
  int has_id;           /* id_path is a 1x1 conv (channels change), else identity */
  dvk_dvae_conv id, conv[4];
} dvk_dvae_block;

typedef struct dvk_dvae {
  dvk_dvae_config cfg;
  uint32_t grid;           /* G = image_size / 2^(group_count - 1) */
  dvk_tensor input_w;      /* [vocab, n_init] f32 or f16 (gather table) */
  int input_f16;
  dvk_tensor input_b;      /* f32 [n_init] */
  dvk_dvae_block *blocks;  /* [group_count * n_blk_per_group], group-major */
  dvk_dvae_conv output;    /* n_hid -> 6 channels, 1x1 */
  uint64_t act_floats;     /* largest activation, floats (one image) */
} dvk_dvae;

/* Loads the dvae.dec.* tensors of docs/model-format.md §3 (exact shapes) and repacks conv weights into
 * the conv2d device layout. Errors: DVK_ERR_MODEL_FORMAT (message in L->err), DVK_ERR_*. */
dvk_status dvk_dvae_load(dvk_loader *L, const dvk_dvae_config *cfg, uint32_t grid, dvk_dvae *v);
void dvk_dvae_free(dvk_dvae *v);

/* Decodes n images: codes int32 [n, G, G] (host) -> pixels (host, R = image_size), either rgb: RGB8
 * [n, R, R, 3] bytes, or planar: f32 [n, 3, R, R] in [0, 1] (pass exactly one, the other NULL).
 * Scratch buffers come from arena (about 4 * act_floats * 4 bytes). Blocking. */
dvk_status dvk_dvae_decode(dvk_ctx *ctx, dvk_arena *arena, const dvk_dvae *v, const int32_t *codes, uint32_t n,
                           uint8_t *rgb, float *planar);

#endif
