/* Activations and the sampling helpers of the transformer: GELU (erf form), row softmax, greedy
 * argmax over a column range of logits, and reading a vocabulary slice of logits back to the host. */
#ifndef DVK_OPS_ACTIVATION_H
#define DVK_OPS_ACTIVATION_H

#include "vk/dispatch.h"

/* GELU, exact erf form (Hendrycks & Gimpel 2016; torch.nn.GELU(approximate='none')):
 *   y[i] = x[i] * (1 + erf(x[i] / sqrt 2)) / 2,  i < n.
 * erf is approximated in the shader (Maclaurin series for |u| < 0.5, Numerical Recipes' erfcc
 * Chebyshev fit above; see shaders/gelu.comp): GELU absolute error <= 4e-7 in fp32.
 * x, y: f32 [n] (y may be x). Records one dispatch per binding-range chunk.
 * Errors: DVK_ERR_INVALID_ARGUMENT (a tensor holds fewer than n floats). */
dvk_status dvk_op_gelu(dvk_ctx *ctx, dvk_tensor y, dvk_tensor x, uint32_t n);

/* Row softmax with a scale (1 / temperature):
 *   y[r, c] = exp(scale x[r, c] - m_r) / sum_c' exp(scale x[r, c'] - m_r),  m_r = max_c scale x[r, c].
 * x, y: f32 [rows, n] row-major (y may be x). fp32 sums. Records one dispatch per chunk of rows.
 * Errors: DVK_ERR_INVALID_ARGUMENT (n == 0, tensors too small, a row over the binding range). */
dvk_status dvk_op_softmax(dvk_ctx *ctx, dvk_tensor y, dvk_tensor x, uint32_t rows, uint32_t n, float scale);

/* Greedy choice: out[r] = argmax_{0 <= c < n} x[r, c0 + c] (relative to c0; the smallest index among
 * equal maxima; NaN entries are ignored; a row of all NaN gives 0). x: f32 [rows, stride] row-major
 * (e.g. logits [B, V_text + V_image] with the image vocabulary at c0 = V_text); out: uint32 [rows].
 * Records one dispatch per chunk of rows. Errors: DVK_ERR_INVALID_ARGUMENT (c0 + n > stride, n == 0,
 * tensors too small). */
dvk_status dvk_op_argmax(dvk_ctx *ctx, dvk_tensor out, dvk_tensor x, uint32_t rows, uint32_t stride, uint32_t c0,
                         uint32_t n);

/* Reads x[r, c0 .. c0+n-1] for r < rows into host[r * n ...] (host: float [rows, n]); x: f32
 * [rows, stride] on the device. Blocking (flushes recorded work first); one copy when the slice is
 * contiguous (c0 == 0 && n == stride), else one per row. Errors: DVK_ERR_INVALID_ARGUMENT
 * (c0 + n > stride, x too small), DVK_ERR_* from Vulkan. */
dvk_status dvk_read_logits(dvk_ctx *ctx, float *host, dvk_tensor x, uint32_t rows, uint32_t stride, uint32_t c0,
                           uint32_t n);

#endif
