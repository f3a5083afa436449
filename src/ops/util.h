/* Small helpers shared by the op host files. */
#ifndef DVK_OPS_UTIL_H
#define DVK_OPS_UTIL_H

#include "vk/dispatch.h"

/* Fails with "<op>: tensor <name> holds N bytes, needs M" when t is smaller than bytes. */
static inline dvk_status dvk_need_bytes(dvk_ctx *ctx, const char *op, const char *name, dvk_tensor t,
                                        VkDeviceSize bytes) {
  if (t.size < bytes)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "%s: tensor %s holds %llu bytes, needs %llu", op, name,
                    (unsigned long long)t.size, (unsigned long long)bytes);
  return DVK_OK;
}

/* The first `bytes` of t (rounded up to 4), the range an op binds, so that a guard region after the
 * operand is never bound. */
static inline dvk_tensor dvk_bind_range(dvk_tensor t, VkDeviceSize bytes) {
  bytes = (bytes + 3) & ~(VkDeviceSize)3;
  if (bytes > t.size) bytes = t.size;
  return dvk_tensor_slice(t, 0, bytes);
}

static inline uint32_t dvk_div_up(uint32_t a, uint32_t b) { return (a + b - 1) / b; }

#endif
