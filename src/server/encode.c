/* RGB8 -> PNG -> base64: see encode.h. */
#include "server/encode.h"

#include <stdlib.h>
#include <string.h>

#include <stb/stb_image_write.h>

typedef struct growbuf {
  uint8_t *data;
  size_t len, cap;
  int failed;
} growbuf;

static void append(void *ctx, void *data, int size) {
  growbuf *g = ctx;
  if (g->failed || size <= 0) return;
  if (g->len + (size_t)size > g->cap) {
    size_t cap = g->cap ? g->cap : 4096;
    while (cap < g->len + (size_t)size) cap *= 2;
    uint8_t *d = realloc(g->data, cap);
    if (!d) {
      g->failed = 1;
      return;
    }
    g->data = d;
    g->cap = cap;
  }
  memcpy(g->data + g->len, data, (size_t)size);
  g->len += (size_t)size;
}

/* RFC 4648 base64 with padding. */
static char *base64(const uint8_t *in, size_t n) {
  static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
  if (!out) return NULL;
  for (size_t i = 0; i < n; i += 3) {
    const uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
    *o++ = abc[v >> 18 & 63];
    *o++ = abc[v >> 12 & 63];
    *o++ = i + 1 < n ? abc[v >> 6 & 63] : '=';
    *o++ = i + 2 < n ? abc[v & 63] : '=';
  }
  *o = 0;
  return out;
}

char *png_base64(const uint8_t *rgb, uint32_t w, uint32_t h, uint32_t stride) {
  growbuf g = {0};
  char *out = NULL;
  if (stbi_write_png_to_func(append, &g, (int)w, (int)h, 3, rgb, (int)stride) && !g.failed) out = base64(g.data, g.len);
  free(g.data);
  return out;
}
