/* Binding windows: the one rule every op follows to bind part of a tensor. A storage-buffer binding must
 * start at a multiple of minStorageBufferOffsetAlignment and span at most maxStorageBufferRange bytes
 * (128 MiB on lavapipe); a texel view needs minTexelBufferOffsetAlignment and whole 16-byte RGBA32F
 * texels. So a window starts at the closest multiple of dvk_window_align (all three at once) at or below
 * its first element, ends at its last byte rounded up to 4 (not past the tensor), and spans at most
 * maxStorageBufferRange. Ops whose shaders take an element offset bind any window (dvk_window_of); ops
 * whose shaders take none split operands at rows that keep every window start aligned (dvk_window_rows)
 * and bind with dvk_window_exact; small operands bound whole from an aligned start use dvk_bind_range. Tested
 * against a C reference of this rule in tests/test_window.c. */
#ifndef DVK_OPS_WINDOW_H
#define DVK_OPS_WINDOW_H

#include "vk/dispatch.h"

typedef struct dvk_window {
  dvk_tensor t; /* the bound range */
  uint32_t off; /* element offset of the first requested element inside t */
} dvk_window;

/* Bytes every window start is a multiple of: 16 and both offset alignments (all powers of two). */
static inline VkDeviceSize dvk_window_align(const dvk_device *ctx) {
  VkDeviceSize align = 16;
  while (align < ctx->limits.storage_align || align < ctx->limits.texel_align) align *= 2;
  return align;
}

/* Largest element count (of elem_bytes each) that dvk_window_of can always bind, wherever it starts. */
static inline uint64_t dvk_window_max_elems(const dvk_device *ctx, uint32_t elem_bytes) {
  return (ctx->limits.max_storage_range - dvk_window_align(ctx)) / elem_bytes;
}

/* Smallest row count whose bytes are a multiple of dvk_window_align: split at multiples of it, row
 * windows of an aligned tensor start aligned. Several operands split together: the largest of their
 * steps (powers of two) is a multiple of the others. */
static inline uint32_t dvk_window_row_step(const dvk_device *ctx, uint64_t row_bytes) {
  uint64_t align = dvk_window_align(ctx), a = row_bytes, b = align;
  while (b) {
    uint64_t r = a % b;
    a = b, b = r;
  }
  return a ? (uint32_t)(align / a) : 1;
}

/* Rows per window when `total` rows of row_bytes each are split into windows of at most max_bytes
 * (maxStorageBufferRange, or less for texel views): `total` when all fit, else the most that fit
 * rounded down to dvk_window_row_step; 0 when not one step fits (the caller reports it). */
static inline uint32_t dvk_window_rows(const dvk_device *ctx, uint64_t row_bytes, uint32_t total, uint64_t max_bytes) {
  if (row_bytes == 0) return total;
  uint64_t rows = max_bytes / row_bytes, step = dvk_window_row_step(ctx, row_bytes);
  if (rows >= total) return total;
  return (uint32_t)(rows - rows % step);
}

/* Buffer offset where a window that must cover up to `stop` (a buffer offset) ends: stop rounded up to
 * 4 bytes, but not past t. */
static inline VkDeviceSize dvk_window_end(dvk_tensor t, VkDeviceSize stop) {
  VkDeviceSize end = (stop + 3) & ~(VkDeviceSize)3;
  return end < t.offset + t.size ? end : t.offset + t.size;
}

/* The window of t's first `bytes` for an operand bound whole: t starts aligned (arena tensors do) and the
 * caller has checked its size (dvk_need_bytes), so there is no error path; dvk_dispatch still rejects a
 * misaligned start. */
static inline dvk_tensor dvk_bind_range(dvk_tensor t, VkDeviceSize bytes) {
  return dvk_tensor_slice(t, 0, dvk_window_end(t, t.offset + bytes) - t.offset);
}

/* Window over elements [first, first + n) (elem_bytes each) of t. It may start before t (in t's buffer)
 * when t's offset is not aligned. Errors: DVK_ERR_INVALID_ARGUMENT ("<op>: tensor <name> ...") when t
 * holds fewer bytes, its offset is not a multiple of elem_bytes, or the window exceeds maxStorageBufferRange. */
static inline dvk_status dvk_window_of(dvk_device *ctx, const char *op, const char *name, dvk_tensor t, uint64_t first,
                                       uint64_t n, uint32_t elem_bytes, dvk_window *out) {
  VkDeviceSize end = (first + n) * elem_bytes;
  if (end > t.size)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "%s: tensor %s holds %llu bytes, needs %llu", op, name,
                    (unsigned long long)t.size, (unsigned long long)end);
  if (t.offset % elem_bytes)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "%s: tensor %s starts at byte %llu, not a multiple of %u", op,
                    name, (unsigned long long)t.offset, elem_bytes);
  VkDeviceSize start = t.offset + first * elem_bytes, stop = t.offset + end; /* in the buffer */
  VkDeviceSize base = start - start % dvk_window_align(ctx);
  VkDeviceSize len = dvk_window_end(t, stop) - base;
  if (len > ctx->limits.max_storage_range)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "%s: window of %s spans %llu bytes, over maxStorageBufferRange",
                    op, name, (unsigned long long)len);
  out->t = (dvk_tensor){t.buffer, base, len, t.host ? (char *)t.host - (t.offset - base) : NULL};
  out->off = (uint32_t)((start - base) / elem_bytes);
  return DVK_OK;
}

/* dvk_window_of for shaders that take no element offset: the window must start at element `first`.
 * Errors: those of dvk_window_of, and DVK_ERR_INVALID_ARGUMENT when that element is not aligned. */
static inline dvk_status dvk_window_exact(dvk_device *ctx, const char *op, const char *name, dvk_tensor t,
                                          uint64_t first, uint64_t n, uint32_t elem_bytes, dvk_tensor *out) {
  dvk_window w = {0};
  DVK_TRY(dvk_window_of(ctx, op, name, t, first, n, elem_bytes, &w));
  if (w.off)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "%s: tensor %s element %llu is not at a multiple of %llu bytes",
                    op, name, (unsigned long long)first, (unsigned long long)dvk_window_align(ctx));
  *out = w.t;
  return DVK_OK;
}

#endif
