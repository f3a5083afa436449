/* Masked multi-head attention of the DALL-E transformer, with a KV cache on the device.
 *
 * Sequence positions (docs/design.md §3): the mask's image0 = I0 splits them. Positions p < I0 (the text, and
 * the start-of-image token when the model has one) are plain causal, and every later query sees them; a
 * position p >= I0 is image index i = p - I0 and sees the image keys j <= i its layer's mask allows (full / row /
 * col / conv k with wrap or clamp). With a start token I0 = T + 1 (image token i at T+1+i); without, I0 = T; a
 * file may shift it (dalle.mask_image0, ruDALL-E v2). The keys mask (encoder-decoder models) has no positions:
 * query sequence b sees keys 0 .. key_len[c] - 1 of cache sequence c = b / q_per_kv. One softmax over all allowed
 * keys, scale 1 / sqrt(d_head).
 *
 * Use: prefill = dvk_op_kv_append(all S rows, p0 = 0) + dvk_op_attention(nq = S, p0 = 0), or
 * dvk_op_attention_cached, which does both; decode step at position p = the same with nq = 1, p0 = p.
 * Generation prefills one sequence, then dvk_op_kv_broadcast copies its cache to the B candidates. */
#ifndef DVK_OPS_ATTENTION_H
#define DVK_OPS_ATTENTION_H

#include "transformer_shared.h"
#include "vk/dispatch.h"

/* One layer's KV cache: k and v are f32 [batch, n_heads, s_max, d_head] row-major (d_head fastest, so
 * each head's keys are contiguous rows). d_head must be a multiple of 4 and at most 256. A cache larger
 * than maxStorageBufferRange is fine: ops bind it in chunks of whole sequences. */
typedef struct dvk_kv_cache {
  dvk_tensor k, v;
  uint32_t batch, n_heads, s_max, d_head;
} dvk_kv_cache;

typedef enum dvk_attn_mask_type {
  DVK_MASK_FULL = DVK_ATTN_FULL, /* all earlier image keys */
  DVK_MASK_ROW = DVK_ATTN_ROW,   /* i - j <= G */
  DVK_MASK_COL = DVK_ATTN_COL,   /* (i - j) % G == 0 */
  DVK_MASK_CONV = DVK_ATTN_CONV, /* j == i or j < i inside the k x k window around i */
  DVK_MASK_KEYS = DVK_ATTN_KEYS, /* no causality: keys 0 .. key_len - 1 (text encoder, cross-attention) */
} dvk_attn_mask_type;

/* A layer's mask. conv: k odd; wrap 1 measures row and column distances modulo G (min(|d|, G - |d|)),
 * 0 clamps at the grid edges (plain |d|). */
typedef struct dvk_attn_mask {
  dvk_attn_mask_type type;
  uint32_t image0;   /* I0: the position of image index 0; earlier keys are visible to every later query */
  uint32_t grid;     /* G */
  uint32_t conv_k;   /* conv only: odd kernel size */
  int conv_wrap;     /* conv only */
  /* keys only: query sequence b reads cache sequence c = b / q_per_kv (q_per_kv 0 counts as 1) and sees its
   * keys 0 .. key_len[c] - 1 (a host array; the positions after a prompt's length are its padding). Query
   * positions (p0) play no part. image0, grid and conv_* are ignored. */
  const uint32_t *key_len;
  uint32_t q_per_kv;
} dvk_attn_mask;

/* Writes the k and v parts of qkv rows into the cache at positions p0 .. p0+n-1 of sequences
 * 0..batch-1: cache.k[b, hh, p0 + t, x] = qkv[b, t, d + hh*d_head + x], cache.v likewise from 2d + ...
 * qkv: f32 [batch, n, 3 d] (q | k | v; d = n_heads * d_head). Records one dispatch per chunk.
 * Errors: DVK_ERR_INVALID_ARGUMENT (batch > cache.batch, p0 + n > s_max, tensors too small). */
