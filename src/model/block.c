/* The transformer block (pre-LN or sandwich). See block.h. */
#include "model/block.h"

#include <stdio.h>

#include "ops/norm.h"

#define NAME(s) (snprintf(name, sizeof name, "%s%s", prefix, s), name)

/* prefix + what + ".w" / ".b": a LayerNorm's f32 [n] weight and bias. */
static dvk_status load_norm(dvk_loader *L, const char *prefix, const char *what, uint32_t n, dvk_tensor *w,
                            dvk_tensor *b) {
  char name[128];
  snprintf(name, sizeof name, "%s%s.w", prefix, what);
  DVK_TRY(dvk_load_vector(L, name, n, w));
  snprintf(name, sizeof name, "%s%s.b", prefix, what);
  return dvk_load_vector(L, name, n, b);
}

/* ln1, the self-attention projections with their biases, ln2: what every block has. */
static dvk_status load_attention(dvk_loader *L, const char *prefix, uint32_t d, dvk_layer *y) {
  char name[128];
  DVK_TRY(load_norm(L, prefix, "ln1", d, &y->ln1_w, &y->ln1_b));
  DVK_TRY(dvk_load_linear(L, NAME("attn.qkv.w"), 3 * d, d, &y->qkv));
  DVK_TRY(dvk_load_vector(L, NAME("attn.qkv.b"), 3 * d, &y->qkv_b));
  DVK_TRY(dvk_load_linear(L, NAME("attn.out.w"), d, d, &y->out));
  DVK_TRY(dvk_load_vector(L, NAME("attn.out.b"), d, &y->out_b));
  return load_norm(L, prefix, "ln2", d, &y->ln2_w, &y->ln2_b);
}

dvk_status dvk_layer_load(dvk_loader *L, const char *prefix, uint32_t d, uint32_t d_ff, dvk_layer *y) {
  char name[128];
  DVK_TRY(load_attention(L, prefix, d, y));
  DVK_TRY(dvk_load_linear(L, NAME("mlp.fc1.w"), d_ff, d, &y->fc1));
  DVK_TRY(dvk_load_vector(L, NAME("mlp.fc1.b"), d_ff, &y->fc1_b));
  DVK_TRY(dvk_load_linear(L, NAME("mlp.fc2.w"), d, d_ff, &y->fc2));
  return dvk_load_vector(L, NAME("mlp.fc2.b"), d, &y->fc2_b);
}

dvk_status dvk_layer_load_post_ln(dvk_loader *L, const char *prefix, uint32_t d, dvk_layer *y) {
  DVK_TRY(load_norm(L, prefix, "attn.post_ln", d, &y->post_ln1_w, &y->post_ln1_b));
  DVK_TRY(load_norm(L, prefix, "mlp.post_ln", d, &y->post_ln2_w, &y->post_ln2_b));
  y->attn_post = y->mlp_post = 1;
  return DVK_OK;
}

dvk_status dvk_layer_load_glu(dvk_loader *L, const char *prefix, uint32_t d, uint32_t d_ff, int cross, dvk_layer *y) {
  char name[128];
  DVK_TRY(load_attention(L, prefix, d, y));
  DVK_TRY(load_norm(L, prefix, "attn.post_ln", d, &y->post_ln1_w, &y->post_ln1_b));
  y->attn_post = 1;
  if (cross) {
    DVK_TRY(load_norm(L, prefix, "ln_cross", d, &y->ln_cross_w, &y->ln_cross_b));
    DVK_TRY(dvk_load_linear(L, NAME("cross.q.w"), d, d, &y->cross_q));
    DVK_TRY(dvk_load_vector(L, NAME("cross.q.b"), d, &y->cross_q_b));
    DVK_TRY(dvk_load_linear(L, NAME("cross.kv.w"), 2 * d, d, &y->cross_kv));
    DVK_TRY(dvk_load_vector(L, NAME("cross.kv.b"), 2 * d, &y->cross_kv_b));
    DVK_TRY(dvk_load_linear(L, NAME("cross.out.w"), d, d, &y->cross_out));
    DVK_TRY(dvk_load_vector(L, NAME("cross.out.b"), d, &y->cross_out_b));
    DVK_TRY(load_norm(L, prefix, "cross.post_ln", d, &y->cross_post_w, &y->cross_post_b));
    y->cross = 1;
  }
  DVK_TRY(dvk_load_linear(L, NAME("mlp.fc1.w"), d_ff, d, &y->fc1));
  DVK_TRY(dvk_load_linear(L, NAME("mlp.gate.w"), d_ff, d, &y->gate));
  DVK_TRY(load_norm(L, prefix, "mlp.mid_ln", d_ff, &y->mid_ln_w, &y->mid_ln_b));
  DVK_TRY(dvk_load_linear(L, NAME("mlp.fc2.w"), d, d_ff, &y->fc2));
  y->glu = 1;
  return DVK_OK;
}
#undef NAME

/* A branch's output projection: without a post-LN it is added to the residual in the matmul epilogue; with one
 * (post_w set) it goes to the scratch h and LN_post(h) is added to the residual in the norm's dispatch. */
