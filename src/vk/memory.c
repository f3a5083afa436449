/* Device memory blocks, bump suballocation and staging copies. See memory.h. */
#include "vk/memory.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "vk/dispatch.h"

#define STAGING_BYTES ((VkDeviceSize)32 << 20)

typedef struct dvk_block {
  VkBuffer buffer;
  VkDeviceMemory memory;
  VkDeviceSize size, used;
  void *mapped; /* non-NULL when the memory type is host-visible and coherent */
} dvk_block;

struct dvk_arena {
  dvk_device *ctx;
  VkDeviceSize block_size;
  dvk_block *blocks;
  size_t n_blocks, cap_blocks;
  VkDeviceSize used;
};

typedef struct dvk_staging {
  dvk_block block;
} dvk_staging;

dvk_tensor dvk_tensor_slice(dvk_tensor t, VkDeviceSize offset, VkDeviceSize size) {
  assert(offset + size <= t.size);
  dvk_tensor s = {t.buffer, t.offset + offset, size, t.host ? (char *)t.host + offset : NULL};
  return s;
}

static VkDeviceSize align_up(VkDeviceSize x, VkDeviceSize a) { return (x + a - 1) / a * a; }

static VkDeviceSize tensor_alignment(const dvk_device *ctx) {
  VkDeviceSize a = 256;
  while (a < ctx->limits.storage_align || a < ctx->limits.texel_align) a *= 2;
  return a;
}

/* Picks a memory type allowed by bits with all of `need`, preferring all of `want` too. */
static int find_memory_type(const dvk_device *ctx, uint32_t bits, VkMemoryPropertyFlags need, VkMemoryPropertyFlags want) {
  int fallback = -1;
  for (uint32_t i = 0; i < ctx->mem_props.memoryTypeCount; i++) {
    if (!(bits & (1u << i))) continue;
    VkMemoryPropertyFlags f = ctx->mem_props.memoryTypes[i].propertyFlags;
    if ((f & need) != need) continue;
    if ((f & want) == want) return (int)i;
    if (fallback < 0) fallback = (int)i;
  }
  return fallback;
}

/* Creates one buffer + memory of `size` bytes. host: the block must be host-visible (staging). */
static dvk_status block_create(dvk_device *ctx, VkDeviceSize size, int host, dvk_block *b) {
  memset(b, 0, sizeof *b);
  VkBufferCreateInfo bi = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                           .size = size,
                           .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT |
                                    VK_BUFFER_USAGE_STORAGE_TEXEL_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                    VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                           .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
  VkResult r = vkCreateBuffer(ctx->device, &bi, NULL, &b->buffer);
  if (r != VK_SUCCESS) return dvk_vk_fail(ctx, r, "vkCreateBuffer", __FILE__, __LINE__);
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(ctx->device, b->buffer, &req);
  const VkMemoryPropertyFlags hv = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
  int type;
  if (host)
    type = find_memory_type(ctx, req.memoryTypeBits, hv, VK_MEMORY_PROPERTY_HOST_CACHED_BIT);
  else if (ctx->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU)
    type = find_memory_type(ctx, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, 0);
  else /* unified memory: device-local and host-visible, so uploads are plain copies */
    type = find_memory_type(ctx, req.memoryTypeBits, VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT, hv);
  if (type < 0) type = find_memory_type(ctx, req.memoryTypeBits, 0, 0);
  if (type < 0) {
    vkDestroyBuffer(ctx->device, b->buffer, NULL);
    b->buffer = VK_NULL_HANDLE;
    return dvk_fail(ctx, DVK_ERR_VULKAN, "no memory type for a %llu-byte buffer", (unsigned long long)size);
  }
  VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                             .allocationSize = req.size,
                             .memoryTypeIndex = (uint32_t)type};
  r = vkAllocateMemory(ctx->device, &ai, NULL, &b->memory);
  if (r != VK_SUCCESS) {
    vkDestroyBuffer(ctx->device, b->buffer, NULL);
    b->buffer = VK_NULL_HANDLE;
    dvk_vk_fail(ctx, r, "vkAllocateMemory", __FILE__, __LINE__);
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY)
      return dvk_fail(ctx, DVK_ERR_OUT_OF_DEVICE_MEMORY, "out of device memory allocating %.1f MiB",
                      (double)size / (1 << 20));
    return DVK_ERR_VULKAN;
  }
  r = vkBindBufferMemory(ctx->device, b->buffer, b->memory, 0);
  if (r == VK_SUCCESS && (ctx->mem_props.memoryTypes[type].propertyFlags & hv) == hv)
    r = vkMapMemory(ctx->device, b->memory, 0, VK_WHOLE_SIZE, 0, &b->mapped);
  if (r != VK_SUCCESS) {
    vkDestroyBuffer(ctx->device, b->buffer, NULL);
    vkFreeMemory(ctx->device, b->memory, NULL);
    memset(b, 0, sizeof *b);
    return dvk_vk_fail(ctx, r, "vkBindBufferMemory/vkMapMemory", __FILE__, __LINE__);
  }
  b->size = size;
  return DVK_OK;
}

