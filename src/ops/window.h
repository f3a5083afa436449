/* Binding windows: the part of a large tensor one dispatch binds. A storage-buffer binding must start at
 * a multiple of minStorageBufferOffsetAlignment and span at most maxStorageBufferRange bytes (128 MiB
 * on lavapipe), so ops that may see larger operands bind an aligned window around the elements they
 * touch and pass the element offset of the first one in a push constant. Windows start on a multiple of
 * 16 bytes and of both offset alignments, so they can also be viewed as (RGBA32F) texel buffers. */
#ifndef DVK_OPS_WINDOW_H
#define DVK_OPS_WINDOW_H

#include "vk/dispatch.h"

typedef struct dvk_window {
  dvk_tensor t; /* the bound range */
  uint32_t off; /* element offset of the first requested element inside t */
} dvk_window;

/* Largest element count (of elem_bytes each) that dvk_window_of can always bind, wherever it starts. */
static inline uint64_t dvk_window_max_elems(const dvk_ctx *ctx, uint32_t elem_bytes) {
  VkDeviceSize align = 16;
  while (align < ctx->limits.storage_align || align < ctx->limits.texel_align) align *= 2;
  return (ctx->limits.max_storage_range - align) / elem_bytes;
}

/* Window over elements [first, first + n) (elem_bytes each) of t. Errors: DVK_ERR_INVALID_ARGUMENT
 * ("<op>: tensor <name> ...") when t is too small or the window would exceed maxStorageBufferRange. */
static inline dvk_status dvk_window_of(dvk_ctx *ctx, const char *op, const char *name, dvk_tensor t,
                                       uint64_t first, uint64_t n, uint32_t elem_bytes, dvk_window *out) {
  VkDeviceSize start = first * elem_bytes, end = (first + n) * elem_bytes;
  if (end > t.size)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "%s: tensor %s holds %llu bytes, needs %llu", op, name,
                    (unsigned long long)t.size, (unsigned long long)end);
  VkDeviceSize align = 16; /* also serves texel views (and their RGBA32F texels) of the window */
  while (align < ctx->limits.storage_align || align < ctx->limits.texel_align) align *= 2;
  VkDeviceSize base = start - start % align;
  VkDeviceSize len = (end - base + 3) & ~(VkDeviceSize)3;
  if (base + len > t.size) len = t.size - base; /* t.size not a multiple of 4: keep inside t */
  if (len > ctx->limits.max_storage_range)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "%s: window of %s spans %llu bytes, over maxStorageBufferRange",
                    op, name, (unsigned long long)len);
  out->t = dvk_tensor_slice(t, base, len);
  out->off = (uint32_t)((start - base) / elem_bytes);
  return DVK_OK;
}

#endif
