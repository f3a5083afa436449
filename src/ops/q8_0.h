/* q8_0 weights on the host: ggml's file blocks (an f16 scale d then 32 int8 q, value = d * q; 34 bytes per
 * 32 values) repacked into the device layout the kernels read (shaders/q8_shared.h: per row the k int8 values,
 * then the k / 32 f16 scales, padded to 16 bytes), and decoded to floats. k must be a multiple of
 * DVK_Q8_BLOCK (32) in every function; the file loader checks it (src/model/gguf.c). docs/model-format.md
 * §1 defines the file layout and the quantisation rule. */
#ifndef DVK_OPS_Q8_0_H
#define DVK_OPS_Q8_0_H

#include <stddef.h>
#include <stdint.h>

#include "q8_shared.h"

#define DVK_Q8_FILE_BYTES 34u /* bytes of one file block */

/* Bytes of one device row of k values (DVK_Q8_ROW_WORDS(k) * 4, a multiple of 16). */
static inline uint64_t dvk_q8_row_bytes(uint32_t k) { return (uint64_t)DVK_Q8_ROW_WORDS(k) * 4u; }

/* Repacks rows x k values from ggml blocks (src: rows * k / 32 blocks, row-major, any alignment) into
 * the device layout at dst (rows * dvk_q8_row_bytes(k) bytes, written fully, padding zeroed). */
void dvk_q8_pack(uint32_t rows, uint32_t k, const void *src, void *dst);

/* Decodes n values (n a multiple of 32) of ggml blocks at src (any alignment) into f32 d * q at dst. Exact. */
void dvk_q8_dequantize(uint64_t n, const void *src, float *dst);

#endif
