/* Single-head attention over the pixels of one image (the VQGAN's AttnBlock, docs/model-format.md §8.2), and
 * the two ops it is built from: a matmul of activations with arbitrary strides and a row softmax.
 * Shaders: gemm_strided.comp, softmax_rows.comp. All f32 with fp32 accumulation; the softmax is f32. */
#ifndef DVK_OPS_SPATIAL_ATTN_H
#define DVK_OPS_SPATIAL_ATTN_H

#include <stdint.h>

#include "vk/dispatch.h"

/* c[i, j] = alpha * sum_{kk < k} a[a_off + i*a_si + kk*a_sk] * b[b_off + kk*b_sk + j*b_sn], written at
 * c[c_off + i*ldc + j], for i < m, j < n. Offsets and strides in elements from each tensor's start (any
 * stride, 0 included, so transposed operands need no copy). a and b may be the same tensor; c must not
 * overlap either. */
typedef struct dvk_gemm_strided {
  uint32_t m, n, k;
  dvk_tensor a, b, c;
  uint64_t a_off, b_off, c_off;
  uint32_t a_si, a_sk, b_sk, b_sn, ldc;
  float alpha;
} dvk_gemm_strided;

/* Records g (one dispatch). Errors: DVK_ERR_INVALID_ARGUMENT (empty shape, an operand's elements outside its
 * tensor or over maxStorageBufferRange), DVK_ERR_* from Vulkan. */
dvk_status dvk_op_gemm_strided(dvk_device *ctx, const dvk_gemm_strided *g);

/* In place, f32: x[r, :] = softmax(x[r, :]) over n columns (max subtracted), x f32 [rows, n] row-major.
 * Errors: DVK_ERR_INVALID_ARGUMENT (empty shape, x too small, x over maxStorageBufferRange). */
dvk_status dvk_op_softmax_rows(dvk_device *ctx, dvk_tensor x, uint32_t rows, uint32_t n);

/* The attention core of one image: qkv f32 [3c, npos] (q in rows 0..c-1, k in c..2c-1, v in 2c..3c-1; a
 * position's channels are a column: the 1x1 conv output of an NCHW image), scores scratch f32 [npos, npos],
 * o f32 [c, npos]:  P = softmax_j(q[:, i] . k[:, j] / sqrt(c)) (f32), o[:, i] = sum_j P[i, j] v[:, j].
 * o must not overlap qkv or scores. Errors: as dvk_op_gemm_strided. */
dvk_status dvk_op_spatial_attention(dvk_device *ctx, dvk_tensor o, dvk_tensor qkv, dvk_tensor scores, uint32_t c,
                                    uint32_t npos);

#endif
