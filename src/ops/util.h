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

/* The smallest number of rows of `row_bytes` bytes whose total is a multiple of the storage offset
 * alignment (a power of two, since the alignment is). */
static inline uint32_t dvk_rows_align(const dvk_ctx *ctx, uint64_t row_bytes) {
  uint64_t align = ctx->limits.storage_align ? ctx->limits.storage_align : 1;
  uint32_t step = 1;
  while ((row_bytes * step) % align) step *= 2;
  return step;
}

/* The most rows (<= total) of `row_bytes` bytes each that one binding may span: at most
 * maxStorageBufferRange bytes, and a multiple of dvk_rows_align so that a chunk boundary stays aligned to
 * minStorageBufferOffsetAlignment. Returns `total` when all rows fit, 0 when not even one aligned group of
 * rows fits (the caller reports the error). Several operands chunked together: take the minimum over them,
 * then round it down to a multiple of every operand's dvk_rows_align (powers of two: the largest does). */
static inline uint32_t dvk_rows_per_bind(const dvk_ctx *ctx, uint64_t row_bytes, uint32_t total) {
  if (row_bytes == 0) return total;
  uint64_t cap = ctx->limits.max_storage_range / row_bytes;
  if (cap >= total) return total;
  uint32_t step = dvk_rows_align(ctx, row_bytes);
  return (uint32_t)(cap / step * step);
}

#endif
