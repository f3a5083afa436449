/* The reranker's two towers on the device. See reranker.h. */
#include "model/reranker.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/norm.h"

#define CHUNK 64 /* candidates scored per pass */

static dvk_status load_tower(dvk_loader *L, const char *name, uint32_t n_layers, const dvk_reranker_config *c,
                             dvk_reranker_tower *t) {
  t->n_layers = n_layers;
  t->layers = calloc(n_layers, sizeof *t->layers);
  if (!t->layers) {
    return dvk_error_set(L->err, DVK_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory", gguf_name(L->file));
  }
  char key[96];
  for (uint32_t l = 0; l < n_layers; l++) {
    snprintf(key, sizeof key, "clip.%s.blk.%u.", name, l);
    DVK_TRY(dvk_layer_load(L, key, c->d_model, c->d_ff, &t->layers[l]));
  }
  snprintf(key, sizeof key, "clip.%s.ln_f.w", name);
  DVK_TRY(dvk_load_vector(L, key, c->d_model, &t->lnf_w));
  snprintf(key, sizeof key, "clip.%s.ln_f.b", name);
  DVK_TRY(dvk_load_vector(L, key, c->d_model, &t->lnf_b));
  snprintf(key, sizeof key, "clip.%s.proj.w", name);
  return dvk_load_linear(L, key, c->d_embed, c->d_model, &t->proj);
}

dvk_status dvk_reranker_load(dvk_loader *L, const dvk_model_config *cfg, dvk_reranker *r) {
  memset(r, 0, sizeof *r);
  const dvk_reranker_config *c = &cfg->reranker;
  const dvk_dalle_config *dc = &cfg->dalle;
  r->cfg = *c;
  r->text_len = dc->text_len;
  r->grid = dc->grid;
  const uint32_t d = c->d_model, T = dc->text_len, G = dc->grid;
  DVK_TRY(dvk_load_table(L, "clip.text.tok_emb", dc->text_vocab + T, d, &r->text_tok));
  DVK_TRY(dvk_load_table(L, "clip.text.pos_emb", T, d, &r->text_pos));
  DVK_TRY(dvk_load_table(L, "clip.image.tok_emb", dc->image_vocab, d, &r->image_tok));
  DVK_TRY(dvk_load_table(L, "clip.image.row_emb", G, d, &r->row_emb));
  DVK_TRY(dvk_load_table(L, "clip.image.col_emb", G, d, &r->col_emb));
  if (r->text_pos.dtype != r->text_tok.dtype || r->row_emb.dtype != r->image_tok.dtype ||
      r->col_emb.dtype != r->image_tok.dtype) {
    return dvk_error_set(L->err, DVK_ERR_MODEL_FORMAT, "%s: reranker embedding tables of one tower must share a dtype", gguf_name(L->file));
  }
  DVK_TRY(load_tower(L, "text", c->text_layers, c, &r->text));
  DVK_TRY(load_tower(L, "image", c->image_layers, c, &r->image));
  /* Causal masks: the attention op's queries before image0 see keys 0..pos. The text tower is T text
   * positions (image0 = T + 1). The image tower is a sequence with image0 1: position 0 (code 0) sees itself,
   * position p >= 1 sees 0..p under the "full" image mask, i.e. causal again. */
  for (uint32_t l = 0; l < r->text.n_layers; l++)
    r->text.layers[l].mask = (dvk_attn_mask){.type = DVK_MASK_FULL, .image0 = T + 1, .grid = G};
  for (uint32_t l = 0; l < r->image.n_layers; l++)
    r->image.layers[l].mask = (dvk_attn_mask){.type = DVK_MASK_FULL, .image0 = 1, .grid = G};
  return DVK_OK;
}

void dvk_reranker_free(dvk_reranker *r) {
  free(r->text.layers);
  free(r->image.layers);
  r->text.layers = r->image.layers = NULL;
}

/* Rows of activations one pass needs: the text sequence, or a chunk of image sequences. */
static uint64_t pass_rows(const dvk_reranker *r, uint32_t n) {
  const uint64_t img = (uint64_t)(n < CHUNK ? n : CHUNK) * r->grid * r->grid;
  return img > r->text_len ? img : r->text_len;
}

uint64_t dvk_reranker_bytes(const dvk_reranker *r, uint32_t n) {
  const dvk_reranker_config *c = &r->cfg;
  const uint64_t rows = pass_rows(r, n);
  /* x, h, attn [rows, d]; qkv [rows, 3d]; ff [rows, d_ff]; k, v [rows, d]; ids [rows];
   * features [CHUNK, d_embed] */
  return rows * 4 * (8ull * c->d_model + c->d_ff + 1) + (uint64_t)CHUNK * c->d_embed * 4;
}

typedef struct pass {
  dvk_block_io io;
  dvk_kv_cache kv; /* one cache reused by every layer: each layer's keys are consumed before the next */
  dvk_tensor feat; /* [CHUNK, d_embed]: one feature per sequence */
  dvk_tensor ids;  /* int32 [rows] */
} pass;

/* Runs a tower over `batch` sequences of S rows already embedded in p->io.x; reads back the normalised
 * feature of each sequence's last position into out [batch, d_embed]. */
static dvk_status run_tower(dvk_device *ctx, const dvk_reranker *r, const dvk_reranker_tower *t, pass *p, uint32_t batch,
                            uint32_t S, float *out) {
  const dvk_reranker_config *c = &r->cfg;
  const uint32_t rows = batch * S, de = c->d_embed;
  p->kv.batch = batch;
  p->kv.s_max = S;
  for (uint32_t l = 0; l < t->n_layers; l++)
    DVK_TRY(dvk_block_forward(ctx, &t->layers[l], &p->kv, &p->io, c->d_model, c->ln_eps, batch, S, 0, NULL));
  /* ln_f over every row (cheap next to the blocks; the op has no row stride), then proj on each
   * sequence's last row only: X rows S * d_model floats apart */
  DVK_TRY(dvk_op_layernorm(ctx, p->io.h, p->io.x, t->lnf_w, t->lnf_b, rows, c->d_model, c->ln_eps));
  const VkDeviceSize last = (VkDeviceSize)(S - 1) * c->d_model * 4;
  const dvk_matmul_desc proj = {.m = batch, .x = dvk_tensor_slice(p->io.h, last, p->io.h.size - last),
                                .ldx = S * c->d_model, .w = &t->proj, .y = p->feat};
  DVK_TRY(dvk_op_matmul_ex(ctx, &proj));
  DVK_TRY(dvk_download(ctx, out, p->feat, (VkDeviceSize)batch * de * 4));
  for (uint32_t b = 0; b < batch; b++) {
    float *v = out + (size_t)b * de;
    double nn = 0;
    for (uint32_t k = 0; k < de; k++) nn += (double)v[k] * v[k];
    const double inv = nn > 0 ? 1.0 / sqrt(nn) : 0.0;
    for (uint32_t k = 0; k < de; k++) v[k] = (float)(v[k] * inv);
  }
  return DVK_OK;
}

static dvk_status alloc_pass(dvk_device *ctx, dvk_arena *a, const dvk_reranker *r, uint32_t n, pass *p) {
  const dvk_reranker_config *c = &r->cfg;
  const VkDeviceSize rows = pass_rows(r, n), d = c->d_model;
  DVK_TRY(dvk_arena_alloc(a, rows * d * 4, &p->io.x));
  DVK_TRY(dvk_arena_alloc(a, rows * d * 4, &p->io.h));
  DVK_TRY(dvk_arena_alloc(a, rows * d * 4, &p->io.attn));
  DVK_TRY(dvk_arena_alloc(a, rows * 3 * d * 4, &p->io.qkv));
  DVK_TRY(dvk_arena_alloc(a, rows * c->d_ff * 4, &p->io.ff));
  DVK_TRY(dvk_arena_alloc(a, rows * d * 4, &p->kv.k));
  DVK_TRY(dvk_arena_alloc(a, rows * d * 4, &p->kv.v));
  DVK_TRY(dvk_arena_alloc(a, (VkDeviceSize)CHUNK * c->d_embed * 4, &p->feat));
  DVK_TRY(dvk_arena_alloc(a, rows * 4, &p->ids));
  p->kv.n_heads = c->n_heads;
  p->kv.d_head = c->d_model / c->n_heads;
  (void)ctx;
  return DVK_OK;
}

/* codes int32 [n, len]: the first len codes of each candidate's image (the image tower is causal, so a
 * shorter sequence gives exactly the prefix's feature). */
static dvk_status score_all(dvk_device *ctx, const dvk_reranker *r, pass *p, const int32_t *text_ids,
                            const int32_t *codes, uint32_t n, uint32_t len, float *scores, float *tf, float *imf) {
  const uint32_t T = r->text_len, de = r->cfg.d_embed;
  /* text tower: one sequence of T rows */
  DVK_TRY(dvk_upload(ctx, p->ids, text_ids, (VkDeviceSize)T * 4));
  dvk_embed_out out = {.t = p->io.x, .out_rows = T, .out_row0 = 0};
  DVK_TRY(dvk_op_embed_text(ctx, &out, p->ids, 1, T, 0, &r->text_tok, &r->text_pos));
  DVK_TRY(run_tower(ctx, r, &r->text, p, 1, T, tf));
  /* image tower, CHUNK candidates at a time */
  for (uint32_t b0 = 0; b0 < n; b0 += CHUNK) {
    const uint32_t nb = n - b0 < CHUNK ? n - b0 : CHUNK;
    DVK_TRY(dvk_upload(ctx, p->ids, codes + (size_t)b0 * len, (VkDeviceSize)nb * len * 4));
    out = (dvk_embed_out){.t = p->io.x, .out_rows = len, .out_row0 = 0};
    DVK_TRY(dvk_op_embed_image(ctx, &out, p->ids, nb, len, 0, r->grid, &r->image_tok, &r->row_emb, &r->col_emb));
    DVK_TRY(run_tower(ctx, r, &r->image, p, nb, len, imf + (size_t)b0 * de));
  }
  for (uint32_t b = 0; b < n; b++) {
    double dot = 0;
    for (uint32_t k = 0; k < de; k++) dot += (double)tf[k] * imf[(size_t)b * de + k];
    scores[b] = (float)(r->cfg.logit_scale * dot);
  }
  return DVK_OK;
}

static dvk_status score(dvk_device *ctx, const dvk_reranker *r, const int32_t *text_ids, const int32_t *codes,
                        uint32_t n, uint32_t len, float *scores, float *text_feat, float *image_feat) {
  const uint32_t de = r->cfg.d_embed;
  float *tf = text_feat ? text_feat : malloc(de * sizeof *tf);
  float *imf = image_feat ? image_feat : malloc((size_t)n * de * sizeof *imf);
  dvk_arena *a = NULL;
  pass p = {0};
  dvk_status s = DVK_OK;
  if (!tf || !imf) s = dvk_fail(ctx, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  if (s == DVK_OK) s = dvk_arena_create(ctx, 0, &a);
  if (s == DVK_OK) s = alloc_pass(ctx, a, r, n, &p);
  if (s == DVK_OK) s = score_all(ctx, r, &p, text_ids, codes, n, len, scores, tf, imf);
  if (s != DVK_OK) dvk_discard(ctx);
  dvk_arena_destroy(a);
  if (!text_feat) free(tf);
  if (!image_feat) free(imf);
  return s;
}

dvk_status dvk_reranker_score(dvk_device *ctx, const dvk_reranker *r, const int32_t *text_ids, const int32_t *codes,
                            uint32_t n, float *scores, float *text_feat, float *image_feat) {
  return score(ctx, r, text_ids, codes, n, r->grid * r->grid, scores, text_feat, image_feat);
}

dvk_status dvk_reranker_score_prefix(dvk_device *ctx, const dvk_reranker *r, const int32_t *text_ids,
                                   const int32_t *codes, uint32_t n, uint32_t rows, float *scores) {
  const uint32_t G = r->grid, len = rows * G;
  if (rows == 0 || rows > G)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "rerank prefix: %u rows of a %u-row image", rows, G);
  int32_t *packed = malloc((size_t)n * len * sizeof *packed);
  if (!packed) return dvk_fail(ctx, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  for (uint32_t b = 0; b < n; b++) memcpy(packed + (size_t)b * len, codes + (size_t)b * G * G, len * sizeof *packed);
  dvk_status s = score(ctx, r, text_ids, packed, n, len, scores, NULL, NULL);
  free(packed);
  return s;
}