static dvk_status branch_out(dvk_device *ctx, const dvk_layer *y, const dvk_block_io *io, dvk_tensor x_in,
                             const dvk_matmul_weight *w, const dvk_tensor *b, const dvk_tensor *post_w,
                             const dvk_tensor *post_b, uint32_t clamp_flag, uint32_t d, float ln_eps, uint32_t rows) {
  const dvk_matmul_desc mm = {.m = rows,
                              .x = x_in,
                              .w = w,
                              .bias = b,
                              .y = post_w ? io->h : io->x,
                              .flags = (post_w ? 0u : DVK_MATMUL_ACCUMULATE) | clamp_flag,
                              .clamp = y->out_clamp};
  DVK_TRY(dvk_op_matmul_ex(ctx, &mm));
  if (!post_w) return DVK_OK;
  return dvk_op_layernorm_add(ctx, io->x, io->h, *post_w, *post_b, rows, d, ln_eps);
}

/* x += LN_cross_post(cross.out(attention(cross.q(LN_cross(x)), the encoder's K/V))). */
static dvk_status cross_attention(dvk_device *ctx, const dvk_layer *y, const dvk_block_io *io, const dvk_block_keys *keys,
                                  uint32_t d, float ln_eps, uint32_t batch, uint32_t nq) {
  const uint32_t rows = batch * nq;
  DVK_TRY(dvk_op_layernorm(ctx, io->h, io->x, y->ln_cross_w, y->ln_cross_b, rows, d, ln_eps));
  /* the queries into the q columns of the qkv scratch, where the attention op reads them */
  const dvk_matmul_desc q = {.m = rows, .x = io->h, .w = &y->cross_q, .bias = &y->cross_q_b, .y = io->qkv, .ldy = 3 * d};
  DVK_TRY(dvk_op_matmul_ex(ctx, &q));
  DVK_TRY(dvk_op_attention(ctx, io->attn, io->qkv, keys->cross_kv, &keys->cross_mask, batch, nq, 0));
  return branch_out(ctx, y, io, io->attn, &y->cross_out, &y->cross_out_b, &y->cross_post_w, &y->cross_post_b, 0u, d,
                    ln_eps, rows);
}

/* The GLU, x += fc2(mid_ln(GELU(fc1 h) * gate h)), h = LN2(x) already in io->h: the gate into ff, then fc1 with
 * GELU multiplied onto it in the epilogue, the LayerNorm in place. */
static dvk_status glu(dvk_device *ctx, const dvk_layer *y, const dvk_block_io *io, float ln_eps, uint32_t rows) {
  DVK_TRY(dvk_op_matmul(ctx, io->ff, io->h, &y->gate, NULL, rows, 0));
  const uint32_t gelu = y->gelu_tanh ? DVK_MATMUL_GELU_TANH : DVK_MATMUL_GELU;
  DVK_TRY(dvk_op_matmul(ctx, io->ff, io->h, &y->fc1, NULL, rows, gelu | DVK_MATMUL_MULTIPLY));
  DVK_TRY(dvk_op_layernorm(ctx, io->ff, io->ff, y->mid_ln_w, y->mid_ln_b, rows, y->fc1.n, ln_eps));
  return dvk_op_matmul(ctx, io->x, io->ff, &y->fc2, NULL, rows, DVK_MATMUL_ACCUMULATE);
}

dvk_status dvk_block_forward(dvk_device *ctx, const dvk_layer *y, const dvk_kv_cache *kv, const dvk_block_io *io,
                             uint32_t d, float ln_eps, uint32_t batch, uint32_t nq, uint32_t p0,
                             const dvk_block_keys *keys) {
  const uint32_t rows = batch * nq;
  const dvk_attn_mask *mask = keys && keys->self_mask ? keys->self_mask : &y->mask;
  /* attention branch: x += out(attn(qkv(LN1(x)))) */
  DVK_TRY(dvk_op_layernorm(ctx, io->h, io->x, y->ln1_w, y->ln1_b, rows, d, ln_eps));
  const dvk_matmul_kv append = {.cache = kv, .batch = batch, .nq = nq, .p0 = p0}; /* K, V into the cache */
  const dvk_matmul_desc qkv = {.m = rows, .x = io->h, .w = &y->qkv, .bias = &y->qkv_b, .y = io->qkv, .kv = &append};
  DVK_TRY(dvk_op_matmul_ex(ctx, &qkv));
  DVK_TRY(dvk_op_attention(ctx, io->attn, io->qkv, kv, mask, batch, nq, p0));
  const uint32_t clamp = y->out_clamp > 0 ? DVK_MATMUL_CLAMP : 0u;
  DVK_TRY(branch_out(ctx, y, io, io->attn, &y->out, &y->out_b, y->attn_post ? &y->post_ln1_w : NULL, &y->post_ln1_b,
                     clamp, d, ln_eps, rows));
  if (y->cross) {
    if (!keys || !keys->cross_kv) return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "cross-attention without encoder states");
    DVK_TRY(cross_attention(ctx, y, io, keys, d, ln_eps, batch, nq));
  }
  /* MLP branch: x += fc2(GELU(fc1(LN2(x)))), or the GLU */
  DVK_TRY(dvk_op_layernorm(ctx, io->h, io->x, y->ln2_w, y->ln2_b, rows, d, ln_eps));
  if (y->glu) return glu(ctx, y, io, ln_eps, rows);
  DVK_TRY(
    dvk_op_matmul(ctx, io->ff, io->h, &y->fc1, &y->fc1_b, rows, y->gelu_tanh ? DVK_MATMUL_GELU_TANH : DVK_MATMUL_GELU));
  return branch_out(ctx, y, io, io->ff, &y->fc2, &y->fc2_b, y->mlp_post ? &y->post_ln2_w : NULL, &y->post_ln2_b, 0u, d,
                    ln_eps, rows);
}
