/* The persistent pipeline cache (src/vk/pipeline_cache.h), in a temporary XDG_CACHE_HOME: a context that
 * compiles a pipeline writes the file (header: magic, this device's ids and UUID, payload size and FNV-1a
 * hash, recomputed here); a damaged file (flipped payload byte, truncated, another device's ids, garbage)
 * is ignored with a note naming the problem, the context still works, and the file is rewritten valid;
 * DVK_PIPELINE_CACHE=0 writes nothing. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ops/norm.h"
#include "vk/context.h"
#include "vk/memory.h"

static int failures;

static void check(int ok, const char *what) {
  printf("%s %s\n", ok ? "PASS" : "FAIL", what);
  if (!ok) failures++;
}

/* Creates a context, compiles and runs one layernorm pipeline, destroys it. Returns the stderr text the
 * context printed (static buffer), or NULL when the context or the op failed. */
static const char *run_context(const char *dir) {
  static char text[4096];
  char path[600];
  snprintf(path, sizeof path, "%s/stderr.txt", dir);
  fflush(stderr);
  int saved = dup(2), fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
  dup2(fd, 2);
  close(fd);
  dvk_error err = {""};
  dvk_device *ctx = NULL;
  dvk_arena *a = NULL;
  dvk_tensor x, w, b, y;
  dvk_status s = dvk_device_create(NULL, &ctx, &err);
  if (s == DVK_OK) s = dvk_arena_create(ctx, 0, &a);
  if (s == DVK_OK) s = dvk_arena_alloc(a, 64, &x);
  if (s == DVK_OK) s = dvk_arena_alloc(a, 64, &w);
  if (s == DVK_OK) s = dvk_arena_alloc(a, 64, &b);
  if (s == DVK_OK) s = dvk_arena_alloc(a, 64, &y);
  if (s == DVK_OK) s = dvk_fill(ctx, x, 0x3f800000u, 64); /* 1.0f */
  if (s == DVK_OK) s = dvk_op_layernorm(ctx, y, x, w, b, 1, 16, 1e-5f);
  if (s == DVK_OK) s = dvk_flush(ctx);
  if (ctx) dvk_arena_destroy(a);
  dvk_device_destroy(ctx);
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
  if (f) fclose(f);
  text[n] = 0;
  if (n) fprintf(stderr, "%s", text);
  return s == DVK_OK ? text : NULL;
}

/* The one cache file in dir/dalle-vk (path into out), or 0 when there is none. */
static int find_cache(const char *dir, char *out, size_t len) {
  char cmd[700];
  snprintf(cmd, sizeof cmd, "ls %s/dalle-vk/pipelines-*.bin 2>/dev/null", dir);
  FILE *p = popen(cmd, "r");
  int found = p && fgets(out, (int)len, p) != NULL;
  if (p) pclose(p);
  if (found) out[strcspn(out, "\n")] = 0;
  return found;
}

static unsigned char *read_all(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *d = len > 0 ? malloc((size_t)len) : NULL;
  *n = d && fread(d, 1, (size_t)len, f) == (size_t)len ? (size_t)len : 0;
  fclose(f);
  return d;
}

static void write_all(const char *path, const unsigned char *d, size_t n) {
  FILE *f = fopen(path, "wb");
  if (f) fwrite(d, 1, n, f), fclose(f);
}

static uint64_t le64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
  return v;
}

/* Whether the file is a valid cache: magic, size field = payload bytes, hash field = FNV-1a of the payload. */
static int valid_file(const char *path) {
  size_t n = 0;
  unsigned char *d = read_all(path, &n);
  int ok = d && n > 48 && memcmp(d, "DVKPIPE1", 8) == 0 && le64(d + 32) == n - 48;
  if (ok) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 48; i < n; i++) h = (h ^ d[i]) * 0x100000001b3ull;
    ok = h == le64(d + 40);
  }
  free(d);
  return ok;
}

/* Damages the file with `how`, runs a context, and checks the note and the rewritten file. */
static void damaged(const char *dir, const char *path, const char *how, const char *why) {
  size_t n = 0;
  unsigned char *d = read_all(path, &n);
  if (!d) {
    check(0, how);
    return;
  }
  if (strcmp(how, "flipped payload byte") == 0) d[n - 1] ^= 0x40;
  else if (strcmp(how, "truncated") == 0) n -= 7;
  else if (strcmp(how, "another device") == 0) d[12] ^= 0xff;
  else if (strcmp(how, "garbage") == 0) memset(d, 'x', n);
  write_all(path, d, n);
  free(d);
  const char *text = run_context(dir);
  char what[200];
  snprintf(what, sizeof what, "%s: ignored with a note (%s), context works, file rewritten", how, why);
  check(text && strstr(text, "note: ignoring the pipeline cache") && strstr(text, why) && valid_file(path), what);
}

int main(void) {
  char dir[] = "/tmp/dvk-pcache-XXXXXX";
  if (!mkdtemp(dir)) return 1;
  setenv("XDG_CACHE_HOME", dir, 1);
  unsetenv("DVK_PIPELINE_CACHE");
  char path[600];
  const char *text = run_context(dir);
  check(text && find_cache(dir, path, sizeof path) && valid_file(path), "first context writes a valid cache file");
  if (find_cache(dir, path, sizeof path)) {
    text = run_context(dir);
    check(text && !strstr(text, "note:") && valid_file(path), "second context reads it without a note");
    damaged(dir, path, "flipped payload byte", "checksum mismatch");
    damaged(dir, path, "truncated", "truncated");
    damaged(dir, path, "another device", "another device");
    damaged(dir, path, "garbage", "not a dalle-vk pipeline cache");
  }
  char off_dir[] = "/tmp/dvk-pcache-off-XXXXXX";
  if (mkdtemp(off_dir)) {
    setenv("XDG_CACHE_HOME", off_dir, 1);
    setenv("DVK_PIPELINE_CACHE", "0", 1);
    text = run_context(off_dir);
    check(text && !find_cache(off_dir, path, sizeof path), "DVK_PIPELINE_CACHE=0 writes no file");
  }
  char cmd[200];
  snprintf(cmd, sizeof cmd, "rm -rf %s %s", dir, off_dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
  printf("%d failed\n", failures);
  return failures ? 1 : 0;
}
