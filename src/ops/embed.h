/* Token embeddings of the DALL-E sequence: text (token + position), image (token + row + column), and
 * the start-of-image row. Tables may be f32 or f16 and larger than maxStorageBufferRange (the paper's
 * text table [16640, 3968] f32 is 264 MB): the token table is bound in row chunks, one dispatch per
 * chunk, each writing the outputs whose ids fall inside it. */
#ifndef DVK_OPS_EMBED_H
#define DVK_OPS_EMBED_H

#include "vk/dispatch.h"

typedef enum dvk_table_dtype { DVK_TABLE_F32 = 0, DVK_TABLE_F16 = 1 } dvk_table_dtype;

/* A row-major table [rows, d], c fastest: f32, or IEEE f16 (2 bytes per element, read packed two per
 * 32-bit word, so an f16 tensor must hold a whole number of words: pad rows * d odd by 2 bytes). */
typedef struct dvk_embed_table {
  dvk_tensor t;
  uint32_t rows;
  uint32_t d;
  dvk_table_dtype dtype;
} dvk_embed_table;

/* Where an embedding op writes: out f32 [batch, out_rows, d] row-major; token t of sequence b goes to
 * row out_row0 + t of that sequence (so text, start-of-image and image rows can share one buffer). */
typedef struct dvk_embed_out {
  dvk_tensor t;
  uint32_t out_rows; /* rows per sequence */
  uint32_t out_row0; /* row of token 0 */
} dvk_embed_out;

/* Text embedding (any token table + one 1-D position table: also linear image positions), for n tokens at
 * positions p0 .. p0+n-1 of each of `batch` sequences:
 *   out[b, out_row0 + t, :] = tok[ids[b, t], :] + pos[p0 + t, :]
 * ids: int32 [batch, n]; tok: [V_text, d] (incl. the per-position pad tokens); pos: [T, d], same dtype
 * as tok. An id outside [0, tok.rows) embeds as a zero row (out = the position embedding only).
 * Records one dispatch per chunk of tok rows that fits maxStorageBufferRange.
 * Errors: DVK_ERR_INVALID_ARGUMENT (p0 + n > pos.rows, d or dtype mismatch, tensors too small, out,
 * ids or pos over the binding range). */
dvk_status dvk_op_embed_text(dvk_device *ctx, const dvk_embed_out *out, dvk_tensor ids, uint32_t batch, uint32_t n,
                             uint32_t p0, const dvk_embed_table *tok, const dvk_embed_table *pos);

/* Image embedding, for n image tokens with image indices i0 .. i0+n-1 (raster order on the G x G grid):
 *   out[b, out_row0 + t, :] = tok[codes[b, t], :] + row_emb[(i0 + t) / G, :] + col_emb[(i0 + t) % G, :]
 * codes: int32 [batch, n]; tok: [V_image, d]; row_emb, col_emb: [G, d]; one dtype for all three.
 * A code outside [0, tok.rows) embeds as a zero row. Errors: as dvk_op_embed_text (i0 + n > G * G,
 * row_emb or col_emb with fewer than G rows). */
dvk_status dvk_op_embed_image(dvk_device *ctx, const dvk_embed_out *out, dvk_tensor codes, uint32_t batch, uint32_t n,
                              uint32_t i0, uint32_t grid, const dvk_embed_table *tok, const dvk_embed_table *row_emb,
                              const dvk_embed_table *col_emb);

/* Copies row src_row of table src into row out_row0 of each of `batch` sequences:
 *   out[b, out_row0, :] = src[src_row, :]   (the start-of-image embedding; out_rows as in dvk_embed_out).
 * Errors: DVK_ERR_INVALID_ARGUMENT (src_row >= src.rows, d mismatch, tensors too small). */
dvk_status dvk_op_embed_row(dvk_device *ctx, const dvk_embed_out *out, uint32_t batch, const dvk_embed_table *src,
                            uint32_t src_row);

#endif
