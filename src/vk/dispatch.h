/* Compute pipelines (from the embedded SPIR-V, by name) and command recording.
 *
 * Recording is implicit: dvk_dispatch appends to the context's command buffer (begun on demand) and
 * adds a compute->compute memory barrier after each dispatch, so consecutive ops see each other's
 * results. dvk_flush submits what was recorded and waits; upload/download flush first. A recording
 * is also flushed automatically when it reaches DVK_MAX_DISPATCHES_PER_SUBMIT dispatches, which keeps
 * single submissions short (desktop drivers kill submissions that run for seconds).
 *
 * With env DVK_PROFILE=1 every dispatch is timed with timestamp queries and the per-label totals are
 * printed to stderr when the context is destroyed (or by dvk_profile_report); each pipeline creation prints
 * its wall time. */
#ifndef DVK_VK_DISPATCH_H
#define DVK_VK_DISPATCH_H

#include "vk/context.h"
#include "vk/memory.h"

#define DVK_MAX_BINDINGS 8
#define DVK_MAX_SPEC 8
#define DVK_MAX_DISPATCHES_PER_SUBMIT 1024

/* One shader binding: a storage buffer (format == VK_FORMAT_UNDEFINED) or, with a format, a uniform
 * texel buffer (GLSL samplerBuffer / usamplerBuffer) viewing the range with that format. */
typedef struct dvk_binding {
  dvk_tensor t;
  VkFormat format;
} dvk_binding;

typedef struct dvk_dispatch_desc {
  const char *shader;       /* embedded module name, e.g. "matmul_f16" */
  const char *label;        /* profile label; NULL: the shader name */
  uint32_t n_bindings;      /* bindings 0..n-1 of descriptor set 0 */
  dvk_binding bindings[DVK_MAX_BINDINGS];
  const void *push;         /* push constants (may be NULL when push_size is 0) */
  uint32_t push_size;       /* bytes; must equal the size the pipeline was first created with */
  uint32_t n_spec;          /* specialization constants, constant_id 0..n_spec-1, 32-bit each */
  uint32_t spec[DVK_MAX_SPEC];
  uint32_t groups[3];       /* workgroup counts; each must be <= maxComputeWorkGroupCount */
} dvk_dispatch_desc;

/* Records one dispatch (pipeline created and cached on first use). Errors: DVK_ERR_INVALID_ARGUMENT
 * (unknown shader, too many groups, binding range over maxStorageBufferRange, misaligned offset,
 * push size mismatch), DVK_ERR_* from Vulkan. */
dvk_status dvk_dispatch(dvk_device *ctx, const dvk_dispatch_desc *d);

/* Splits n workgroups into x*y <= limits so that x*y >= n; shaders rebuild the linear index as
 * gl_WorkGroupID.x + gl_NumWorkGroups.x * gl_WorkGroupID.y and return when it is >= n. */
void dvk_groups_1d(const dvk_device *ctx, uint64_t n, uint32_t groups[3]);

/* Submits the recorded work and waits for it. No-op when nothing is recorded. */
dvk_status dvk_flush(dvk_device *ctx);

/* Drops what was recorded and not yet submitted: after a failure part-way through a sequence of ops, call it
 * before freeing (or reusing) tensors the recording may refer to, so that the next flush does not run the
 * stale commands on freed memory. No-op when nothing is recorded. */
void dvk_discard(dvk_device *ctx);

/* Prints the per-label GPU times collected so far (DVK_PROFILE=1) and clears them. */
void dvk_profile_report(dvk_device *ctx);

/* Internal (memory.c): blocking buffer copy and fill through the context's command buffer. */
dvk_status dvk_transfer_copy(dvk_device *ctx, VkBuffer src, VkBuffer dst, VkBufferCopy region);
/* n regions in one command (Vulkan: within one buffer, no region's source may overlap a destination). */
dvk_status dvk_transfer_copy_n(dvk_device *ctx, VkBuffer src, VkBuffer dst, uint32_t n, const VkBufferCopy *regions);
dvk_status dvk_transfer_fill(dvk_device *ctx, dvk_tensor dst, uint32_t pattern, VkDeviceSize bytes);
/* Records n buffer-to-buffer copies into the current submission without waiting: they run after every
 * dispatch recorded before and before every one recorded after (barriers on both sides); the next flush,
 * download or blocking transfer executes them. Same region rules as dvk_transfer_copy_n. */
dvk_status dvk_record_copy_n(dvk_device *ctx, VkBuffer src, VkBuffer dst, uint32_t n, const VkBufferCopy *regions);

/* Internal (context.c): recorder lifetime. */
dvk_status dvk_recorder_init(dvk_device *ctx);
void dvk_recorder_destroy(dvk_device *ctx);

#endif