static void block_destroy(dvk_device *ctx, dvk_block *b) {
  if (b->buffer) vkDestroyBuffer(ctx->device, b->buffer, NULL);
  if (b->memory) vkFreeMemory(ctx->device, b->memory, NULL); /* unmaps implicitly */
  memset(b, 0, sizeof *b);
}

dvk_status dvk_arena_create(dvk_device *ctx, VkDeviceSize block_size, dvk_arena **out) {
  *out = NULL;
  dvk_arena *a = calloc(1, sizeof *a);
  if (!a) return dvk_fail(ctx, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  a->ctx = ctx;
  if (block_size == 0) block_size = (VkDeviceSize)256 << 20;
  if (block_size > ctx->limits.max_alloc) block_size = ctx->limits.max_alloc;
  a->block_size = block_size;
  *out = a;
  return DVK_OK;
}

dvk_status dvk_arena_alloc(dvk_arena *a, VkDeviceSize size, dvk_tensor *out) {
  dvk_device *ctx = a->ctx;
  memset(out, 0, sizeof *out);
  if (size == 0) return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "zero-byte tensor allocation");
  const VkDeviceSize align = tensor_alignment(ctx);
  for (size_t i = 0; i < a->n_blocks; i++) { /* first fit among the blocks */
    dvk_block *b = &a->blocks[i];
    VkDeviceSize off = align_up(b->used, align);
    if (off <= b->size && size <= b->size - off) { /* not off + size: a huge size must not wrap */
      b->used = off + size;
      a->used += size;
      *out = (dvk_tensor){b->buffer, off, size, b->mapped ? (char *)b->mapped + off : NULL};
      return DVK_OK;
    }
  }
  if (size > ctx->limits.max_alloc)
    return dvk_fail(ctx, DVK_ERR_OUT_OF_DEVICE_MEMORY,
                    "out of device memory: a %.1f MiB tensor exceeds the device's largest allocation (%.1f MiB)",
                    (double)size / (1 << 20), (double)ctx->limits.max_alloc / (1 << 20));
  if (a->n_blocks == a->cap_blocks) {
    size_t cap = a->cap_blocks ? a->cap_blocks * 2 : 8;
    dvk_block *nb = realloc(a->blocks, cap * sizeof *nb);
    if (!nb) return dvk_fail(ctx, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
    a->blocks = nb;
    a->cap_blocks = cap;
  }
  VkDeviceSize bsize = size > a->block_size ? align_up(size, align) : a->block_size;
  dvk_block *b = &a->blocks[a->n_blocks];
  DVK_TRY(block_create(ctx, bsize, 0, b));
  a->n_blocks++;
  b->used = size;
  a->used += size;
  *out = (dvk_tensor){b->buffer, 0, size, b->mapped};
  return DVK_OK;
}

void dvk_arena_reset(dvk_arena *a) {
  for (size_t i = 0; i < a->n_blocks; i++) a->blocks[i].used = 0;
  a->used = 0;
}

VkDeviceSize dvk_arena_used(const dvk_arena *a) { return a->used; }

VkDeviceSize dvk_arena_reserved(const dvk_arena *a) {
  VkDeviceSize s = 0;
  for (size_t i = 0; i < a->n_blocks; i++) s += a->blocks[i].size;
  return s;
}

void dvk_arena_destroy(dvk_arena *a) {
  if (!a) return;
  for (size_t i = 0; i < a->n_blocks; i++) block_destroy(a->ctx, &a->blocks[i]);
  free(a->blocks);
  free(a);
}

dvk_status dvk_staging_init(dvk_device *ctx) {
  ctx->staging = calloc(1, sizeof *ctx->staging);
  if (!ctx->staging) return dvk_fail(ctx, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  return block_create(ctx, STAGING_BYTES, 1, &ctx->staging->block);
}

void dvk_staging_destroy(dvk_device *ctx) {
  if (!ctx->staging) return;
  block_destroy(ctx, &ctx->staging->block);
  free(ctx->staging);
  ctx->staging = NULL;
}

/* Copies between the staging buffer and a device range, in staging-sized pieces. */
static dvk_status staged_copy(dvk_device *ctx, dvk_tensor t, void *host, VkDeviceSize bytes, int to_device) {
  dvk_block *st = &ctx->staging->block;
  for (VkDeviceSize done = 0; done < bytes;) {
    VkDeviceSize n = bytes - done < st->size ? bytes - done : st->size;
    if (to_device) memcpy(st->mapped, (char *)host + done, n);
    VkBufferCopy region = {.srcOffset = to_device ? 0 : t.offset + done,
                           .dstOffset = to_device ? t.offset + done : 0,
                           .size = n};
    DVK_TRY(dvk_transfer_copy(ctx, to_device ? st->buffer : t.buffer, to_device ? t.buffer : st->buffer, region));
    if (!to_device) memcpy((char *)host + done, st->mapped, n);
    done += n;
  }
  return DVK_OK;
}

dvk_status dvk_upload(dvk_device *ctx, dvk_tensor dst, const void *src, VkDeviceSize bytes) {
  if (bytes > dst.size)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "upload of %llu bytes into a %llu-byte tensor",
                    (unsigned long long)bytes, (unsigned long long)dst.size);
  DVK_TRY(dvk_flush(ctx));
  if (dst.host) {
    memcpy(dst.host, src, bytes);
    return DVK_OK;
  }
  return staged_copy(ctx, dst, (void *)src, bytes, 1);
}

dvk_status dvk_download(dvk_device *ctx, void *dst, dvk_tensor src, VkDeviceSize bytes) {
  if (bytes > src.size)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "download of %llu bytes from a %llu-byte tensor",
                    (unsigned long long)bytes, (unsigned long long)src.size);
  DVK_TRY(dvk_flush(ctx));
  if (src.host) {
    memcpy(dst, src.host, bytes);
    return DVK_OK;
  }
  return staged_copy(ctx, src, dst, bytes, 0);
}

dvk_status dvk_fill(dvk_device *ctx, dvk_tensor dst, uint32_t pattern, VkDeviceSize bytes) {
  if (bytes > dst.size || bytes % 4)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "fill of %llu bytes into a %llu-byte tensor",
                    (unsigned long long)bytes, (unsigned long long)dst.size);
  DVK_TRY(dvk_flush(ctx));
  if (dst.host) {
    uint32_t *p = dst.host;
    for (VkDeviceSize i = 0; i < bytes / 4; i++) p[i] = pattern;
    return DVK_OK;
  }
  return dvk_transfer_fill(ctx, dst, pattern, bytes);
}
