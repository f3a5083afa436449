/* One transformer block on the device, shared by the DALL-E transformer (transformer.h) and the reranker's text
 * and image towers (reranker.h). Pre-LN (the default):
 *   x += out(attention(qkv(LN1(x))));   x += fc2(GELU(fc1(LN2(x))))
 * Sandwich (CogView / ruDALL-E, docs/design.md §3): each branch output goes through its own LayerNorm first,
 *   x += LN_post1(out(...));             x += LN_post2(fc2(...))
 * GELU is the erf form, or the tanh form (gelu_tanh); out_clamp > 0 clamps the out projection (after its bias)
 * to [-c, c]. The QKV matmul appends K and V to the KV cache (dvk_matmul_kv), then dvk_op_attention runs with
 * the block's mask (scale 1/sqrt(d_head), one softmax over the allowed keys). A zeroed layer's options are the
 * defaults (pre-LN, erf, no clamp).
 * The blocks of an encoder-decoder file (DALL-E Mini / Mega, docs/model-format.md §9.2; dvk_layer_load_glu):
 *   x += LN_post1(out(attention(qkv(LN1(x)))))
 *   x += LN_cross_post(cross.out(attention(cross.q(LN_cross(x)), the encoder's K/V)))   (decoder blocks only)
 *   x += fc2(mid_ln(GELU(fc1(LN2(x))) * gate(LN2(x))))                                   (the GLU, no biases) */
#ifndef DVK_MODEL_BLOCK_H
#define DVK_MODEL_BLOCK_H

#include "model/weights.h"
#include "ops/attention.h"
#include "ops/matmul.h"

typedef struct dvk_layer {
  dvk_tensor ln1_w, ln1_b, ln2_w, ln2_b; /* f32 [d] */
  dvk_matmul_weight qkv, out, fc1, fc2;  /* [3d, d], [d, d], [d_ff, d], [d, d_ff] */
  dvk_tensor qkv_b, out_b, fc1_b, fc2_b; /* f32 [3d], [d], [d_ff], [d] */
  dvk_attn_mask mask;
  int attn_post, mlp_post;           /* post_ln1 / post_ln2 loaded (sandwich; attn_post also in GLU blocks) */
  dvk_tensor post_ln1_w, post_ln1_b; /* f32 [d]: attn.post_ln (sandwich) */
  dvk_tensor post_ln2_w, post_ln2_b; /* f32 [d]: mlp.post_ln (sandwich) */
  int glu;                           /* the GLU feed-forward: gate, mid_ln; fc1 / fc2 without biases */
  dvk_matmul_weight gate;            /* [d_ff, d] */
  dvk_tensor mid_ln_w, mid_ln_b;     /* f32 [d_ff] */
  int cross;                         /* a cross-attention sublayer (decoder blocks of encoder-decoder files) */
  dvk_tensor ln_cross_w, ln_cross_b; /* f32 [d] */
  dvk_matmul_weight cross_q, cross_kv, cross_out; /* [d, d], [2d, d] (k | v), [d, d] */
  dvk_tensor cross_q_b, cross_kv_b, cross_out_b;  /* f32 [d], [2d], [d] */
  dvk_tensor cross_post_w, cross_post_b;          /* f32 [d] */
  int gelu_tanh;                     /* 1: tanh GELU; 0: erf */
  float out_clamp;                   /* > 0: clamp of the attention output projection; 0: none */
} dvk_layer;

/* Loads the twelve tensors of one block named prefix + "ln1.w", "attn.qkv.w", ... (docs/model-format.md §3;
 * prefix e.g. "blk.3." or "clip.text.blk.0."), checking the shapes [d], [3d, d], [d, d], [d_ff, d],
 * [d, d_ff]. The mask is left zeroed for the caller to set. Errors: as dvk_load_linear / dvk_load_vector. */
dvk_status dvk_layer_load(dvk_loader *L, const char *prefix, uint32_t d, uint32_t d_ff, dvk_layer *y);

/* Loads a sandwich block's post-LayerNorms prefix + "attn.post_ln.w/.b" and "mlp.post_ln.w/.b" (f32 [d]) and sets
 * y->sandwich. Errors: as dvk_load_vector. */
dvk_status dvk_layer_load_post_ln(dvk_loader *L, const char *prefix, uint32_t d, dvk_layer *y);

/* Loads a block of an encoder-decoder file (docs/model-format.md §9.2): ln1, attn.qkv / attn.out (with their
 * biases), attn.post_ln, ln2, and the GLU mlp.fc1.w, mlp.gate.w [d_ff, d], mlp.mid_ln [d_ff], mlp.fc2.w [d, d_ff];
 * with cross, also ln_cross, cross.q, cross.kv [2d, d], cross.out (with biases) and cross.post_ln. Errors: as
 * dvk_load_linear / dvk_load_vector. */
dvk_status dvk_layer_load_glu(dvk_loader *L, const char *prefix, uint32_t d, uint32_t d_ff, int cross, dvk_layer *y);

/* Scratch of a block: f32 row-major activations with at least batch * nq rows each. */
typedef struct dvk_block_io {
  dvk_tensor x;    /* [rows, d]: the residual stream, updated in place */
  dvk_tensor h;    /* [rows, d]: LayerNorm output */
  dvk_tensor attn; /* [rows, d]: attention output */
  dvk_tensor qkv;  /* [rows, 3d] */
  dvk_tensor ff;   /* [rows, d_ff] */
} dvk_block_io;

/* What a block attends to besides its own keys under its own mask; zero-initialised = nothing more. */
typedef struct dvk_block_keys {
  const dvk_attn_mask *self_mask; /* NULL: the layer's mask; the encoder passes a DVK_MASK_KEYS one (its pads) */
  const dvk_kv_cache *cross_kv;   /* layers with cross: the encoder states' K/V of this layer */
  dvk_attn_mask cross_mask;       /* layers with cross: DVK_MASK_KEYS over cross_kv */
} dvk_block_keys;

/* Runs one block on rows = batch * nq rows of io->x (sequence b's nq queries at positions p0 .. p0+nq-1,
 * row b * nq + t), appending their keys/values to kv first; keys may be NULL. Records the dispatches (no
 * submit). io->qkv's first d columns carry the cross-attention queries too. Errors: as the ops
 * (DVK_ERR_INVALID_ARGUMENT for inconsistent sizes). */
dvk_status dvk_block_forward(dvk_device *ctx, const dvk_layer *y, const dvk_kv_cache *kv, const dvk_block_io *io,
                             uint32_t d, float ln_eps, uint32_t batch, uint32_t nq, uint32_t p0,
                             const dvk_block_keys *keys);

#endif
