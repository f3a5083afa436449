/* GELU, softmax, argmax, logits read-back. See activation.h. */
#include "ops/activation.h"

#include "ops/util.h"
#include "transformer_shared.h"

dvk_status dvk_op_gelu(dvk_ctx *ctx, dvk_tensor y, dvk_tensor x, uint32_t n) {
  DVK_TRY(dvk_need_bytes(ctx, "gelu", "x", x, (VkDeviceSize)n * 4));
  DVK_TRY(dvk_need_bytes(ctx, "gelu", "y", y, (VkDeviceSize)n * 4));
  uint32_t chunk = dvk_rows_per_bind(ctx, 4, n);
  for (uint32_t i0 = 0; i0 < n; i0 += chunk) {
    uint32_t m = n - i0 < chunk ? n - i0 : chunk;
    dvk_pc_gelu pc = {.n = m};
    dvk_dispatch_desc d = {.shader = "gelu", .n_bindings = 2, .push = &pc, .push_size = sizeof pc};
    d.bindings[0].t = dvk_bind_range(dvk_tensor_slice(x, (VkDeviceSize)i0 * 4, x.size - (VkDeviceSize)i0 * 4),
                                     (VkDeviceSize)m * 4);
    d.bindings[1].t = dvk_bind_range(dvk_tensor_slice(y, (VkDeviceSize)i0 * 4, y.size - (VkDeviceSize)i0 * 4),
                                     (VkDeviceSize)m * 4);
    dvk_groups_1d(ctx, dvk_div_up(m, 256), d.groups);
    DVK_TRY(dvk_dispatch(ctx, &d));
  }
  return DVK_OK;
}

dvk_status dvk_op_softmax(dvk_ctx *ctx, dvk_tensor y, dvk_tensor x, uint32_t rows, uint32_t n, float scale) {
  if (n == 0) return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "softmax: rows of 0 elements");
  VkDeviceSize row_bytes = (VkDeviceSize)n * 4;
  DVK_TRY(dvk_need_bytes(ctx, "softmax", "x", x, row_bytes * rows));
  DVK_TRY(dvk_need_bytes(ctx, "softmax", "y", y, row_bytes * rows));
  uint32_t chunk = dvk_rows_per_bind(ctx, row_bytes, rows);
  if (rows && chunk == 0) return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "softmax: row over the binding range");
  for (uint32_t r0 = 0; r0 < rows; r0 += chunk) {
    uint32_t m = rows - r0 < chunk ? rows - r0 : chunk;
    dvk_pc_softmax pc = {.rows = m, .n = n, .scale = scale};
    dvk_dispatch_desc d = {.shader = "softmax", .n_bindings = 2, .push = &pc, .push_size = sizeof pc};
    d.bindings[0].t = dvk_tensor_slice(x, row_bytes * r0, row_bytes * m);
    d.bindings[1].t = dvk_tensor_slice(y, row_bytes * r0, row_bytes * m);
    dvk_groups_1d(ctx, m, d.groups);
    DVK_TRY(dvk_dispatch(ctx, &d));
  }
  return DVK_OK;
}

dvk_status dvk_op_argmax(dvk_ctx *ctx, dvk_tensor out, dvk_tensor x, uint32_t rows, uint32_t stride, uint32_t c0,
                         uint32_t n) {
  if (n == 0 || (uint64_t)c0 + n > stride)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "argmax: columns [%u, %u + %u) outside rows of %u", c0, c0, n,
                    stride);
  VkDeviceSize row_bytes = (VkDeviceSize)stride * 4;
  DVK_TRY(dvk_need_bytes(ctx, "argmax", "x", x, row_bytes * rows));
  DVK_TRY(dvk_need_bytes(ctx, "argmax", "out", out, (VkDeviceSize)rows * 4));
  uint32_t chunk = dvk_rows_per_bind(ctx, row_bytes, rows);
  uint32_t step = dvk_rows_align(ctx, row_bytes), out_step = dvk_rows_align(ctx, 4);
  if (out_step > step) step = out_step; /* powers of two: the larger is a multiple of the other */
  if (chunk < rows) chunk = chunk / step * step;
  if (rows && chunk == 0) return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "argmax: row over the binding range");
  for (uint32_t r0 = 0; r0 < rows; r0 += chunk) {
    uint32_t m = rows - r0 < chunk ? rows - r0 : chunk;
    dvk_pc_argmax pc = {.rows = m, .stride = stride, .c0 = c0, .n = n};
    dvk_dispatch_desc d = {.shader = "logits_argmax", .n_bindings = 2, .push = &pc, .push_size = sizeof pc};
    d.bindings[0].t = dvk_tensor_slice(x, row_bytes * r0, row_bytes * m);
    d.bindings[1].t = dvk_tensor_slice(out, (VkDeviceSize)r0 * 4, (VkDeviceSize)m * 4);
    dvk_groups_1d(ctx, m, d.groups);
    DVK_TRY(dvk_dispatch(ctx, &d));
  }
  return DVK_OK;
}

dvk_status dvk_read_logits(dvk_ctx *ctx, float *host, dvk_tensor x, uint32_t rows, uint32_t stride, uint32_t c0,
                           uint32_t n) {
  if ((uint64_t)c0 + n > stride)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "read_logits: columns [%u, %u + %u) outside rows of %u", c0, c0,
                    n, stride);
  DVK_TRY(dvk_need_bytes(ctx, "read_logits", "x", x, (VkDeviceSize)stride * rows * 4));
  if (c0 == 0 && n == stride) return dvk_download(ctx, host, x, (VkDeviceSize)rows * n * 4);
  for (uint32_t r = 0; r < rows; r++) {
    VkDeviceSize off = ((VkDeviceSize)r * stride + c0) * 4;
    DVK_TRY(dvk_download(ctx, host + (size_t)r * n, dvk_tensor_slice(x, off, (VkDeviceSize)n * 4),
                         (VkDeviceSize)n * 4));
  }
  return DVK_OK;
}
