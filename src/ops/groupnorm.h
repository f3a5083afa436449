/* GroupNorm (Wu & He 2018) on NCHW f32 images, as torch.nn.GroupNorm, with an optional fused swish:
 * the normalization of the VQGAN's ResnetBlocks and AttnBlocks (docs/model-format.md §8.2).
 * Shader: shaders/groupnorm.comp. */
#ifndef DVK_OPS_GROUPNORM_H
#define DVK_OPS_GROUPNORM_H

#include <stdint.h>

#include "vk/dispatch.h"

/* For each image b and group g (channels [g * C/groups, (g+1) * C/groups)): mean and biased variance over
 * the group's C/groups * hw values in f32 (two passes), v = (x - mean) / sqrt(var + eps) * w[c] + b[c], then
 * y = swish ? v * sigmoid(v) : v. x, y: f32 [batch, C, hw] (y may be x: in place); w, b: f32 [C].
 * Records one dispatch per chunk of whole images that fits maxStorageBufferRange.
 * Errors: DVK_ERR_INVALID_ARGUMENT (empty shape, C not a multiple of groups, a tensor too small, one image
 * over the binding range), DVK_ERR_* from Vulkan. */
dvk_status dvk_op_groupnorm(dvk_device *ctx, dvk_tensor y, dvk_tensor x, dvk_tensor w, dvk_tensor b, uint32_t batch,
                            uint32_t channels, uint32_t hw, uint32_t groups, float eps, int swish);

#endif
