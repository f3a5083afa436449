/* The binding-window rule (src/ops/window.h) against a direct C reference of it, on made-up device limits
 * (no Vulkan device needed): seeded random tensors, offsets aligned and not, windows at the end of a
 * tensor and past it, f16 tails that end off a 32-bit word, windows at and over maxStorageBufferRange,
 * the row splits and whole-operand bindings.
 * The reference searches byte by byte for the window start, so it shares no arithmetic with the helper. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/window.h"

static uint64_t rng_state;
static uint64_t rnd(uint64_t n) { /* splitmix64, uniform enough in [0, n) */
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return n ? (z ^ (z >> 31)) % n : 0;
}

typedef struct ref_window {
  int ok;
  uint64_t base, len, off; /* base: bytes from the buffer start */
} ref_window;

/* A start is allowed when it is a multiple of 16 and of both offset alignments. */
static int allowed_start(const dvk_device *c, uint64_t b) {
  return b % 16 == 0 && b % c->limits.storage_align == 0 && b % c->limits.texel_align == 0;
}

/* The rule, stated directly: the window starts at the last allowed byte at or before the first element,
 * ends at the last element's end rounded up to 4 bytes but not past the tensor, spans at most
 * maxStorageBufferRange; the tensor must hold the elements and start on an element boundary. */
static ref_window reference(const dvk_device *c, dvk_tensor t, uint64_t first, uint64_t n, uint32_t eb) {
  ref_window r = {0};
  if ((first + n) * eb > t.size || t.offset % eb) return r;
  uint64_t start = t.offset + first * eb, stop = t.offset + (first + n) * eb;
  uint64_t b = start;
  while (!allowed_start(c, b)) b--;
  uint64_t end = stop % 4 ? stop + 4 - stop % 4 : stop;
  if (end > t.offset + t.size) end = t.offset + t.size;
  if (end - b > c->limits.max_storage_range) return r;
  r.ok = 1, r.base = b, r.len = end - b, r.off = (start - b) / eb;
  return r;
}

/* Rows per window, stated directly: all rows when they fit, else the most rows that fit whose byte count
 * is an allowed start; 0 when none. */
static uint32_t reference_rows(const dvk_device *c, uint64_t row_bytes, uint32_t total, uint64_t max_bytes) {
  if (row_bytes * total <= max_bytes) return total;
  for (uint64_t r = max_bytes / row_bytes; r > 0; r--)
    if (allowed_start(c, r * row_bytes)) return (uint32_t)r;
  return 0;
}

static int failures, checks;

static void fail(uint64_t seed, int iter, const char *what) {
  if (failures++ < 10) fprintf(stderr, "FAIL %s (iteration %d; rerun: test_window --seed %llu)\n", what, iter,
                               (unsigned long long)seed);
}

static void check_window(const dvk_device *cc, dvk_tensor t, uint64_t first, uint64_t n, uint32_t eb, uint64_t seed,
                         int iter) {
  dvk_device *c = (dvk_device *)cc;
  ref_window r = reference(c, t, first, n, eb);
  dvk_window w = {0};
  dvk_status s = dvk_window_of(c, "op", "x", t, first, n, eb, &w);
  checks++;
  if ((s == DVK_OK) != r.ok) {
    fail(seed, iter, r.ok ? "window refused that the rule allows" : "window accepted that the rule refuses");
    fprintf(stderr, "  offset %llu size %llu first %llu n %llu eb %u: %s\n", (unsigned long long)t.offset,
            (unsigned long long)t.size, (unsigned long long)first, (unsigned long long)n, eb, c->error);
    return;
  }
  if (s != DVK_OK) {
    if (strncmp(c->error, "op: ", 4) != 0 || !strstr(c->error, " x ")) fail(seed, iter, "message names no op/tensor");
    return;
  }
  if (w.t.offset != r.base || w.t.size != r.len || w.off != r.off || w.t.buffer != t.buffer)
    fail(seed, iter, "window differs from the rule");
  if (t.host && (char *)w.t.host != (char *)t.host - (t.offset - r.base)) fail(seed, iter, "host pointer");
  dvk_tensor e = {0};
  s = dvk_window_exact(c, "op", "x", t, first, n, eb, &e);
  if ((s == DVK_OK) != (r.off == 0)) fail(seed, iter, "exact window disagrees with the window offset");
  if (first == 0 && r.off == 0) { /* an operand bound whole from an aligned start */
    e = dvk_bind_range(t, n * eb);
    if (e.offset != r.base || e.size != r.len) fail(seed, iter, "dvk_bind_range differs from the rule");
  }
}

