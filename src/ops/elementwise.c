/* Element-wise ops. See elementwise.h. */
#include "ops/elementwise.h"

#include "dvk_shared.h"
#include "ops/util.h"

dvk_status dvk_op_add(dvk_ctx *ctx, dvk_tensor y, dvk_tensor a, dvk_tensor b, uint32_t n) {
  DVK_TRY(dvk_need_bytes(ctx, "add", "a", a, (VkDeviceSize)n * 4));
  DVK_TRY(dvk_need_bytes(ctx, "add", "b", b, (VkDeviceSize)n * 4));
  DVK_TRY(dvk_need_bytes(ctx, "add", "y", y, (VkDeviceSize)n * 4));
  dvk_pc_add pc = {.n = n};
  dvk_dispatch_desc d = {.shader = "add", .n_bindings = 3, .push = &pc, .push_size = sizeof pc};
  d.bindings[0].t = dvk_bind_range(a, (VkDeviceSize)n * 4);
  d.bindings[1].t = dvk_bind_range(b, (VkDeviceSize)n * 4);
  d.bindings[2].t = dvk_bind_range(y, (VkDeviceSize)n * 4);
  dvk_groups_1d(ctx, (n + 255) / 256, d.groups);
  return dvk_dispatch(ctx, &d);
}
