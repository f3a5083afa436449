/* The DALL-E transformer forward pass on the device. See transformer.h. */
#include "model/transformer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/logits.h"
#include "ops/norm.h"

static dvk_status out_of_host_memory(dvk_loader *L) {
  return dvk_error_set(L->err, DVK_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", gguf_name(L->file));
}

/* The enc.* tensors of an encoder-decoder file (docs/model-format.md §9.2). */
static dvk_status load_encoder(dvk_loader *L, const dvk_dalle_config *cfg, dvk_text_encoder *e) {
  const uint32_t d = cfg->d_model;
  DVK_TRY(dvk_load_table(L, "enc.text_emb", cfg->text_vocab, d, &e->text_emb));
  DVK_TRY(dvk_load_table(L, "enc.text_pos_emb", cfg->text_len, d, &e->text_pos));
  if (e->text_pos.dtype != e->text_emb.dtype)
    return dvk_error_set(L->err, DVK_ERR_MODEL_FORMAT, "%s: enc.text_emb and enc.text_pos_emb must share a dtype",
                         gguf_name(L->file));
  DVK_TRY(dvk_load_vector(L, "enc.emb_ln.w", d, &e->emb_ln_w));
  DVK_TRY(dvk_load_vector(L, "enc.emb_ln.b", d, &e->emb_ln_b));
  e->layers = calloc(cfg->enc_layers, sizeof *e->layers);
  if (!e->layers) return out_of_host_memory(L);
  char prefix[32];
  for (uint32_t l = 0; l < cfg->enc_layers; l++) {
    dvk_layer *y = &e->layers[l];
    snprintf(prefix, sizeof prefix, "enc.blk.%u.", l);
    DVK_TRY(dvk_layer_load_glu(L, prefix, d, cfg->d_ff, 0, y));
    y->gelu_tanh = cfg->gelu == DVK_GELU_TANH;
    y->mask.type = DVK_MASK_KEYS; /* the key lengths come with each prompt (encode) */
  }
  DVK_TRY(dvk_load_vector(L, "enc.ln_f.w", d, &e->lnf_w));
  return dvk_load_vector(L, "enc.ln_f.b", d, &e->lnf_b);
}

dvk_status dvk_transformer_load(dvk_loader *L, const dvk_dalle_config *cfg, dvk_transformer *tf) {
  memset(tf, 0, sizeof *tf);
  tf->cfg = *cfg;
  const uint32_t d = cfg->d_model, T = cfg->text_len, G = cfg->grid;
  const int enc_dec = cfg->layout == DVK_LAYOUT_ENCODER_DECODER;
  if (enc_dec) {
    DVK_TRY(load_encoder(L, cfg, &tf->enc));
    DVK_TRY(dvk_load_vector(L, "emb_ln.w", d, &tf->emb_ln_w));
    DVK_TRY(dvk_load_vector(L, "emb_ln.b", d, &tf->emb_ln_b));
  } else {
    DVK_TRY(dvk_load_table(L, "text_emb", cfg->text_vocab + T, d, &tf->text_emb));
    DVK_TRY(dvk_load_table(L, "text_pos_emb", T, d, &tf->text_pos));
  }
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
  if (!pos_dtype_ok || (!enc_dec && tf->text_pos.dtype != tf->text_emb.dtype)) {
    return dvk_error_set(L->err, DVK_ERR_MODEL_FORMAT, "%s: embedding tables of one kind must share a dtype", gguf_name(L->file));
  }
  tf->layers = calloc(cfg->n_layers, sizeof *tf->layers);
  if (!tf->layers) return out_of_host_memory(L);
  char prefix[32];
  for (uint32_t l = 0; l < cfg->n_layers; l++) {
    dvk_layer *y = &tf->layers[l];
    snprintf(prefix, sizeof prefix, "blk.%u.", l);
    if (enc_dec) DVK_TRY(dvk_layer_load_glu(L, prefix, d, cfg->d_ff, 1, y));
    else DVK_TRY(dvk_layer_load(L, prefix, d, cfg->d_ff, y));
    if (cfg->norm == DVK_NORM_SANDWICH) DVK_TRY(dvk_layer_load_post_ln(L, prefix, d, y));
    y->gelu_tanh = cfg->gelu == DVK_GELU_TANH;
    y->out_clamp = cfg->attn_out_clamp;
    y->mask = (dvk_attn_mask){.type = cfg->attn_types[l],
                              .image0 = cfg->mask_image0,
                              .grid = G,
                              .conv_k = cfg->conv_kernel,
                              .conv_wrap = cfg->conv_wrap};
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
  free(tf->enc.layers);
  tf->layers = tf->enc.layers = NULL;
}

static int encoder_decoder(const dvk_dalle_config *c) { return c->layout == DVK_LAYOUT_ENCODER_DECODER; }

/* Activation rows: the prefill's (I0 rows; the encoder's two prompts of T) or one per sequence. */
static uint32_t state_rows(const dvk_dalle_config *c, uint32_t batch) {
  uint32_t rows = c->image0 > batch ? c->image0 : batch;
  return encoder_decoder(c) && 2 * c->text_len > rows ? 2 * c->text_len : rows;
}

/* Positions of the decoder's KV cache: the text (decoder-only files) and the image tokens. */
static uint32_t cache_positions(const dvk_dalle_config *c) {
  return (encoder_decoder(c) ? 0 : c->text_len) + c->grid * c->grid;
}

uint64_t dvk_tf_state_bytes(const dvk_transformer *tf, uint32_t batch) {
  const dvk_dalle_config *c = &tf->cfg;
  uint64_t rows = state_rows(c, batch), s_max = cache_positions(c);
  uint64_t act = rows * (3ull * c->d_model + 3ull * c->d_model + c->d_ff) * 4 + (uint64_t)batch * c->image_vocab * 4;
  uint64_t kv = 2ull * c->n_layers * batch * s_max * c->d_model * 4;
  if (encoder_decoder(c)) kv += 2ull * (1 + c->n_layers) * 2 * c->text_len * c->d_model * 4; /* enc_kv, cross_kv */
  return act + kv + 4ull * rows;
}

/* A KV cache of `batch` sequences of s_max positions from the arena. */
static dvk_status kv_cache_create(dvk_arena *arena, const dvk_dalle_config *c, uint32_t batch, uint32_t s_max,
                                  dvk_kv_cache *kv) {
  const uint32_t dh = c->d_model / c->n_heads;
  *kv = (dvk_kv_cache){.batch = batch, .n_heads = c->n_heads, .s_max = s_max, .d_head = dh};
  const VkDeviceSize bytes = (VkDeviceSize)batch * c->n_heads * s_max * dh * 4;
  DVK_TRY(dvk_arena_alloc(arena, bytes, &kv->k));
  return dvk_arena_alloc(arena, bytes, &kv->v);
}

dvk_status dvk_tf_state_create(dvk_device *ctx, dvk_arena *arena, const dvk_transformer *tf, uint32_t batch,
                               dvk_tf_state *st) {
  memset(st, 0, sizeof *st);
  const dvk_dalle_config *c = &tf->cfg;
  const uint32_t d = c->d_model, rows = state_rows(c, batch);
  st->batch = batch;
  st->rows = rows;
  st->kv = calloc(c->n_layers, sizeof *st->kv);
  if (encoder_decoder(c)) st->cross_kv = calloc(c->n_layers, sizeof *st->cross_kv);
  if (!st->kv || (encoder_decoder(c) && !st->cross_kv))
    return dvk_fail(ctx, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  for (uint32_t l = 0; l < c->n_layers; l++) DVK_TRY(kv_cache_create(arena, c, batch, cache_positions(c), &st->kv[l]));
  if (encoder_decoder(c)) {
    DVK_TRY(kv_cache_create(arena, c, 2, c->text_len, &st->enc_kv));
    for (uint32_t l = 0; l < c->n_layers; l++) DVK_TRY(kv_cache_create(arena, c, 2, c->text_len, &st->cross_kv[l]));
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
  free(st->cross_kv);
  st->kv = st->cross_kv = NULL;
}

/* One block on `rows` = batch * nq rows of st->x, queries at positions p0 .. p0+nq-1. */
static dvk_status block(dvk_device *ctx, const dvk_transformer *tf, const dvk_layer *y, const dvk_kv_cache *kv,
                        dvk_tf_state *st, uint32_t batch, uint32_t nq, uint32_t p0, const dvk_block_keys *keys) {
  const dvk_block_io io = {.x = st->x, .h = st->h, .attn = st->attn, .qkv = st->qkv, .ff = st->ff};
  return dvk_block_forward(ctx, y, kv, &io, tf->cfg.d_model, tf->cfg.ln_eps, batch, nq, p0, keys);
}

/* Final LayerNorm(s) of `rows` rows of x starting at row r0, image logits into st->logits, read back. */
static dvk_status head(dvk_device *ctx, const dvk_transformer *tf, dvk_tf_state *st, uint32_t r0, uint32_t rows,
                       float *host_logits) {
  const uint32_t d = tf->cfg.d_model, vi = tf->cfg.image_vocab;
  dvk_tensor xr = dvk_tensor_slice(st->x, (VkDeviceSize)r0 * d * 4, (VkDeviceSize)rows * d * 4);
  DVK_TRY(dvk_op_layernorm(ctx, st->h, xr, tf->lnf_w, tf->lnf_b, rows, d, tf->cfg.ln_eps));
  if (tf->cfg.final_norms == 2)
    DVK_TRY(dvk_op_layernorm(ctx, st->h, st->h, tf->lnf2_w, tf->lnf2_b, rows, d, tf->cfg.ln_eps));
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
  for (uint32_t l = 0; l < c->n_layers; l++) DVK_TRY(block(ctx, tf, &tf->layers[l], &st->kv[l], st, 1, S, 0, NULL));
  /* every candidate starts from the same prompt: copy sequence 0's cache */
  if (copies > 1)
    for (uint32_t l = 0; l < c->n_layers; l++) DVK_TRY(dvk_op_kv_broadcast(ctx, &st->kv[l], copies, S));
  return head(ctx, tf, st, S - 1, 1, host_logits);
}

/* Encoder-decoder: the positions of a text row before its first pad (at least 1: min-dalle's rows start with
 * <s>). */
static uint32_t text_key_len(const dvk_dalle_config *c, const int32_t *ids) {
  uint32_t n = 0;
  while (n < c->text_len && ids[n] != (int32_t)c->text_pad_id) n++;
  return n ? n : 1;
}

/* Encoder-decoder: runs the text encoder on `prompts` text rows ids [prompts, T] and stores each decoder layer's
 * cross.kv of the final states in st->cross_kv (sequence p = prompt p). */
static dvk_status encode(dvk_device *ctx, const dvk_transformer *tf, dvk_tf_state *st, const int32_t *ids,
                         uint32_t prompts) {
  const dvk_dalle_config *c = &tf->cfg;
  const dvk_text_encoder *e = &tf->enc;
  const uint32_t T = c->text_len, d = c->d_model, rows = prompts * T;
  DVK_TRY(dvk_upload(ctx, st->ids, ids, (VkDeviceSize)rows * 4));
  const dvk_embed_out out = {.t = st->x, .out_rows = T, .out_row0 = 0};
  DVK_TRY(dvk_op_embed_text(ctx, &out, st->ids, prompts, T, 0, &e->text_emb, &e->text_pos));
  DVK_TRY(dvk_op_layernorm(ctx, st->x, st->x, e->emb_ln_w, e->emb_ln_b, rows, d, c->ln_eps));
  st->prompts = prompts;
  for (uint32_t p = 0; p < prompts; p++) st->key_len[p] = text_key_len(c, ids + (size_t)p * T);
  const dvk_attn_mask self = {.type = DVK_MASK_KEYS, .key_len = st->key_len, .q_per_kv = 1};
  const dvk_block_keys keys = {.self_mask = &self};
  for (uint32_t l = 0; l < c->enc_layers; l++) DVK_TRY(block(ctx, tf, &e->layers[l], &st->enc_kv, st, prompts, T, 0, &keys));
  DVK_TRY(dvk_op_layernorm(ctx, st->h, st->x, e->lnf_w, e->lnf_b, rows, d, c->ln_eps));
  /* cross.kv of the states into the k | v columns of the qkv scratch, appended as the layer's cross cache */
  const dvk_tensor kv_cols = dvk_tensor_slice(st->qkv, (VkDeviceSize)d * 4, st->qkv.size - (VkDeviceSize)d * 4);
  for (uint32_t l = 0; l < c->n_layers; l++) {
    const dvk_layer *y = &tf->layers[l];
    const dvk_matmul_desc mm = {.m = rows, .x = st->h, .w = &y->cross_kv, .bias = &y->cross_kv_b, .y = kv_cols, .ldy = 3 * d};
    DVK_TRY(dvk_op_matmul_ex(ctx, &mm));
    DVK_TRY(dvk_op_kv_append(ctx, &st->cross_kv[l], st->qkv, prompts, T, 0));
  }
  return DVK_OK;
}

/* The decoder on the embedded rows of every sequence (st->x [B, d], position pos), then the head: the logits of
 * the next image token into host_logits [B, Vi]. Encoder-decoder files normalise the embedding first and attend
 * to the encoded prompts: sequences 0..B/P-1 to prompt 0, the next B/P to prompt 1 (P = st->prompts). */
static dvk_status decoder_step(dvk_device *ctx, const dvk_transformer *tf, dvk_tf_state *st, uint32_t pos,
                               float *host_logits) {
  const dvk_dalle_config *c = &tf->cfg;
  const uint32_t B = st->batch;
  dvk_block_keys keys = {0}, *k = NULL;
  if (encoder_decoder(c)) {
    DVK_TRY(dvk_op_layernorm(ctx, st->x, st->x, tf->emb_ln_w, tf->emb_ln_b, B, c->d_model, c->ln_eps));
    keys.cross_mask = (dvk_attn_mask){.type = DVK_MASK_KEYS, .key_len = st->key_len, .q_per_kv = B / st->prompts};
    k = &keys;
  }
  for (uint32_t l = 0; l < c->n_layers; l++) {
    if (k) keys.cross_kv = &st->cross_kv[l];
    DVK_TRY(block(ctx, tf, &tf->layers[l], &st->kv[l], st, B, 1, pos, k));
  }
  return head(ctx, tf, st, 0, B, host_logits);
}

/* Encoder-decoder prefill: encodes the prompt rows ids [prompts, T], feeds the start token (position 0) to every
 * sequence and leaves the logits of image token 0. */
static dvk_status prefill_encoder_decoder(dvk_device *ctx, const dvk_transformer *tf, dvk_tf_state *st,
                                          const int32_t *ids, uint32_t prompts, float *host_logits) {
  if (st->batch % prompts)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "%u sequences do not split over %u prompts", st->batch, prompts);
  DVK_TRY(encode(ctx, tf, st, ids, prompts));
  const dvk_embed_out out = {.t = st->x, .out_rows = 1, .out_row0 = 0};
  DVK_TRY(dvk_op_embed_row(ctx, &out, st->batch, &tf->image_start, 0));
  DVK_TRY(decoder_step(ctx, tf, st, 0, host_logits));
  st->next_image = 0;
  return DVK_OK;
}

/* Copies row 0 of logits [rows, vi] to rows 1..rows-1. */
static void repeat_row(float *logits, uint32_t rows, uint32_t vi) {
  for (uint32_t b = 1; b < rows; b++) memcpy(logits + (size_t)b * vi, logits, (size_t)vi * sizeof *logits);
}

dvk_status dvk_transformer_prefill(dvk_device *ctx, const dvk_transformer *tf, dvk_tf_state *st, const int32_t *text_ids,
                                   float *host_logits) {
  if (encoder_decoder(&tf->cfg)) return prefill_encoder_decoder(ctx, tf, st, text_ids, 1, host_logits);
  DVK_TRY(prefill_into(ctx, tf, st, text_ids, st->batch, host_logits));
  repeat_row(host_logits, st->batch, tf->cfg.image_vocab);
  st->next_image = 0;
  return DVK_OK;
}

dvk_status dvk_transformer_prefill_guided(dvk_device *ctx, const dvk_transformer *tf, dvk_tf_state *st,
                                          const int32_t *text_ids, const int32_t *null_ids, float *host_logits) {
  const uint32_t n = st->batch / 2, vi = tf->cfg.image_vocab;
  if (st->batch % 2) return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "guided prefill needs an even batch (%u)", st->batch);
  if (encoder_decoder(&tf->cfg)) { /* both rows through the encoder at once: prompt 0 the caption, 1 the null row */
    const uint32_t T = tf->cfg.text_len;
    int32_t *ids = malloc((size_t)2 * T * sizeof *ids);
    if (!ids) return dvk_fail(ctx, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
    memcpy(ids, text_ids, (size_t)T * sizeof *ids);
    memcpy(ids + T, null_ids, (size_t)T * sizeof *ids);
    dvk_status s = prefill_encoder_decoder(ctx, tf, st, ids, 2, host_logits);
    free(ids);
    return s;
  }
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
  else DVK_TRY(dvk_op_embed_image(ctx, &out, st->ids, B, 1, i, c->grid, &tf->image_emb, &tf->row_emb, &tf->col_emb));
  DVK_TRY(decoder_step(ctx, tf, st, c->image0 + i, host_logits));
  st->next_image = i + 1;
  return DVK_OK;
}

dvk_status dvk_transformer_copy_sequences(dvk_device *ctx, const dvk_transformer *tf, dvk_tf_state *st,
                                          const uint32_t *src) {
  const uint32_t filled = tf->cfg.image0 + st->next_image; /* text, start of image (if any), fed image tokens */
  for (uint32_t l = 0; l < tf->cfg.n_layers; l++) DVK_TRY(dvk_op_kv_copy(ctx, &st->kv[l], src, st->batch, filled));
  return DVK_OK;
}