int main(int argc, char **argv) {
  uint64_t seed = (uint64_t)time(NULL);
  if (argc == 3 && strcmp(argv[1], "--seed") == 0) seed = strtoull(argv[2], NULL, 10);
  printf("test_window: seed %llu\n", (unsigned long long)seed);
  rng_state = seed;
  static const VkDeviceSize storage[] = {1, 4, 16, 64, 256}, texel[] = {1, 4, 16, 256};
  static char host[1];
  dvk_device *c = calloc(1, sizeof *c);
  if (!c) return 1;
  for (int iter = 0; iter < 20000; iter++) {
    c->limits.storage_align = storage[rnd(5)];
    c->limits.texel_align = texel[rnd(4)];
    c->limits.max_storage_range = rnd(4) ? 1024 + 4 * rnd(4096) : (VkDeviceSize)128 << 20;
    const uint32_t eb = rnd(2) ? 4 : 2;
    dvk_tensor t = {.buffer = (VkBuffer)(uintptr_t)0x1000, .host = rnd(2) ? host : NULL};
    t.offset = rnd(3) ? 256 * rnd(64) : eb * rnd(4096); /* aligned, or any element boundary */
    if (!rnd(50)) t.offset += 1;                           /* not an element boundary: refused */
    t.size = eb * (1 + rnd(c->limits.max_storage_range / eb + 64));
    uint64_t elems = t.size / eb, first = rnd(elems), n = 1 + rnd(elems - first);
    switch (rnd(4)) {
    case 0: n = elems - first; break;           /* the window ends at the tensor's end */
    case 1: n = elems - first + 1; break;       /* one element past it: refused */
    case 2: first = 0, n = elems; break;        /* the whole tensor */
    default: break;
    }
    check_window(c, t, first, n, eb, seed, iter);
    /* dvk_window_max_elems: that many elements always fit, wherever they start */
    uint64_t me = dvk_window_max_elems(c, eb);
    dvk_tensor big = {.buffer = t.buffer, .offset = 256 * rnd(64), .size = (me + 64) * eb};
    dvk_window w;
    checks++;
    if (dvk_window_of(c, "op", "x", big, rnd(64), me, eb, &w) != DVK_OK) fail(seed, iter, "max_elems window refused");
    /* rows: the count of the rule, and every row window of an aligned tensor then starts exactly */
    uint64_t row_bytes = eb * (1 + rnd(300));
    uint32_t total = 1 + (uint32_t)rnd(200);
    uint64_t max_bytes = rnd(2) ? c->limits.max_storage_range : c->limits.max_storage_range / 2;
    uint32_t rows = dvk_window_rows(c, row_bytes, total, max_bytes);
    checks++;
    if (rows != reference_rows(c, row_bytes, total, max_bytes)) fail(seed, iter, "rows per window differ");
    dvk_tensor rt = {.buffer = t.buffer, .offset = 4096 * rnd(4), .size = row_bytes * total};
    for (uint32_t r0 = 0; rows && r0 < total; r0 += rows) {
      uint32_t cnt = total - r0 < rows ? total - r0 : rows;
      dvk_tensor e;
      uint64_t per = row_bytes / eb;
      if (dvk_window_exact(c, "op", "x", rt, r0 * per, cnt * per, eb, &e) != DVK_OK)
        fail(seed, iter, "row window not exact");
    }
  }
  /* named edge cases on lavapipe's limits */
  c->limits.storage_align = c->limits.texel_align = 16;
  c->limits.max_storage_range = (VkDeviceSize)128 << 20;
  dvk_tensor t = {.buffer = (VkBuffer)(uintptr_t)0x1000, .offset = 4, .size = c->limits.max_storage_range};
  dvk_window w;
  if (dvk_window_of(c, "op", "x", t, 0, t.size / 4, 4, &w) == DVK_OK) fail(seed, -1, "range + 4 bytes accepted");
  t.offset = 16;
  if (dvk_window_of(c, "op", "x", t, 0, t.size / 4, 4, &w) != DVK_OK) fail(seed, -1, "exactly the range refused");
  t.size = 6; /* three f16 values: the window ends at the tensor, not on a 32-bit word */
  if (dvk_window_of(c, "op", "x", t, 1, 2, 2, &w) != DVK_OK || w.t.size != 6 || w.off != 1)
    fail(seed, -1, "f16 tail window");
  checks += 3;
  free(c);
  printf("%d checks, %d failed\n", checks, failures);
  return failures ? 1 : 0;
}
