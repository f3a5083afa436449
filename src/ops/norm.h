/* Normalization ops: LayerNorm over the last dimension. Also the row-chunking helper that the
 * transformer ops use to keep every binding within maxStorageBufferRange. */
#ifndef DVK_OPS_NORM_H
#define DVK_OPS_NORM_H

#include "vk/dispatch.h"

/* The most rows (<= total) of `row_bytes` bytes each that one binding may span: at most
 * maxStorageBufferRange bytes, and a multiple of the rows needed so that a chunk boundary
 * (k * rows * row_bytes) stays aligned to minStorageBufferOffsetAlignment. Returns `total` when all
 * rows fit, 0 when not even one aligned group of rows fits (the caller reports the error).
 * Several operands chunked together: take the minimum over them of dvk_rows_per_bind, then round it
 * down to a multiple of every operand's dvk_rows_align (all are powers of two, so the largest does). */
uint32_t dvk_rows_per_bind(const dvk_ctx *ctx, uint64_t row_bytes, uint32_t total);

/* The smallest number of rows of `row_bytes` bytes whose total is a multiple of the storage offset
 * alignment (a power of two, since the alignment is). */
uint32_t dvk_rows_align(const dvk_ctx *ctx, uint64_t row_bytes);

/* LayerNorm (Ba et al. 2016) over the last dimension, as torch.nn.LayerNorm:
 *   y[r, c] = (x[r, c] - mean_r) / sqrt(var_r + eps) * w[c] + b[c],
 * mean_r and the biased variance var_r over c < d, the variance in a second pass over (x - mean)^2;
 * fp32 accumulation. x, y: f32 [rows, d] row-major, c fastest (y may be x: in place); w, b: f32 [d].
 * eps: usually 1e-5. Records one dispatch per chunk of rows that fits maxStorageBufferRange.
 * Errors: DVK_ERR_INVALID_ARGUMENT (a tensor too small, d == 0, one row over the binding range). */
dvk_status dvk_op_layernorm(dvk_ctx *ctx, dvk_tensor y, dvk_tensor x, dvk_tensor w, dvk_tensor b, uint32_t rows,
                            uint32_t d, float eps);

#endif
