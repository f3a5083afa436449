/* The DALL-E transformer forward pass on the device. See transformer.h. */
#include "model/transformer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/logits.h"
#include "ops/norm.h"

dvk_status dvk_transformer_load(dvk_loader *L, const dvk_dalle_config *cfg, dvk_transformer *tf) {
  memset(tf, 0, sizeof *tf);
  tf->cfg = *cfg;
  const uint32_t d = cfg->d_model, T = cfg->text_len, G = cfg->grid;
  DVK_TRY(dvk_load_table(L, "text_emb", cfg->text_vocab + T, d, &tf->text_emb));
  DVK_TRY(dvk_load_table(L, "text_pos_emb", T, d, &tf->text_pos));
  if (cfg->image_start) {
    DVK_TRY(dvk_load_vector(L, "image_start", d, &tf->image_start.t));
    tf->image_start.rows = 1;
    tf->image_start.d = d;
    tf->image_start.dtype = DVK_TABLE_F32;
  }
  DVK_TRY(dvk_load_table(L, "image_emb", cfg->image_vocab, d, &tf->image_emb));
  int pos_dtype_ok;
  if (cfg->image_pos == DVK_IMAGE_POS_LINEAR) {
    DVK_TRY(dvk_load_table(L, "image_pos_emb", G * G, d, &tf->image_pos));
    pos_dtype_ok = tf->image_pos.dtype == tf->image_emb.dtype;
  } else {
    DVK_TRY(dvk_load_table(L, "image_row_emb", G, d, &tf->row_emb));
    DVK_TRY(dvk_load_table(L, "image_col_emb", G, d, &tf->col_emb));
    pos_dtype_ok = tf->row_emb.dtype == tf->image_emb.dtype && tf->col_emb.dtype == tf->image_emb.dtype;
  }
  if (!pos_dtype_ok || tf->text_pos.dtype != tf->text_emb.dtype) {
    return dvk_error_set(L->err, DVK_ERR_MODEL_FORMAT, "%s: embedding tables of one kind must share a dtype", gguf_name(L->file));
  }
  tf->layers = calloc(cfg->n_layers, sizeof *tf->layers);
  if (!tf->layers) {
    return dvk_error_set(L->err, DVK_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", gguf_name(L->file));
  }
  char prefix[32];
  for (uint32_t l = 0; l < cfg->n_layers; l++) {
    dvk_layer *y = &tf->layers[l];
    snprintf(prefix, sizeof prefix, "blk.%u.", l);
    DVK_TRY(dvk_layer_load(L, prefix, d, cfg->d_ff, y));
    if (cfg->norm == DVK_NORM_SANDWICH) DVK_TRY(dvk_layer_load_post_ln(L, prefix, d, y));
    y->gelu_tanh = cfg->gelu == DVK_GELU_TANH;
    y->out_clamp = cfg->attn_out_clamp;
    y->mask = (dvk_attn_mask){.type = cfg->attn_types[l], .image0 = cfg->mask_image0, .grid = G,
                              .conv_k = cfg->conv_kernel, .conv_wrap = cfg->conv_wrap};
  }
  DVK_TRY(dvk_load_vector(L, "ln_f.w", d, &tf->lnf_w));
  DVK_TRY(dvk_load_vector(L, "ln_f.b", d, &tf->lnf_b));
  if (cfg->final_norms == 2) {
    DVK_TRY(dvk_load_vector(L, "ln_f2.w", d, &tf->lnf2_w));
    DVK_TRY(dvk_load_vector(L, "ln_f2.b", d, &tf->lnf2_b));
  }
  DVK_TRY(dvk_load_linear(L, "image_logits.w", cfg->image_vocab, d, &tf->logits_w));
  DVK_TRY(dvk_load_vector(L, "image_logits.b", cfg->image_vocab, &tf->logits_b));
  return DVK_OK;
}

void dvk_transformer_free(dvk_transformer *tf) {
  free(tf->layers);
  tf->layers = NULL;
}

static uint32_t state_rows(const dvk_dalle_config *c, uint32_t batch) { return c->image0 > batch ? c->image0 : batch; }

uint64_t dvk_tf_state_bytes(const dvk_transformer *tf, uint32_t batch) {
  const dvk_dalle_config *c = &tf->cfg;
  uint64_t rows = state_rows(c, batch), s_max = (uint64_t)c->text_len + (uint64_t)c->grid * c->grid;
  uint64_t act = rows * (3ull * c->d_model + 3ull * c->d_model + c->d_ff) * 4 + (uint64_t)batch * c->image_vocab * 4;
  uint64_t kv = 2ull * c->n_layers * batch * s_max * c->d_model * 4;
  return act + kv + 4ull * rows;
}

dvk_status dvk_tf_state_create(dvk_device *ctx, dvk_arena *arena, const dvk_transformer *tf, uint32_t batch,
                               dvk_tf_state *st) {
  memset(st, 0, sizeof *st);
  const dvk_dalle_config *c = &tf->cfg;
  const uint32_t d = c->d_model, rows = state_rows(c, batch);
  st->batch = batch;
  st->rows = rows;
  st->kv = calloc(c->n_layers, sizeof *st->kv);
  if (!st->kv) return dvk_fail(ctx, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  const uint32_t s_max = c->text_len + c->grid * c->grid, dh = d / c->n_heads;
  for (uint32_t l = 0; l < c->n_layers; l++) {
    dvk_kv_cache *kv = &st->kv[l];
    *kv = (dvk_kv_cache){.batch = batch, .n_heads = c->n_heads, .s_max = s_max, .d_head = dh};
    const VkDeviceSize bytes = (VkDeviceSize)batch * c->n_heads * s_max * dh * 4;
    DVK_TRY(dvk_arena_alloc(arena, bytes, &kv->k));
    DVK_TRY(dvk_arena_alloc(arena, bytes, &kv->v));
  }
  DVK_TRY(dvk_arena_alloc(arena, (VkDeviceSize)rows * d * 4, &st->x));
  DVK_TRY(dvk_arena_alloc(arena, (VkDeviceSize)rows * d * 4, &st->h));
  DVK_TRY(dvk_arena_alloc(arena, (VkDeviceSize)rows * d * 4, &st->attn));
  DVK_TRY(dvk_arena_alloc(arena, (VkDeviceSize)rows * 3 * d * 4, &st->qkv));
  DVK_TRY(dvk_arena_alloc(arena, (VkDeviceSize)rows * c->d_ff * 4, &st->ff));
  DVK_TRY(dvk_arena_alloc(arena, (VkDeviceSize)batch * c->image_vocab * 4, &st->logits));
  DVK_TRY(dvk_arena_alloc(arena, (VkDeviceSize)rows * 4, &st->ids));
  return DVK_OK;
}

void dvk_tf_state_free(dvk_tf_state *st) {
  free(st->kv);
  st->kv = NULL;
}

/* One pre-LN block on `rows` = batch * nq rows of st->x, queries at positions p0 .. p0+nq-1. */
static dvk_status block(dvk_device *ctx, const dvk_transformer *tf, const dvk_layer *y, const dvk_kv_cache *kv,
                        dvk_tf_state *st, uint32_t batch, uint32_t nq, uint32_t p0) {
  const dvk_block_io io = {.x = st->x, .h = st->h, .attn = st->attn, .qkv = st->qkv, .ff = st->ff};
  return dvk_block_forward(ctx, y, kv, &io, tf->cfg.d_model, tf->cfg.ln_eps, batch, nq, p0);
}

/* Final LayerNorm(s) of `rows` rows of x starting at row r0, image logits into st->logits, read back. */
static dvk_status head(dvk_device *ctx, const dvk_transformer *tf, dvk_tf_state *st, uint32_t r0, uint32_t rows,
                       float *host_logits) {
  const uint32_t d = tf->cfg.d_model, vi = tf->cfg.image_vocab;
  dvk_tensor xr = dvk_tensor_slice(st->x, (VkDeviceSize)r0 * d * 4, (VkDeviceSize)rows * d * 4);
  DVK_TRY(dvk_op_layernorm(ctx, st->h, xr, tf->lnf_w, tf->lnf_b, rows, d, tf->cfg.ln_eps));
  if (tf->cfg.final_norms == 2) DVK_TRY(dvk_op_layernorm(ctx, st->h, st->h, tf->lnf2_w, tf->lnf2_b, rows, d, tf->cfg.ln_eps));
  DVK_TRY(dvk_op_matmul(ctx, st->logits, st->h, &tf->logits_w, &tf->logits_b, rows, 0));
  return dvk_read_logits(ctx, host_logits, st->logits, rows, vi, 0, vi);
}

/* Prefills text_ids into sequence 0, copies its cache to sequences 1..copies-1, and reads the logits of
 * image token 0 into host_logits [Vi]. */
static dvk_status prefill_into(dvk_device *ctx, const dvk_transformer *tf, dvk_tf_state *st, const int32_t *text_ids,
                               uint32_t copies, float *host_logits) {
  const dvk_dalle_config *c = &tf->cfg;
  const uint32_t T = c->text_len, S = c->image0;
  DVK_TRY(dvk_upload(ctx, st->ids, text_ids, (VkDeviceSize)T * 4));
  /* rows 0..T-1: text token + text position; row T: start-of-image (when the model has one) */
  dvk_embed_out out = {.t = st->x, .out_rows = S, .out_row0 = 0};
  DVK_TRY(dvk_op_embed_text(ctx, &out, st->ids, 1, T, 0, &tf->text_emb, &tf->text_pos));
  if (c->image_start) {
    out.out_row0 = T;
    DVK_TRY(dvk_op_embed_row(ctx, &out, 1, &tf->image_start, 0));
  }
  for (uint32_t l = 0; l < c->n_layers; l++) DVK_TRY(block(ctx, tf, &tf->layers[l], &st->kv[l], st, 1, S, 0));
  /* every candidate starts from the same prompt: copy sequence 0's cache */
  if (copies > 1)
    for (uint32_t l = 0; l < c->n_layers; l++) DVK_TRY(dvk_op_kv_broadcast(ctx, &st->kv[l], copies, S));
  return head(ctx, tf, st, S - 1, 1, host_logits);
}

/* Copies row 0 of logits [rows, vi] to rows 1..rows-1. */
static void repeat_row(float *logits, uint32_t rows, uint32_t vi) {
  for (uint32_t b = 1; b < rows; b++) memcpy(logits + (size_t)b * vi, logits, (size_t)vi * sizeof *logits);
}

dvk_status dvk_transformer_prefill(dvk_device *ctx, const dvk_transformer *tf, dvk_tf_state *st, const int32_t *text_ids,
                                   float *host_logits) {
  DVK_TRY(prefill_into(ctx, tf, st, text_ids, st->batch, host_logits));
  repeat_row(host_logits, st->batch, tf->cfg.image_vocab);
  st->next_image = 0;
  return DVK_OK;
}

dvk_status dvk_transformer_prefill_guided(dvk_device *ctx, const dvk_transformer *tf, dvk_tf_state *st,
                                          const int32_t *text_ids, const int32_t *null_ids, float *host_logits) {
  const uint32_t n = st->batch / 2, vi = tf->cfg.image_vocab;
  if (st->batch % 2) return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "guided prefill needs an even batch (%u)", st->batch);
  /* the empty caption into every sequence first, then the prompt over the first half */
  DVK_TRY(prefill_into(ctx, tf, st, null_ids, st->batch, host_logits + (size_t)n * vi));
  DVK_TRY(prefill_into(ctx, tf, st, text_ids, n, host_logits));
  repeat_row(host_logits, n, vi);
  repeat_row(host_logits + (size_t)n * vi, n, vi);
  st->next_image = 0;
  return DVK_OK;
}

dvk_status dvk_transformer_decode(dvk_device *ctx, const dvk_transformer *tf, dvk_tf_state *st, const int32_t *codes,
                                  float *host_logits) {
  const dvk_dalle_config *c = &tf->cfg;
  const uint32_t i = st->next_image, B = st->batch;
  if (i + 1 >= c->grid * c->grid)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "decode past the last image token (%u)", i);
  DVK_TRY(dvk_upload(ctx, st->ids, codes, (VkDeviceSize)B * 4));
  dvk_embed_out out = {.t = st->x, .out_rows = 1, .out_row0 = 0};
  if (c->image_pos == DVK_IMAGE_POS_LINEAR) /* token + one position table: the 1-D gather of the text */
    DVK_TRY(dvk_op_embed_text(ctx, &out, st->ids, B, 1, i, &tf->image_emb, &tf->image_pos));
  else
    DVK_TRY(dvk_op_embed_image(ctx, &out, st->ids, B, 1, i, c->grid, &tf->image_emb, &tf->row_emb, &tf->col_emb));
  const uint32_t pos = c->image0 + i;
  for (uint32_t l = 0; l < c->n_layers; l++) DVK_TRY(block(ctx, tf, &tf->layers[l], &st->kv[l], st, B, 1, pos));
  DVK_TRY(head(ctx, tf, st, 0, B, host_logits));
  st->next_image = i + 1;
  return DVK_OK;
}

dvk_status dvk_transformer_copy_sequences(dvk_device *ctx, const dvk_transformer *tf, dvk_tf_state *st,
                                          const uint32_t *src) {
  const uint32_t filled = tf->cfg.image0 + st->next_image; /* text, start of image (if any), fed image tokens */
  for (uint32_t l = 0; l < tf->cfg.n_layers; l++) DVK_TRY(dvk_op_kv_copy(ctx, &st->kv[l], src, st->batch, filled));
  return DVK_OK;
}
