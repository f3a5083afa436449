/* Reading a vocabulary slice of the transformer's logits back to the host (sampling runs there). */
#ifndef DVK_OPS_LOGITS_H
#define DVK_OPS_LOGITS_H

#include "vk/dispatch.h"

/* Reads x[r, c0 .. c0+n-1] for r < rows into host[r * n ...] (host: float [rows, n]); x: f32
 * [rows, stride] on the device. Blocking (flushes recorded work first); one copy when the slice is
 * contiguous (c0 == 0 && n == stride), else one per row. Errors: DVK_ERR_INVALID_ARGUMENT
 * (c0 + n > stride, x too small), DVK_ERR_* from Vulkan. */
dvk_status dvk_read_logits(dvk_device *ctx, float *host, dvk_tensor x, uint32_t rows, uint32_t stride, uint32_t c0,
                           uint32_t n);

#endif
