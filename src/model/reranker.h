/* The reranker: DALL-E's third stage (Ramesh et al. 2021, §2.5: sample N candidates, keep the ones a
 * contrastive model scores best), with a small CLIP-style dual encoder (Radford et al. 2021) that reads
 * the candidates' dVAE codes instead of their pixels, so candidates are scored before decoding.
 * Reference: tools/dallevk/clip.py; tensors and keys: docs/model-format.md (clip.*).
 *
 * Text tower: the transformer's padded caption ids [T] -> tok_emb + pos_emb -> pre-LN blocks with a causal
 * mask -> ln_f at position T-1 (which sees the whole caption) -> proj -> L2-normalised [d_embed].
 * Image tower: codes [G*G] (raster order) -> tok_emb + row_emb + col_emb -> causal blocks -> ln_f at
 * position G*G-1 -> proj -> L2-normalised [d_embed].
 * score = logit_scale * dot(text feature, image feature). */
#ifndef DVK_MODEL_RERANKER_H
#define DVK_MODEL_RERANKER_H

#include "model/block.h"
#include "model/config.h"
#include "ops/embed.h"

typedef struct dvk_reranker_tower {
  uint32_t n_layers;
  dvk_layer *layers;       /* [n_layers], mask: causal ("full" over a sequence without image rows) */
  dvk_tensor lnf_w, lnf_b; /* f32 [d] */
  dvk_matmul_weight proj;  /* [d_embed, d], no bias */
} dvk_reranker_tower;

typedef struct dvk_reranker {
  dvk_reranker_config cfg;
  uint32_t text_len, grid; /* T and G of the transformer */
  dvk_embed_table text_tok, text_pos;          /* [Vt + T, d], [T, d] */
  dvk_embed_table image_tok, row_emb, col_emb; /* [Vi, d], [G, d], [G, d] */
  dvk_reranker_tower text, image;
} dvk_reranker;

/* Loads the clip.* tensors (cfg->reranker.present must be set). Weights go to L->arena.
 * Errors: DVK_ERR_MODEL_FORMAT (missing tensor or wrong shape: message in L->err), DVK_ERR_OUT_OF_*. */
dvk_status dvk_reranker_load(dvk_loader *L, const dvk_model_config *cfg, dvk_reranker *r);
void dvk_reranker_free(dvk_reranker *r); /* host memory only; the arena owns the weights */

/* Device bytes dvk_reranker_score allocates for n candidates (it works in chunks of at most 64). */
uint64_t dvk_reranker_bytes(const dvk_reranker *r, uint32_t n);

/* Scores n candidates against one caption: text_ids int32 [T] (padded as for the transformer), codes
 * int32 [n, G*G]; scores f32 [n] = logit_scale * cosine. text_feat [d_embed] and image_feat
 * [n, d_embed] receive the L2-normalised features when not NULL. Scratch comes from a temporary arena.
 * Blocking. Errors: DVK_ERR_OUT_OF_DEVICE_MEMORY, DVK_ERR_OUT_OF_HOST_MEMORY, DVK_ERR_DEVICE_LOST, ... */
dvk_status dvk_reranker_score(dvk_device *ctx, const dvk_reranker *r, const int32_t *text_ids, const int32_t *codes,
                            uint32_t n, float *scores, float *text_feat, float *image_feat);

/* Scores image prefixes (pruning candidates during sampling, DVK's addition to DALL-E's reranking): codes
 * int32 [n, G*G] of which only the first `rows` rows (rows * G codes) of each candidate are read,
 * 1 <= rows <= G. The image tower is causal, so the prefix's feature is the tower's feature at position
 * rows * G - 1 (tools/dallevk/clip.py Clip.prefix_features); scores f32 [n] as dvk_reranker_score, which
 * rows = G equals. Errors: DVK_ERR_INVALID_ARGUMENT (rows out of range), as dvk_reranker_score. */
dvk_status dvk_reranker_score_prefix(dvk_device *ctx, const dvk_reranker *r, const int32_t *text_ids,
                                   const int32_t *codes, uint32_t n, uint32_t rows, float *scores);

#endif
