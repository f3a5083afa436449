/* The q8_0 device layout, shared by the C host (src/ops/q8_0.c packs it) and the shaders that read it
 * (matmul_*.comp, embed.comp). The file layout is ggml's (docs/model-format.md §1): blocks of 32 values,
 * each an f16 scale d then 32 int8 q, value = d * q, 34 bytes, so the int8 data is not 4-byte aligned.
 * The device layout regroups a row of k values (k a multiple of 32) so that every word is aligned:
 *
 *   row r:  k int8 q (byte i = element i, four per little-endian uint32, element 4w in the low byte)
 *           then k / 32 f16 scales (scale b of block b = elements 32b .. 32b + 31, two per uint32, the
 *           even block in the low half), then zero words up to a multiple of 4 words (16 bytes).
 *
 * A row is DVK_Q8_ROW_WORDS(k) 32-bit words, a whole number of 16-byte texels; rows are consecutive. */
#ifndef DVK_Q8_SHARED_H
#define DVK_Q8_SHARED_H

#define DVK_Q8_BLOCK 32u /* values per block (and per scale) */

/* 32-bit words of one device row of k values (k a multiple of DVK_Q8_BLOCK). */
#define DVK_Q8_ROW_WORDS(k) ((((k) / 4u + ((k) / DVK_Q8_BLOCK + 1u) / 2u) + 3u) / 4u * 4u)

#ifndef __STDC__ /* GLSL: read element i of a row that starts at word rw of a uint buffer `buf` (k values per row) */
/* int8 q of element i, sign-extended */
#define DVK_Q8_Q(buf, rw, i) bitfieldExtract(int(buf[(rw) + ((i) >> 2u)]), int(((i) & 3u) * 8u), 8)
/* f16 scale of the block holding element i */
#define DVK_Q8_D(buf, rw, k, i) unpackHalf2x16(buf[(rw) + ((k) >> 2u) + ((i) >> 6u)])[((i) >> 5u) & 1u]
/* the value d * q */
#define DVK_Q8_AT(buf, rw, k, i) (DVK_Q8_D(buf, rw, k, i) * float(DVK_Q8_Q(buf, rw, i)))
/* the four values of one quant word u (elements 4w .. 4w + 3), times d */
#define DVK_Q8_WORD(u, d) (vec4(ivec4(int((u) << 24u), int((u) << 16u), int((u) << 8u), int(u)) >> 24) * (d))
#endif

#endif
