/* Persistent pipeline cache file. See pipeline_cache.h. */
#define _POSIX_C_SOURCE 200809L
#include "vk/pipeline_cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "DVKPIPE1"
#define HEADER_BYTES 48u
#define MAX_PAYLOAD ((uint64_t)1 << 30)

static uint64_t fnv1a64(const unsigned char *p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

static void put_u32(unsigned char *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static void put_u64(unsigned char *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (unsigned char)(v >> (8 * i));
}
static uint64_t get_u64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

/* The header this device writes: magic, vendor, device, UUID, payload size, payload hash. */
static void make_header(const dvk_device *ctx, uint64_t size, uint64_t hash, unsigned char h[HEADER_BYTES]) {
  memcpy(h, MAGIC, 8);
  put_u32(h + 8, ctx->props.vendorID);
  put_u32(h + 12, ctx->props.deviceID);
  memcpy(h + 16, ctx->props.pipelineCacheUUID, VK_UUID_SIZE);
  put_u64(h + 32, size);
  put_u64(h + 40, hash);
}

/* mkdir -p of the directory part of path (which it edits temporarily). */
static int make_dirs(char *path) {
  for (char *s = path + 1; *s; s++) {
    if (*s != '/') continue;
    *s = 0;
    int bad = mkdir(path, 0755) != 0 && errno != EEXIST;
    *s = '/';
    if (bad) return -1;
  }
  return 0;
}

/* The cache file's path (malloc'ed), NULL when there is no cache directory or the cache is off. */
static char *cache_path(const dvk_device *ctx) {
  const char *off = getenv("DVK_PIPELINE_CACHE");
  if (off && strcmp(off, "0") == 0) return NULL;
  const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
  char dir[4096];
  if (xdg && xdg[0] == '/') snprintf(dir, sizeof dir, "%s/dalle-vk", xdg);
  else if (home && home[0] == '/') snprintf(dir, sizeof dir, "%s/.cache/dalle-vk", home);
  else return NULL;
  char uuid[2 * VK_UUID_SIZE + 1];
  for (unsigned i = 0; i < VK_UUID_SIZE; i++) snprintf(uuid + 2 * i, 3, "%02x", ctx->props.pipelineCacheUUID[i]);
  size_t n = strlen(dir) + 64 + sizeof uuid;
  char *path = malloc(n);
  if (path) snprintf(path, n, "%s/pipelines-%04x-%04x-%s.bin", dir, ctx->props.vendorID, ctx->props.deviceID, uuid);
  return path;
}

/* Reads and checks the file; returns the payload (malloc'ed, *size bytes) or NULL. why: set when a file
 * exists but is not usable. */
static unsigned char *read_payload(const dvk_device *ctx, const char *path, size_t *size, const char **why) {
  *why = NULL;
  FILE *f = fopen(path, "rb");
  if (!f) return NULL; /* no cache yet */
  unsigned char h[HEADER_BYTES], want[HEADER_BYTES];
  unsigned char *data = NULL;
  if (fread(h, 1, HEADER_BYTES, f) != HEADER_BYTES || memcmp(h, MAGIC, 8) != 0) {
    *why = "not a dalle-vk pipeline cache";
  } else {
    uint64_t n = get_u64(h + 32);
    make_header(ctx, n, get_u64(h + 40), want);
    if (memcmp(h, want, HEADER_BYTES) != 0) *why = "written for another device or driver";
    else if (n == 0 || n > MAX_PAYLOAD || !(data = malloc((size_t)n))) *why = "implausible size";
    else if (fread(data, 1, (size_t)n, f) != n || fgetc(f) != EOF) *why = "truncated or overlong";
    else if (fnv1a64(data, (size_t)n) != get_u64(h + 40)) *why = "checksum mismatch";
    else *size = (size_t)n;
  }
  fclose(f);
  if (*why) {
    free(data);
    return NULL;
  }
  return data;
}

void dvk_pipeline_cache_open(dvk_device *ctx) {
  ctx->pipeline_cache = VK_NULL_HANDLE;
  ctx->pipeline_cache_path = cache_path(ctx);
  ctx->pipelines_created = 0;
  ctx->pipeline_cache_hash = 0;
  size_t size = 0;
  const char *why = NULL;
  unsigned char *data = ctx->pipeline_cache_path ? read_payload(ctx, ctx->pipeline_cache_path, &size, &why) : NULL;
  if (why)
    fprintf(stderr, "dalle-vk: note: ignoring the pipeline cache %s (%s); it will be rebuilt\n",
            ctx->pipeline_cache_path, why);
  VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                  .initialDataSize = data ? size : 0,
                                  .pInitialData = data};
  if (vkCreatePipelineCache(ctx->device, &ci, NULL, &ctx->pipeline_cache) != VK_SUCCESS)
    ctx->pipeline_cache = VK_NULL_HANDLE;
  if (data) ctx->pipeline_cache_hash = fnv1a64(data, size);
  if (ctx->verbose && data)
    fprintf(stderr, "dalle-vk: pipeline cache %s (%zu bytes)\n", ctx->pipeline_cache_path, size);
  free(data);
}

/* Writes header + payload to a temporary file next to path and renames it over path. */
static void write_file(const dvk_device *ctx, const char *path, const unsigned char *data, size_t n) {
  size_t len = strlen(path) + 32;
  char *tmp = malloc(len);
  if (!tmp) return;
  snprintf(tmp, len, "%s.%ld.tmp", path, (long)getpid());
  unsigned char h[HEADER_BYTES];
  make_header(ctx, n, fnv1a64(data, n), h);
  FILE *f = make_dirs(tmp) == 0 ? fopen(tmp, "wb") : NULL;
  int ok = f && fwrite(h, 1, HEADER_BYTES, f) == HEADER_BYTES && fwrite(data, 1, n, f) == n;
  if (f && fclose(f) != 0) ok = 0;
  if (ok) ok = rename(tmp, path) == 0;
  if (!ok) {
    if (f) remove(tmp);
    if (ctx->verbose) fprintf(stderr, "dalle-vk: could not write the pipeline cache %s\n", path);
  }
  free(tmp);
}

void dvk_pipeline_cache_close(dvk_device *ctx) {
  if (ctx->pipeline_cache && ctx->pipeline_cache_path && ctx->pipelines_created > 0) {
    size_t n = 0;
    unsigned char *data = NULL;
    if (vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &n, NULL) == VK_SUCCESS && n > 0 && n <= MAX_PAYLOAD &&
        (data = malloc(n)) && vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &n, data) == VK_SUCCESS &&
        fnv1a64(data, n) != ctx->pipeline_cache_hash) /* only when this run added to it */
      write_file(ctx, ctx->pipeline_cache_path, data, n);
    free(data);
  }
  if (ctx->pipeline_cache) vkDestroyPipelineCache(ctx->device, ctx->pipeline_cache, NULL);
  ctx->pipeline_cache = VK_NULL_HANDLE;
  free(ctx->pipeline_cache_path);
  ctx->pipeline_cache_path = NULL;
}
