/* LayerNorm. See norm.h. */
#include "ops/norm.h"

#include "ops/util.h"
#include "ops/window.h"
#include "transformer_shared.h"

static dvk_status layernorm(dvk_device *ctx, dvk_tensor y, dvk_tensor x, dvk_tensor w, dvk_tensor b, uint32_t rows,
                           uint32_t d, float eps, uint32_t accumulate) {
  if (d == 0) return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "layernorm: d must be > 0");
  VkDeviceSize row_bytes = (VkDeviceSize)d * 4;
  DVK_TRY(dvk_need_bytes(ctx, "layernorm", "x", x, row_bytes * rows));
  DVK_TRY(dvk_need_bytes(ctx, "layernorm", "y", y, row_bytes * rows));
  DVK_TRY(dvk_need_bytes(ctx, "layernorm", "w", w, row_bytes));
  DVK_TRY(dvk_need_bytes(ctx, "layernorm", "b", b, row_bytes));
  uint32_t chunk = dvk_window_rows(ctx, row_bytes, rows, ctx->limits.max_storage_range);
  if (rows && chunk == 0)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "layernorm: a row of %u floats exceeds the binding range", d);
  for (uint32_t r0 = 0; r0 < rows; r0 += chunk) {
    uint32_t n = rows - r0 < chunk ? rows - r0 : chunk;
    dvk_pc_layernorm pc = {.rows = n, .d = d, .eps = eps, .accumulate = accumulate};
    dvk_dispatch_desc desc = {.n_bindings = 4, .push = &pc, .push_size = sizeof pc};
    dvk_pick_reduce_variant(ctx, &desc, "layernorm_wg", "layernorm_sg"); /* CPU: one subgroup, no barriers */
    DVK_TRY(dvk_window_exact(ctx, "layernorm", "x", x, (uint64_t)r0 * d, (uint64_t)n * d, 4, &desc.bindings[0].t));
    desc.bindings[1].t = dvk_bind_range(w, row_bytes);
    desc.bindings[2].t = dvk_bind_range(b, row_bytes);
    DVK_TRY(dvk_window_exact(ctx, "layernorm", "y", y, (uint64_t)r0 * d, (uint64_t)n * d, 4, &desc.bindings[3].t));
    dvk_groups_1d(ctx, n, desc.groups);
    DVK_TRY(dvk_dispatch(ctx, &desc));
  }
  return DVK_OK;
}

dvk_status dvk_op_layernorm(dvk_device *ctx, dvk_tensor y, dvk_tensor x, dvk_tensor w, dvk_tensor b, uint32_t rows,
                            uint32_t d, float eps) {
  return layernorm(ctx, y, x, w, b, rows, d, eps, 0);
}

dvk_status dvk_op_layernorm_add(dvk_device *ctx, dvk_tensor y, dvk_tensor x, dvk_tensor w, dvk_tensor b, uint32_t rows,
                                uint32_t d, float eps) {
  if (x.buffer == y.buffer && x.offset < y.offset + (VkDeviceSize)rows * d * 4 && y.offset < x.offset + (VkDeviceSize)rows * d * 4)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "layernorm_add: x and y overlap");
  return layernorm(ctx, y, x, w, b, rows, d, eps, 1);
}