dvk_status dvk_op_kv_append(dvk_device *ctx, const dvk_kv_cache *cache, dvk_tensor qkv, uint32_t batch, uint32_t n,
                            uint32_t p0);

/* The bindings of the k and v caches of sequences 0..batch-1 for a writer that appends positions
 * p0 .. p0+n-1 itself (the QKV matmul's epilogue, DVK_MM_KV), with the checks of dvk_op_kv_append. *k and *v
 * are left empty (buffer VK_NULL_HANDLE) when those sequences do not fit one binding: then append with
 * dvk_op_kv_append instead. Errors: as dvk_op_kv_append. */
dvk_status dvk_kv_append_window(dvk_device *ctx, const dvk_kv_cache *cache, uint32_t batch, uint32_t n, uint32_t p0,
                                dvk_tensor *k, dvk_tensor *v);

/* Copies positions 0..n-1 of sequence 0 of the cache (k and v) to sequences 1..batch-1.
 * Errors: DVK_ERR_INVALID_ARGUMENT (batch > cache.batch, n > s_max, tensors too small). */
dvk_status dvk_op_kv_broadcast(dvk_device *ctx, const dvk_kv_cache *cache, uint32_t batch, uint32_t n);

/* Copies positions 0..n-1 (k and v) of sequence src[b] to sequence b, for every b < batch with src[b] != b
 * (pruning candidates: a dropped candidate continues from a kept one's cache). A source must keep its own
 * state (src[src[b]] == src[b]). Recorded as one copy command per tensor into the current submission
 * (no wait); the next dispatches see the copied state.
 * Errors: DVK_ERR_INVALID_ARGUMENT (src out of range or chained, batch > cache.batch, n > s_max). */
dvk_status dvk_op_kv_copy(dvk_device *ctx, const dvk_kv_cache *cache, const uint32_t *src, uint32_t batch, uint32_t n);

/* Attention of nq queries per sequence, at positions p0 .. p0+nq-1, against the cached keys/values:
 *   out[b, t, hh*d_head + x] = sum_k softmax_k(q . K[b, hh, k] / sqrt(d_head)) V[b, hh, k, x]
 * over the keys k the mask allows for position p0 + t (enumerated in the shader; only those are read).
 * q from qkv: f32 [batch, nq, 3 d], q = the first d columns; out: f32 [batch, nq, d]. Every key the
 * queries may see (positions < p0 + nq) must already be in the cache (dvk_op_kv_append).
 * The keys mask reads K and V of cache sequence b / q_per_kv instead, keys 0 .. key_len - 1 whatever p0
 * (cross-attention: decoder positions against the encoder's cache); one dispatch per cache sequence.
 * One workgroup per (sequence, head, query). fp32 throughout.
 * Errors: DVK_ERR_INVALID_ARGUMENT (p0 + nq > s_max or > I0 + G*G, conv k even, G == 0,
 * d_head not a multiple of 4 or over 256, batch > cache.batch, tensors too small; keys mask: key_len NULL
 * or an entry outside 1..s_max, more cache sequences read (batch / q_per_kv rounded up) than cache.batch,
 * the p0 bounds do not apply). */
dvk_status dvk_op_attention(dvk_device *ctx, dvk_tensor out, dvk_tensor qkv, const dvk_kv_cache *cache,
                            const dvk_attn_mask *mask, uint32_t batch, uint32_t nq, uint32_t p0);

/* dvk_op_kv_append(cache, qkv, batch, nq, p0) followed by dvk_op_attention(...): the attention of one
 * layer for new rows (prefill: p0 = 0, nq = S; decode: nq = 1, p0 = position; encoder self-attention: the
 * keys mask with q_per_kv 1, p0 = 0, nq = T). */
dvk_status dvk_op_attention_cached(dvk_device *ctx, dvk_tensor out, dvk_tensor qkv, const dvk_kv_cache *cache,
                                   const dvk_attn_mask *mask, uint32_t batch, uint32_t nq, uint32_t p0);

#endif
