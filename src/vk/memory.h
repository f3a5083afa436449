/* Device memory: tensors suballocated from large blocks (arenas), and blocking upload/download through
 * a host-visible staging buffer (or a direct copy when the device memory is host-visible, as on
 * lavapipe and other unified-memory devices). */
#ifndef DVK_VK_MEMORY_H
#define DVK_VK_MEMORY_H

#include "vk/context.h"

/* A byte range of a device buffer. Offsets are aligned to at least the device's storage and texel
 * buffer offset alignments (and 256 bytes). A tensor may be larger than maxStorageBufferRange: ops that
 * accept such operands bind them in pieces (see dvk_tensor_slice). */
typedef struct dvk_tensor {
  VkBuffer buffer;
  VkDeviceSize offset; /* bytes from the start of buffer */
  VkDeviceSize size;   /* bytes */
  void *host;          /* host pointer to the first byte when the memory is mapped, else NULL */
} dvk_tensor;

/* The sub-range [offset, offset + size) of t, in bytes (not checked beyond an assert). */
dvk_tensor dvk_tensor_slice(dvk_tensor t, VkDeviceSize offset, VkDeviceSize size);

typedef struct dvk_arena dvk_arena;

/* Creates an arena that hands out tensors from device-local blocks of block_size bytes (0: 256 MiB,
 * capped by maxMemoryAllocationSize); a tensor larger than a block gets a block of its own.
 * Errors: DVK_ERR_OUT_OF_HOST_MEMORY. Blocks are allocated lazily by dvk_arena_alloc. */
dvk_status dvk_arena_create(dvk_device *ctx, VkDeviceSize block_size, dvk_arena **out);

/* Allocates size bytes (> 0). Errors: DVK_ERR_OUT_OF_DEVICE_MEMORY (message names the size),
 * DVK_ERR_VULKAN. The tensor stays valid until the arena is reset or destroyed. */
dvk_status dvk_arena_alloc(dvk_arena *a, VkDeviceSize size, dvk_tensor *out);

/* Forgets every allocation but keeps the blocks for reuse. The device must not be using them. */
void dvk_arena_reset(dvk_arena *a);

/* Bytes handed out so far, and bytes of device memory held by the arena's blocks. */
VkDeviceSize dvk_arena_used(const dvk_arena *a);
VkDeviceSize dvk_arena_reserved(const dvk_arena *a);

/* Frees every block. NULL is allowed. The device must not be using them. */
void dvk_arena_destroy(dvk_arena *a);

/* Copies bytes from host memory into dst (bytes <= dst.size). Blocking: waits for any recorded work
 * to be submitted first (it must not be called while recording). Errors: DVK_ERR_* from Vulkan. */
dvk_status dvk_upload(dvk_device *ctx, dvk_tensor dst, const void *src, VkDeviceSize bytes);

/* Copies bytes from src back to host memory. Blocking, like dvk_upload. */
dvk_status dvk_download(dvk_device *ctx, void *dst, dvk_tensor src, VkDeviceSize bytes);

/* Fills dst with a repeated 32-bit pattern (bytes a multiple of 4). Blocking. */
dvk_status dvk_fill(dvk_device *ctx, dvk_tensor dst, uint32_t pattern, VkDeviceSize bytes);

/* Internal: the staging buffer owned by the context (created by dvk_device_create). */
dvk_status dvk_staging_init(dvk_device *ctx);
void dvk_staging_destroy(dvk_device *ctx);

#endif
