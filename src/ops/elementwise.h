/* Element-wise ops on f32 tensors: residual add (more join this family: GELU, ReLU, ...). */
#ifndef DVK_OPS_ELEMENTWISE_H
#define DVK_OPS_ELEMENTWISE_H

#include "vk/dispatch.h"

/* y[i] = a[i] + b[i] for i < n. a, b, y: f32 [n] (y may be a). Records one dispatch.
 * Errors: DVK_ERR_INVALID_ARGUMENT when a tensor holds fewer than n floats. */
dvk_status dvk_op_add(dvk_ctx *ctx, dvk_tensor y, dvk_tensor a, dvk_tensor b, uint32_t n);

#endif
