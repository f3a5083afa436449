/* Public API: image codes -> pixels with the model's image decoder (dVAE or VQGAN; include/dallevk.h,
 * dvk_decode_codes), for previews of partly sampled images. */
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "vk/dispatch.h"

/* Gray of the pixel cells whose codes are not sampled yet. */
#define UNSAMPLED_GRAY 128

/* The most frequent sampled (non-negative) code of one image's codes [gg], the lowest of equally frequent ones (0
 * when none is sampled): on emoji, the background. counts: scratch [vocab]. */
static int32_t filler_code(const int32_t *codes, size_t gg, uint32_t *counts, uint32_t vocab) {
  memset(counts, 0, vocab * sizeof *counts);
  for (size_t i = 0; i < gg; i++)
    if (codes[i] >= 0) counts[codes[i]]++;
  uint32_t best = 0;
  for (uint32_t k = 1; k < vocab; k++)
    if (counts[k] > counts[best]) best = k;
  return (int32_t)best;
}

dvk_status dvk_decode_codes(dvk_model *m, const int32_t *codes, uint32_t n, dvk_images **out) {
  dvk_device *vk = m->ctx->vk;
  *out = NULL;
  const uint32_t G = m->cfg.dalle.grid, R = m->codec.image_size, vocab = m->cfg.dalle.image_vocab, cell = R / G;
  const size_t gg = (size_t)G * G;
  if (!codes || n == 0) return dvk_fail(vk, DVK_ERR_INVALID_ARGUMENT, "dvk_decode_codes: codes must not be NULL and n >= 1");
  for (size_t i = 0; i < n * gg; i++)
    if (codes[i] >= (int32_t)vocab)
      return dvk_fail(vk, DVK_ERR_INVALID_ARGUMENT, "dvk_decode_codes: codes[%zu] = %d is not an image code (0..%u)", i,
                      codes[i], vocab - 1);
  int32_t *filled = malloc(n * gg * sizeof *filled);
  uint32_t *counts = malloc(vocab * sizeof *counts);
  dvk_images *im = calloc(1, sizeof *im);
  uint8_t *rgb = malloc((size_t)n * R * R * 3);
  uint8_t **pixels = malloc(n * sizeof *pixels);
  dvk_arena *arena = NULL;
  dvk_status s = filled && counts && im && rgb && pixels ? DVK_OK
                                                         : dvk_fail(vk, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  for (uint32_t b = 0; s == DVK_OK && b < n; b++) {
    const int32_t *c = codes + b * gg;
    const int32_t fill = filler_code(c, gg, counts, vocab);
    for (size_t i = 0; i < gg; i++) filled[b * gg + i] = c[i] >= 0 ? c[i] : fill;
  }
  /* A caller's recorded work (pruning's KV-cache copies, when called from on_prune or progress) runs first, so that
   * discarding after a failure below drops only this decode's commands. */
  if (s == DVK_OK) s = dvk_flush(vk);
  /* blocks sized for one decode (the decoder's scratch, the codes, the image), not the default 256 MiB */
  if (s == DVK_OK) s = dvk_arena_create(vk, dvk_image_codec_decode_bytes(&m->codec) + (1 << 16), &arena);
  if (s == DVK_OK) s = dvk_image_codec_decode(vk, arena, &m->codec, filled, n, rgb, NULL, NULL);
  if (s != DVK_OK) dvk_discard(vk);
  dvk_arena_destroy(arena);
  free(filled);
  free(counts);
  if (s != DVK_OK) {
    free(rgb);
    free(pixels);
    free(im);
    return s;
  }
  for (uint32_t b = 0; b < n; b++) {
    pixels[b] = rgb + (size_t)b * R * R * 3;
    for (size_t i = 0; i < gg; i++) /* paint the cells of unsampled codes */
      if (codes[b * gg + i] < 0)
        for (uint32_t y = 0; y < cell; y++)
          memset(pixels[b] + (((i / G) * cell + y) * R + (i % G) * cell) * 3, UNSAMPLED_GRAY, (size_t)cell * 3);
  }
  im->count = n;
  im->width = im->height = R;
  im->stride = 3 * R;
  im->pixels = pixels;
  *out = im;
  return DVK_OK;
}
