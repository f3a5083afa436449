/* Small helpers shared by the op host files. */
#ifndef DVK_OPS_UTIL_H
#define DVK_OPS_UTIL_H

#include "vk/dispatch.h"

/* Fails with "<op>: tensor <name> holds N bytes, needs M" when t is smaller than bytes. */
static inline dvk_status dvk_need_bytes(dvk_device *ctx, const char *op, const char *name, dvk_tensor t,
                                        VkDeviceSize bytes) {
  if (t.size < bytes)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "%s: tensor %s holds %llu bytes, needs %llu", op, name,
                    (unsigned long long)t.size, (unsigned long long)bytes);
  return DVK_OK;
}

/* Whether one-workgroup-per-row reductions run as a single subgroup (subgroupAdd, no barriers): on CPU
 * devices (lavapipe), where barriers cost more than the narrower workgroup loses, when compute shaders
 * have subgroup arithmetic. The workgroup size is then ctx->limits.subgroup_size. */
static inline int dvk_use_subgroup_reduce(const dvk_device *ctx) {
  return ctx->device_class == DVK_CLASS_CPU && (ctx->limits.subgroup_ops & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT) &&
         ctx->limits.subgroup_size >= 4 && ctx->limits.subgroup_size <= 128;
}

/* Sets a one-workgroup-per-row dispatch's shader to its subgroup variant `sg` (workgroup = one subgroup) when
 * dvk_use_subgroup_reduce, else to `wg` with 128 invocations; the size goes to specialization constant 0. */
static inline void dvk_pick_reduce_variant(const dvk_device *ctx, dvk_dispatch_desc *d, const char *wg, const char *sg) {
  int sub = dvk_use_subgroup_reduce(ctx);
  d->shader = sub ? sg : wg;
  d->n_spec = 1;
  d->spec[0] = sub ? ctx->limits.subgroup_size : 128;
}

static inline uint32_t dvk_div_up(uint32_t a, uint32_t b) { return (a + b - 1) / b; }

#endif
