/* The persistent VkPipelineCache: pipelines compiled by one run are handed to the driver at the start of
 * the next, so a warm run skips what the driver's cache data lets it skip (docs/performance-notes.md).
 *
 * File: $XDG_CACHE_HOME/dalle-vk/pipelines-VVVV-DDDD-UUID.bin (else ~/.cache/dalle-vk/...; VVVV, DDDD the
 * device's vendor and device ids in hex, UUID its pipelineCacheUUID), env DVK_PIPELINE_CACHE=0 turns it
 * off. Layout: a 48-byte header (magic "DVKPIPE1", vendor id, device id, pipelineCacheUUID, payload bytes
 * and the payload's 64-bit FNV-1a hash, little-endian), then the driver's vkGetPipelineCacheData bytes.
 * A file whose header does not match this device or whose hash is wrong is ignored with a note on stderr
 * (and replaced at exit). A run that added pipelines rewrites the file: to a temporary name, then renamed,
 * so readers never see half a file. Every failure here only costs speed: none of these functions fails
 * the caller. */
#ifndef DVK_VK_PIPELINE_CACHE_H
#define DVK_VK_PIPELINE_CACHE_H

#include "vk/context.h"

/* Creates ctx->pipeline_cache, seeded from the file when it is valid. Leaves VK_NULL_HANDLE (no cache)
 * when the cache is off or the driver refuses one. */
void dvk_pipeline_cache_open(dvk_device *ctx);

/* Writes the cache back when this run added pipelines to it, then destroys it. Call before vkDestroyDevice. */
void dvk_pipeline_cache_close(dvk_device *ctx);

#endif
