/* Push-constant blocks of the transformer ops (LayerNorm, embeddings, KV cache, masked attention).
 * Shared by the C host (src/ops/{norm,embed,attention}.c) and the GLSL shaders; conventions as in
 * dvk_shared.h (32-bit scalar members only). */
#ifndef DVK_TRANSFORMER_SHARED_H
#define DVK_TRANSFORMER_SHARED_H

#include "dvk_shared.h"

/* ---- layernorm.comp: y[r, :] (+)= (x[r, :] - mean) / sqrt(var + eps) * w + b, r < rows ---- */
DVK_STRUCT(dvk_pc_layernorm) {
  DVK_U32 rows;       /* rows in this dispatch */
  DVK_U32 d;          /* row length (d_model) */
  DVK_F32 eps;
  DVK_U32 accumulate; /* 1: y += the normalised row (a sandwich norm's residual add); 0: y = it */
};
DVK_PUSH_CHECK(dvk_pc_layernorm, 4)

/* ---- embed.comp: out[b, row0 + t, :] = table[ids[b, t] - v0, :] + positions, for the ids inside the
 * bound table chunk [v0, v0 + v_count); pos_mode: 0 none, 1 text (pos_a[p0 + t]), 2 image
 * (pos_a[(p0 + t) / grid] + pos_b[(p0 + t) % grid]). ---- */
#define DVK_EMBED_POS_NONE 0
#define DVK_EMBED_POS_TEXT 1
#define DVK_EMBED_POS_IMAGE 2
DVK_STRUCT(dvk_pc_embed) {
  DVK_U32 batch;     /* sequences B */
  DVK_U32 n;         /* tokens per sequence */
  DVK_U32 d;         /* row length (d_model) */
  DVK_U32 vocab;     /* rows of the whole table: ids outside [0, vocab) embed as zeros */
  DVK_U32 v0;        /* first table row bound by this dispatch */
  DVK_U32 v_count;   /* table rows bound by this dispatch */
  DVK_U32 first;     /* 1 in the dispatch that also writes out-of-range ids */
  DVK_U32 pos_mode;  /* DVK_EMBED_POS_* */
  DVK_U32 p0;        /* position of token 0 */
  DVK_U32 grid;      /* G (image mode) */
  DVK_U32 pos_rows;  /* rows of pos_a (positions at or past it add zeros) */
  DVK_U32 out_rows;  /* rows per sequence in out */
  DVK_U32 out_row0;  /* row of token 0 within a sequence of out */
};
DVK_PUSH_CHECK(dvk_pc_embed, 13)

/* ---- embed_row.comp: out[b, row, c] = src[src_off + c], b < batch, c < d ---- */
DVK_STRUCT(dvk_pc_embed_row) {
  DVK_U32 batch;
  DVK_U32 d;
  DVK_U32 out_rows; /* rows per sequence in out */
  DVK_U32 row;      /* row written in each sequence */
  DVK_U32 src_off;  /* element offset of the vector in the bound source range */
};
DVK_PUSH_CHECK(dvk_pc_embed_row, 5)

/* ---- attention masks (attn.comp) ---- */
#define DVK_ATTN_FULL 0
#define DVK_ATTN_ROW 1
#define DVK_ATTN_COL 2
#define DVK_ATTN_CONV 3
#define DVK_ATTN_KEYS 4 /* bidirectional over keys 0..n_keys-1 (encoder, cross-attention) */

/* ---- kv_append.comp: cache_k[b, hh, p0 + t, :] = k part of qkv[b, t, :], same for v ---- */
DVK_STRUCT(dvk_pc_kv_append) {
  DVK_U32 batch;    /* sequences in this dispatch */
  DVK_U32 n;        /* rows (positions) per sequence */
  DVK_U32 p0;       /* cache position of row 0 */
  DVK_U32 n_heads;
  DVK_U32 d_head;
  DVK_U32 s_max;    /* positions per sequence in the cache */
};
DVK_PUSH_CHECK(dvk_pc_kv_append, 6)

/* ---- kv_broadcast.comp: dst[b, hh, s, :] = src[0, hh, s, :], first <= b < batch, s < n ---- */
DVK_STRUCT(dvk_pc_kv_broadcast) {
  DVK_U32 batch;    /* sequences in the bound destination range */
  DVK_U32 first;    /* first sequence of that range to write (1 when it starts at sequence 0) */
  DVK_U32 n;        /* positions copied */
  DVK_U32 n_heads;
  DVK_U32 d_head;
  DVK_U32 s_max;
};
DVK_PUSH_CHECK(dvk_pc_kv_broadcast, 6)

/* ---- attn.comp: one workgroup per (sequence, head, query) ---- */
DVK_STRUCT(dvk_pc_attn) {
  DVK_U32 batch;     /* sequences in this dispatch */
  DVK_U32 nq;        /* queries per sequence */
  DVK_U32 p0;        /* position of query 0 */
  DVK_U32 n_heads;
  DVK_U32 s_max;     /* positions per sequence in the cache */
  DVK_U32 image0;    /* position of image index 0: earlier positions are causal and seen by every later query */
  DVK_U32 grid;      /* G */
  DVK_U32 mask;      /* DVK_ATTN_* */
  DVK_U32 conv_half; /* conv kernel k = 2 * conv_half + 1 */
  DVK_U32 conv_wrap; /* 1: circular distance modulo G; 0: clamp at the edges */
  DVK_F32 scale;     /* 1 / sqrt(d_head) */
  DVK_U32 n_keys;    /* DVK_ATTN_KEYS: every query sees keys 0 .. n_keys - 1 (no causality, no image logic) */
  DVK_U32 kv_shared; /* 1: every query sequence of the dispatch reads the bound cache's sequence 0 */
  DVK_U32 q_off;     /* vec4 index of query sequence 0 in the bound qkv range (likewise out, cache_k, cache_v) */
  DVK_U32 o_off;
  DVK_U32 k_off;
  DVK_U32 v_off;
};
DVK_PUSH_CHECK(dvk_pc_attn, 17)

#endif
