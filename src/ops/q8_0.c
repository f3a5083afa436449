/* q8_0 repacking and decoding. See q8_0.h. */
#include "ops/q8_0.h"

#include <string.h>

#include "ops/half.h"

/* The f16 scale bits at the start of a file block (little-endian, read bytewise: blocks are 2-aligned at best). */
static uint16_t block_scale(const uint8_t *blk) { return (uint16_t)(blk[0] | blk[1] << 8); }

void dvk_q8_pack(uint32_t rows, uint32_t k, const void *src, void *dst) {
  const uint32_t nb = k / DVK_Q8_BLOCK;
  const uint64_t row_bytes = dvk_q8_row_bytes(k);
  const uint8_t *in = src;
  memset(dst, 0, (size_t)(rows * row_bytes));
  for (uint32_t r = 0; r < rows; r++) {
    uint8_t *q = (uint8_t *)dst + r * row_bytes, *d = q + k; /* int8 values, then the f16 scales */
    for (uint32_t b = 0; b < nb; b++, in += DVK_Q8_FILE_BYTES) {
      memcpy(q + (size_t)b * DVK_Q8_BLOCK, in + 2, DVK_Q8_BLOCK);
      d[2 * b] = in[0], d[2 * b + 1] = in[1];
    }
  }
}

void dvk_q8_dequantize(uint64_t n, const void *src, float *dst) {
  const uint8_t *blk = src;
  for (uint64_t i = 0; i < n; i += DVK_Q8_BLOCK, blk += DVK_Q8_FILE_BYTES) {
    const float d = dvk_f16_to_f32(block_scale(blk));
    for (uint32_t j = 0; j < DVK_Q8_BLOCK; j++) dst[i + j] = d * (float)(int8_t)blk[2 + j];
  }
}
