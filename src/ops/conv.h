/* 2-D convolution for the dVAE: stride 1, "same" zero padding, odd square kernels, NCHW f32 activations,
 * f32 or f16 weights, fp32 accumulation, optional ReLU on the input and a residual epilogue.
 * Shader: shaders/conv2d.comp. */
#ifndef DVK_OPS_CONV_H
#define DVK_OPS_CONV_H

#include <stdint.h>

#include "vk/dispatch.h"

/* Register tiling of conv2d.comp (specialization constants). wg: invocations per workgroup; tp: output
 * pixels per invocation (consecutive along a row); tc: output channels per invocation; texel: 1 reads x
 * and the weights through uniform texel buffers (faster on lavapipe; needs tc % 4 == 0, and falls back to
 * storage buffers by itself when a window exceeds maxTexelBufferElements). */
typedef struct dvk_conv2d_tile {
  uint32_t wg, tp, tc, texel;
} dvk_conv2d_tile;

typedef struct dvk_conv2d_params {
  uint32_t batch;       /* B >= 1 */
  uint32_t cin, cout;   /* channels, >= 1 */
  uint32_t h, w;        /* image size, >= 1, same for input and output */
  uint32_t k;           /* kernel size: odd, 1..15 */
  int weight_f16;       /* 0: f32 weights; 1: IEEE half weights (packed two per 32-bit word) */
  int relu_input;       /* 1: x is read through ReLU (the pre-activation of the dVAE res path) */
  int residual;         /* 1: y = r + gain * (conv + bias); 0: y = conv + bias (r unused) */
  float gain;           /* residual gain (dVAE post_gain = 1 / (groups * blocks per group)^2) */
  const dvk_conv2d_tile *tile; /* NULL: the default for the device class (dvk_conv2d_default_tile) */
} dvk_conv2d_params;

/* Output channels of one device weight row: cout rounded up to a multiple of 8. */
uint32_t dvk_conv2d_cout_padded(uint32_t cout);

/* The device weight layout: wd[((ci * k + dy) * k + dx) * coutp + co] with coutp = dvk_conv2d_cout_padded(cout)
 * (output channel fastest; the padding channels co >= cout are zero), f32, or IEEE halves in that element
 * order packed two per 32-bit word (element i in word i / 2, low half first). Returns its size in bytes:
 * cin*k*k*coutp*4 (f32) or cin*k*k*coutp*2 (f16). */
uint64_t dvk_conv2d_weight_bytes(uint32_t cout, uint32_t cin, uint32_t k, int f16);

/* Repacks PyTorch Conv2d weights src [cout, cin, k, k] (row-major, kw fastest; f32, or f16 bit patterns)
 * into the device layout dst (dvk_conv2d_weight_bytes bytes, padding zeroed). Host-only, cannot fail. */
void dvk_conv2d_repack_f32(float *dst, const float *src, uint32_t cout, uint32_t cin, uint32_t k);
void dvk_conv2d_repack_f16(uint16_t *dst, const uint16_t *src, uint32_t cout, uint32_t cin, uint32_t k);

/* The tiling conv2d uses on this device for p when p->tile is NULL (by ctx->device_class and the image
 * width; measured with bench/bench_conv.c). p->tile is ignored. */
dvk_conv2d_tile dvk_conv2d_default_tile(const dvk_device *ctx, const dvk_conv2d_params *p);

/* y[b, co, i, j] = f(conv) where conv = bias[co] + sum_{ci, dy, dx} w[co, ci, dy, dx] *
 *   g(x[b, ci, i + dy - k/2, j + dx - k/2]) (zero outside the image; PyTorch Conv2d(padding=k/2));
 * g = ReLU when p->relu_input, else identity; f(v) = v, or r[b, co, i, j] + gain * v when p->residual.
 *   x: f32 [B, cin, h, w]; y, r: f32 [B, cout, h, w]; all NCHW row-major (w fastest);
 *   w: device layout above (dvk_conv2d_weight_bytes bytes); bias: f32 [cout].
 * r may be the very same tensor as y (in-place residual add); x must not overlap y.
 * Operands larger than maxStorageBufferRange are handled by splitting the work by images, and within an
 * image by output channels (y) and by input channels (x, accumulating the partial sums into y), so any
 * size fits as long as one h*w plane does. Records one or more dispatches.
 * Errors: DVK_ERR_INVALID_ARGUMENT (bad shape or kernel size, tensor too small, a plane over the binding
 * limit), DVK_ERR_* from Vulkan. */
dvk_status dvk_op_conv2d(dvk_device *ctx, const dvk_conv2d_params *p, dvk_tensor y, dvk_tensor x, dvk_tensor w,
                         dvk_tensor bias, dvk_tensor r);

#endif
