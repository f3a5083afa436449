/* GroupNorm host side. See groupnorm.h. */
#include "ops/groupnorm.h"

#include "ops/util.h"
#include "ops/window.h"
#include "vqgan_shared.h"

dvk_status dvk_op_groupnorm(dvk_device *ctx, dvk_tensor y, dvk_tensor x, dvk_tensor w, dvk_tensor b, uint32_t batch,
                            uint32_t channels, uint32_t hw, uint32_t groups, float eps, int swish) {
  if (!batch || !channels || !hw || !groups || channels % groups)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "groupnorm: bad shape B=%u C=%u hw=%u groups=%u (C must be a "
                    "multiple of groups)", batch, channels, hw, groups);
  uint64_t img = (uint64_t)channels * hw, maxe = dvk_window_max_elems(ctx, 4);
  DVK_TRY(dvk_need_bytes(ctx, "groupnorm", "x", x, batch * img * 4));
  DVK_TRY(dvk_need_bytes(ctx, "groupnorm", "y", y, batch * img * 4));
  DVK_TRY(dvk_need_bytes(ctx, "groupnorm", "w", w, (VkDeviceSize)channels * 4));
  DVK_TRY(dvk_need_bytes(ctx, "groupnorm", "b", b, (VkDeviceSize)channels * 4));
  if (img > maxe)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "groupnorm: one image of %u x %u floats exceeds the binding "
                    "range", channels, hw);
  uint64_t step = maxe / img;
  for (uint64_t b0 = 0; b0 < batch; b0 += step) {
    uint64_t nb = batch - b0 < step ? batch - b0 : step;
    dvk_window wx = {0}, wy = {0};
    DVK_TRY(dvk_window_of(ctx, "groupnorm", "x", x, b0 * img, nb * img, 4, &wx));
    DVK_TRY(dvk_window_of(ctx, "groupnorm", "y", y, b0 * img, nb * img, 4, &wy));
    dvk_pc_groupnorm pc = {.n_groups = (uint32_t)(nb * groups), .groups = groups, .cpg = channels / groups,
                           .hw = hw, .eps = eps, .swish = swish ? 1u : 0u, .x_off = wx.off, .y_off = wy.off};
    dvk_dispatch_desc d = {.n_bindings = 4, .push = &pc, .push_size = sizeof pc};
    dvk_pick_reduce_variant(ctx, &d, "groupnorm_wg", "groupnorm_sg");
    d.bindings[0].t = wx.t;
    d.bindings[1].t = dvk_bind_range(w, (VkDeviceSize)channels * 4);
    d.bindings[2].t = dvk_bind_range(b, (VkDeviceSize)channels * 4);
    d.bindings[3].t = wy.t;
    dvk_groups_1d(ctx, pc.n_groups, d.groups);
    DVK_TRY(dvk_dispatch(ctx, &d));
  }
  return DVK_OK;
}
