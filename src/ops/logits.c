/* Logits read-back. See logits.h. */
#include "ops/logits.h"

#include "ops/util.h"

dvk_status dvk_read_logits(dvk_device *ctx, float *host, dvk_tensor x, uint32_t rows, uint32_t stride, uint32_t c0,
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
