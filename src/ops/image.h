/* The image decoders' non-convolution ops on NCHW f32 images: 2x nearest upsampling, 2x2 max-pooling, the
 * output maps to pixels (dVAE, VQGAN), and the decoder's input "conv" on one-hot codes as an embedding gather.
 * Shaders: upsample2x.comp, maxpool2x2.comp, subsample2x.comp, dvae_map.comp, dvae_gather.comp.
 * Every op records its dispatches (split so that no binding exceeds maxStorageBufferRange) and returns
 * DVK_ERR_INVALID_ARGUMENT for empty shapes or tensors smaller than stated, DVK_ERR_* from Vulkan. */
#ifndef DVK_OPS_IMAGE_H
#define DVK_OPS_IMAGE_H

#include <stdint.h>

#include "vk/dispatch.h"

/* 2x nearest upsampling (nn.Upsample(scale_factor=2, mode='nearest')): y[pl, i, j] = x[pl, i/2, j/2].
 * x: f32 [planes, h, w]; y: f32 [planes, 2h, 2w] (planes = B * C of an NCHW tensor). y must not overlap x. */
dvk_status dvk_op_upsample2x(dvk_device *ctx, dvk_tensor y, dvk_tensor x, uint64_t planes, uint32_t h, uint32_t w);

/* 2x2 max-pool with stride 2 (nn.MaxPool2d(2), floor: an odd last row/column is dropped):
 * y[pl, i, j] = max(x[pl, 2i + a, 2j + b], a, b in {0, 1}). x: f32 [planes, h, w]; y: f32 [planes, h/2, w/2];
 * h, w >= 2. y must not overlap x. */
dvk_status dvk_op_maxpool2x2(dvk_device *ctx, dvk_tensor y, dvk_tensor x, uint64_t planes, uint32_t h, uint32_t w);

/* 2x subsampling at odd pixels: y[pl, i, j] = x[pl, 2i + 1, 2j + 1]. x: f32 [planes, h, w] with h, w even;
 * y: f32 [planes, h/2, w/2]. Applied to a stride-1 3x3 conv's output it gives the stride-2 conv of the input
 * zero-padded by one at the right and bottom (the VQGAN encoder's downsampling). y must not overlap x. */
dvk_status dvk_op_subsample2x(dvk_device *ctx, dvk_tensor y, dvk_tensor x, uint64_t planes, uint32_t h, uint32_t w);

/* dVAE output map (dall_e: unmap_pixels(sigmoid(x[:, :3]))): v = clamp((sigmoid(x[b, c, i, j]) - 0.1) / 0.8,
 * 0, 1) for c in 0..2 of the decoder output x: f32 [B, 6, h, w] (channels 3..5 are ignored).
 * planar: y f32 [B, 3, h, w] in [0, 1]. */
dvk_status dvk_op_dvae_map_planar(dvk_device *ctx, dvk_tensor y, dvk_tensor x, uint32_t batch, uint32_t h, uint32_t w);

/* As dvk_op_dvae_map_planar, interleaved 8-bit: y [B, h, w, 3] bytes (RGB, for PNG), byte = floor(v*255 + 0.5).
 * The device writes whole 32-bit words: y must hold B*h*w*3 bytes rounded up to a multiple of 4 (the bytes
 * past B*h*w*3 are set to 0). */
dvk_status dvk_op_dvae_map_rgb8(dvk_device *ctx, dvk_tensor y, dvk_tensor x, uint32_t batch, uint32_t h, uint32_t w);

/* The VQGAN output map (docs/model-format.md §8.2): v = clamp((x[b, c, i, j] - lo) / (hi - lo), 0, 1) for c in
 * 0..2 of x: f32 [B, channels, h, w] (channels >= 3; the others are ignored); hi - lo is computed in f32.
 * rgb8 0: y f32 [B, 3, h, w]; rgb8 1: y RGB8 [B, h, w, 3] bytes as dvk_op_dvae_map_rgb8 (same rounding and
 * word rule). Errors as above, and hi == lo. */
dvk_status dvk_op_linear_map(dvk_device *ctx, int rgb8, dvk_tensor y, dvk_tensor x, uint32_t batch, uint32_t channels,
                             uint32_t h, uint32_t w, float lo, float hi);

/* The dVAE decoder's input 1x1 conv on one-hot codes, as a gather: y[b, c, i, j] = wt[code[b, i, j], c] + bias[c].
 * codes: int32 [B, g, g] (row-major); wt: [vocab, n_init], the conv weight [n_init, vocab, 1, 1] transposed,
 * f32, or with weight_f16 IEEE halves packed two per 32-bit word (element e in word e/2, low half first;
 * vocab*n_init*2 bytes rounded up to 4); bias f32 [n_init]; y f32 [B, n_init, g, g]. A code outside
 * [0, vocab) makes its output channels NaN. */
dvk_status dvk_op_dvae_gather(dvk_device *ctx, dvk_tensor y, dvk_tensor codes, dvk_tensor wt, dvk_tensor bias,
                              uint32_t batch, uint32_t g, uint32_t vocab, uint32_t n_init, int weight_f16);

#endif
