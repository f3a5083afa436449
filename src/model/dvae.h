/* The dVAE decoder on the device (OpenAI's architecture, docs/design.md §3):
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

/* Repacks a conv weight src (PyTorch [cout, cin, k, k], f32 or with f16 IEEE half bits) into the conv2d device
 * layout and uploads it to c->w (c->b is left unset); name is for messages. Errors: DVK_ERR_OUT_OF_HOST_MEMORY,
 * device errors (message in L->err). */
dvk_status dvk_conv_upload(dvk_loader *L, const char *name, const void *src, int f16, uint32_t cin, uint32_t cout,
                           uint32_t k, dvk_dvae_conv *c);

/* Loads a conv from tensors wname [cout, cin, k, k] (f32 or f16, exact shape) and bname f32 [cout], the weight
 * repacked into the conv2d device layout. Errors: DVK_ERR_MODEL_FORMAT (message in L->err), DVK_ERR_*. */
dvk_status dvk_conv_load_named(dvk_loader *L, const char *wname, const char *bname, uint32_t cin, uint32_t cout,
                               uint32_t k, dvk_dvae_conv *c);

/* Loads one conv of the dVAE: `prefix`.w [cout, cin, k, k] (f32 or f16, exact shape) and `prefix`.b [cout],
 * the weight repacked into the conv2d device layout. Errors: DVK_ERR_MODEL_FORMAT (message in L->err), DVK_ERR_*. */
dvk_status dvk_dvae_conv_load(dvk_loader *L, const char *prefix, uint32_t cin, uint32_t cout, uint32_t k,
                              dvk_dvae_conv *c);

/* Records y = c(relu ? ReLU(x) : x) on one res x res image (NCHW f32, batch 1); with residual, y = *residual +
 * gain * (conv + bias) (residual may be y itself). */
dvk_status dvk_dvae_conv_run(dvk_device *ctx, const dvk_dvae_conv *c, uint32_t res, int relu, float gain, dvk_tensor y,
                             dvk_tensor x, const dvk_tensor *residual);

/* Loads residual block `i` of group `g` (1-based) of part "dec" or "enc": dvae.PART.blocks.group_G.block_I.id_path
 * (a 1x1 conv, only when n_in != n_out) and res_path.conv_1..4 (n_in -> n_out/4 -> n_out/4 -> n_out/4 -> n_out,
 * kernel sizes `kernels`: decoder 1, 3, 3, 3; encoder 3, 3, 3, 1). Errors as dvk_dvae_conv_load. */
dvk_status dvk_dvae_block_load(dvk_loader *L, const char *part, uint32_t g, uint32_t i, uint32_t n_in, uint32_t n_out,
                               const uint32_t kernels[4], dvk_dvae_block *b);

/* Records one residual block on a res x res image: x <- id_path(x) + gain * res_path(x), res_path = 4 x (ReLU,
 * conv). In place in *x without an id_path; with one, the result lands in *y and the two handles swap (so *x
 * holds the output either way). h1, h2: scratch of n_out/4 channels. */
dvk_status dvk_dvae_block_run(dvk_device *ctx, const dvk_dvae_block *b, uint32_t res, float gain, dvk_tensor *x,
                              dvk_tensor *y, dvk_tensor h1, dvk_tensor h2);

/* Loads the dvae.dec.* tensors of docs/model-format.md §3 (exact shapes) and repacks conv weights into
 * the conv2d device layout. Errors: DVK_ERR_MODEL_FORMAT (message in L->err), DVK_ERR_*. */
dvk_status dvk_dvae_load(dvk_loader *L, const dvk_dvae_config *cfg, uint32_t grid, dvk_dvae *v);
void dvk_dvae_free(dvk_dvae *v);

/* Decodes n images: codes int32 [n, G, G] (host) -> pixels (host, R = image_size), either rgb: RGB8
 * [n, R, R, 3] bytes, or planar: f32 [n, 3, R, R] in [0, 1] (pass exactly one, the other NULL).
 * Scratch buffers come from arena (dvk_dvae_decode_bytes). Blocking. cancel (NULL: none) is checked before each
 * image and after each group (DVK_ERR_CANCELLED, dvk_check_cancel). */
dvk_status dvk_dvae_decode(dvk_device *ctx, dvk_arena *arena, const dvk_dvae *v, const int32_t *codes, uint32_t n,
                           uint8_t *rgb, float *planar, const volatile int *cancel);

/* Device bytes dvk_dvae_decode allocates (any n: it decodes one image at a time), an upper bound: four
 * activation buffers, the codes and the output image. */
uint64_t dvk_dvae_decode_bytes(const dvk_dvae *v);

#endif
