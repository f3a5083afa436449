/* The transformer block (pre-LN or sandwich). See block.h. */
#include "model/block.h"

#include <stdio.h>

#include "ops/norm.h"

dvk_status dvk_layer_load(dvk_loader *L, const char *prefix, uint32_t d, uint32_t d_ff, dvk_layer *y) {
  char name[128];
#define NAME(s) (snprintf(name, sizeof name, "%s%s", prefix, s), name)
  DVK_TRY(dvk_load_vector(L, NAME("ln1.w"), d, &y->ln1_w));
  DVK_TRY(dvk_load_vector(L, NAME("ln1.b"), d, &y->ln1_b));
  DVK_TRY(dvk_load_linear(L, NAME("attn.qkv.w"), 3 * d, d, &y->qkv));
  DVK_TRY(dvk_load_vector(L, NAME("attn.qkv.b"), 3 * d, &y->qkv_b));
  DVK_TRY(dvk_load_linear(L, NAME("attn.out.w"), d, d, &y->out));
  DVK_TRY(dvk_load_vector(L, NAME("attn.out.b"), d, &y->out_b));
  DVK_TRY(dvk_load_vector(L, NAME("ln2.w"), d, &y->ln2_w));
  DVK_TRY(dvk_load_vector(L, NAME("ln2.b"), d, &y->ln2_b));
  DVK_TRY(dvk_load_linear(L, NAME("mlp.fc1.w"), d_ff, d, &y->fc1));
  DVK_TRY(dvk_load_vector(L, NAME("mlp.fc1.b"), d_ff, &y->fc1_b));
  DVK_TRY(dvk_load_linear(L, NAME("mlp.fc2.w"), d, d_ff, &y->fc2));
  DVK_TRY(dvk_load_vector(L, NAME("mlp.fc2.b"), d, &y->fc2_b));
#undef NAME
  return DVK_OK;
}

dvk_status dvk_layer_load_post_ln(dvk_loader *L, const char *prefix, uint32_t d, dvk_layer *y) {
  char name[128];
#define NAME(s) (snprintf(name, sizeof name, "%s%s", prefix, s), name)
  DVK_TRY(dvk_load_vector(L, NAME("attn.post_ln.w"), d, &y->post_ln1_w));
  DVK_TRY(dvk_load_vector(L, NAME("attn.post_ln.b"), d, &y->post_ln1_b));
  DVK_TRY(dvk_load_vector(L, NAME("mlp.post_ln.w"), d, &y->post_ln2_w));
  DVK_TRY(dvk_load_vector(L, NAME("mlp.post_ln.b"), d, &y->post_ln2_b));
#undef NAME
  y->sandwich = 1;
  return DVK_OK;
}

/* A branch's output projection: pre-LN adds it to the residual in the matmul epilogue; sandwich writes it to the
 * scratch h and adds LN_post(h) to the residual in the norm's dispatch. */
static dvk_status branch_out(dvk_device *ctx, const dvk_layer *y, const dvk_block_io *io, dvk_tensor x_in,
                             const dvk_matmul_weight *w, const dvk_tensor *b, dvk_tensor post_w, dvk_tensor post_b,
                             uint32_t clamp_flag, uint32_t d, float ln_eps, uint32_t rows) {
  const dvk_matmul_desc mm = {.m = rows, .x = x_in, .w = w, .bias = b, .y = y->sandwich ? io->h : io->x,
                              .flags = (y->sandwich ? 0u : DVK_MATMUL_ACCUMULATE) | clamp_flag, .clamp = y->out_clamp};
  DVK_TRY(dvk_op_matmul_ex(ctx, &mm));
  if (!y->sandwich) return DVK_OK;
  return dvk_op_layernorm_add(ctx, io->x, io->h, post_w, post_b, rows, d, ln_eps);
}

dvk_status dvk_block_forward(dvk_device *ctx, const dvk_layer *y, const dvk_kv_cache *kv, const dvk_block_io *io,
                             uint32_t d, float ln_eps, uint32_t batch, uint32_t nq, uint32_t p0) {
  const uint32_t rows = batch * nq;
  /* attention branch: x += out(attn(qkv(LN1(x)))) */
  DVK_TRY(dvk_op_layernorm(ctx, io->h, io->x, y->ln1_w, y->ln1_b, rows, d, ln_eps));
  const dvk_matmul_kv append = {.cache = kv, .batch = batch, .nq = nq, .p0 = p0}; /* K, V into the cache */
  const dvk_matmul_desc qkv = {.m = rows, .x = io->h, .w = &y->qkv, .bias = &y->qkv_b, .y = io->qkv, .kv = &append};
  DVK_TRY(dvk_op_matmul_ex(ctx, &qkv));
  DVK_TRY(dvk_op_attention(ctx, io->attn, io->qkv, kv, &y->mask, batch, nq, p0));
  const uint32_t clamp = y->out_clamp > 0 ? DVK_MATMUL_CLAMP : 0u;
  DVK_TRY(branch_out(ctx, y, io, io->attn, &y->out, &y->out_b, y->post_ln1_w, y->post_ln1_b, clamp, d, ln_eps, rows));
  /* MLP branch: x += fc2(GELU(fc1(LN2(x)))) */
  DVK_TRY(dvk_op_layernorm(ctx, io->h, io->x, y->ln2_w, y->ln2_b, rows, d, ln_eps));
  DVK_TRY(dvk_op_matmul(ctx, io->ff, io->h, &y->fc1, &y->fc1_b, rows, y->gelu_tanh ? DVK_MATMUL_GELU_TANH : DVK_MATMUL_GELU));
  return branch_out(ctx, y, io, io->ff, &y->fc2, &y->fc2_b, y->post_ln2_w, y->post_ln2_b, 0u, d, ln_eps, rows);
}
