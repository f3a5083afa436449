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

static inline uint32_t dvk_div_up(uint32_t a, uint32_t b) { return (a + b - 1) / b; }

#endif
