/* Normalization ops: LayerNorm over the last dimension. */
#ifndef DVK_OPS_NORM_H
#define DVK_OPS_NORM_H

#include "vk/dispatch.h"

/* LayerNorm (Ba et al. 2016) over the last dimension, as torch.nn.LayerNorm:
 *   y[r, c] = (x[r, c] - mean_r) / sqrt(var_r + eps) * w[c] + b[c],
 * mean_r and the biased variance var_r over c < d, the variance in a second pass over (x - mean)^2;
 * fp32 accumulation. x, y: f32 [rows, d] row-major, c fastest (y may be x: in place); w, b: f32 [d].
 * eps: usually 1e-5. Records one dispatch per chunk of rows that fits maxStorageBufferRange.
 * Errors: DVK_ERR_INVALID_ARGUMENT (a tensor too small, d == 0, one row over the binding range). */
dvk_status dvk_op_layernorm(dvk_device *ctx, dvk_tensor y, dvk_tensor x, dvk_tensor w, dvk_tensor b, uint32_t rows,
                            uint32_t d, float eps);

/* y[r, c] += LayerNorm(x)[r, c], as dvk_op_layernorm otherwise (x and y must not overlap): the residual add
 * of a sandwich norm (docs/design.md §3) in the norm's own dispatch. Errors: as dvk_op_layernorm. */
dvk_status dvk_op_layernorm_add(dvk_device *ctx, dvk_tensor y, dvk_tensor x, dvk_tensor w, dvk_tensor b, uint32_t rows,
                                uint32_t d, float eps);

#endif
