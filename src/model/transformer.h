/* The DALL-E transformer on the device (docs/design.md §3): weights, KV cache, prefill and decode.
 *
 * Sequence: positions 0..T-1 text (token + text position embedding; past the caption, position j holds
 * its pad token Vt + j), then (dalle.image_start, the default) the start-of-image embedding at T; image token
 * i sits at I0 + i, I0 = cfg.image0 (T + 1, or T without a start token), embedded as token + row + column
 * embedding (axial) or token + image_pos_emb[i] (linear). Blocks pre-LN or sandwich (block.h); final LN (and
 * a second one when final_norms is 2); image logits. The output at position I0 - 1 + i gives the logits of
 * image token i: the start token's, or without one the last text position's, gives token 0.
 *
 * Encoder-decoder files (DALL-E Mini / Mega, docs/model-format.md §9): the text goes through a text encoder
 * instead (enc.text_emb + enc.text_pos_emb, enc.emb_ln, bidirectional blocks over the non-pad positions,
 * enc.ln_f), once per prompt; each decoder block's cross.kv of the encoder states is kept as a second KV cache
 * (st->cross_kv). The decoder's own sequence holds no text: the start token at 0 (I0 = 1), image token i at
 * 1 + i, with linear positions; its embedding goes through emb_ln; its blocks attend to the encoder states.
 *
 * Generation: dvk_transformer_prefill runs positions 0..I0-1 once (batch 1), copies its KV cache to the B
 * candidates and leaves the logits of image token 0; each dvk_transformer_decode feeds image token i of every
 * candidate and leaves the logits of token i+1. Only the keys a layer's mask allows are read (the attention op
 * enumerates them). */
#ifndef DVK_MODEL_TRANSFORMER_H
#define DVK_MODEL_TRANSFORMER_H

#include "model/block.h"
#include "model/config.h"
#include "ops/embed.h"

/* The text encoder of an encoder-decoder file (enc.* tensors). */
typedef struct dvk_text_encoder {
  dvk_embed_table text_emb, text_pos; /* [Vt, d], [T, d] */
  dvk_tensor emb_ln_w, emb_ln_b;      /* f32 [d] */
  dvk_layer *layers;                  /* [enc_layers] */
  dvk_tensor lnf_w, lnf_b;            /* f32 [d] */
} dvk_text_encoder;

typedef struct dvk_transformer {
  dvk_dalle_config cfg;
  dvk_text_encoder enc;        /* encoder-decoder only */
  dvk_tensor emb_ln_w, emb_ln_b; /* f32 [d]: encoder-decoder only, after the decoder's embedding */
  dvk_embed_table text_emb;    /* [Vt + T, d] */
  dvk_embed_table text_pos;    /* [T, d] */
  dvk_embed_table image_start; /* [1, d] f32 (cfg.image_start) */
  dvk_embed_table image_emb;   /* [Vi, d] */
  dvk_embed_table row_emb, col_emb; /* [G, d] (axial image positions) */
  dvk_embed_table image_pos;        /* [G*G, d] (linear image positions) */
  dvk_layer *layers;           /* [n_layers] */
  dvk_tensor lnf_w, lnf_b;     /* f32 [d] */
  dvk_tensor lnf2_w, lnf2_b;   /* f32 [d] (final_norms 2) */
  dvk_matmul_weight logits_w;  /* [Vi, d] */
  dvk_tensor logits_b;         /* f32 [Vi] */
} dvk_transformer;

/* Loads every transformer tensor of docs/model-format.md §3 with its exact shape. The weights live in
 * L->arena. Errors: DVK_ERR_MODEL_FORMAT (missing tensor, wrong shape/type: message in L->err),
 * DVK_ERR_OUT_OF_*, DVK_ERR_*. dvk_transformer_free releases host memory only (the arena owns the rest). */
dvk_status dvk_transformer_load(dvk_loader *L, const dvk_dalle_config *cfg, dvk_transformer *tf);
void dvk_transformer_free(dvk_transformer *tf);

/* Activations and KV cache for generating `batch` candidates. */
typedef struct dvk_tf_state {
  uint32_t batch, rows;     /* candidates; activation rows = max(I0, batch) */
  dvk_kv_cache *kv;         /* [n_layers], each [batch, n_heads, T + G*G (encoder-decoder: G*G), d_head] */
  dvk_kv_cache enc_kv;      /* encoder-decoder: the encoder layer's own K/V, [2, n_heads, T, d_head] */
  dvk_kv_cache *cross_kv;   /* encoder-decoder: [n_layers], each [2, n_heads, T, d_head]: cross.kv of the
                               encoder states of the prompts (caption; with guidance also the unconditional) */
  uint32_t prompts;         /* encoder-decoder: prompts encoded (1, or 2 with guidance) */
  uint32_t key_len[2];      /* encoder-decoder: each prompt's positions before its first pad */
  dvk_tensor x, h, attn;    /* f32 [rows, d]; rows also >= 2T for an encoder-decoder's encoder */
  dvk_tensor qkv;           /* f32 [rows, 3d] */
  dvk_tensor ff;            /* f32 [rows, d_ff] */
  dvk_tensor logits;        /* f32 [batch, Vi] */
  dvk_tensor ids;           /* int32 [max(2T, batch)] */
  uint32_t next_image;      /* image index the next decode step feeds */
} dvk_tf_state;

/* Allocates the state from arena. Errors: DVK_ERR_OUT_OF_DEVICE_MEMORY (message says how much),
 * DVK_ERR_*. */
dvk_status dvk_tf_state_create(dvk_device *ctx, dvk_arena *arena, const dvk_transformer *tf, uint32_t batch,
                               dvk_tf_state *st);
void dvk_tf_state_free(dvk_tf_state *st);

/* Device bytes dvk_tf_state_create would allocate for `batch` candidates (for memory estimates). */
uint64_t dvk_tf_state_bytes(const dvk_transformer *tf, uint32_t batch);

/* Prefill: text_ids int32 [T] (already padded: Vt + j, or text_pad_id for encoder-decoder files; encoded first
 * there), then the start-of-image token if the model has one;
 * fills the KV cache of all st->batch candidates (positions 0..I0-1) and writes the logits of image token 0 to
 * host_logits [st->batch, Vi] (identical rows). Blocking. */
dvk_status dvk_transformer_prefill(dvk_device *ctx, const dvk_transformer *tf, dvk_tf_state *st, const int32_t *text_ids,
                                   float *host_logits);

/* Prefill for classifier-free guidance (cond_scale; DALLE-pytorch's generate_images, dalle-mini's
 * "super-conditioning"): st->batch = 2n sequences, the first n with the prompt text_ids [T], the last n
 * with null_ids [T] (dvk_tokenizer_null_ids: the empty caption, or min-dalle's [bos, eos] row for encoder-decoder
 * files, whose super-conditioning is this formula with f = s). host_logits [2n, Vi] receives the
 * prompt's logits of image token 0 in rows 0..n-1 and the empty caption's in rows n..2n-1. Decode steps
 * then feed each candidate's code to both of its sequences. Errors: DVK_ERR_INVALID_ARGUMENT (odd batch). */
dvk_status dvk_transformer_prefill_guided(dvk_device *ctx, const dvk_transformer *tf, dvk_tf_state *st,
                                          const int32_t *text_ids, const int32_t *null_ids, float *host_logits);

/* Decode step: codes int32 [st->batch] = image token st->next_image of each candidate; writes the logits
 * of the following token to host_logits [st->batch, Vi]. Blocking. Valid while next_image < G*G - 1. */
dvk_status dvk_transformer_decode(dvk_device *ctx, const dvk_transformer *tf, dvk_tf_state *st, const int32_t *codes,
                                  float *host_logits);

/* Sequence b continues from sequence src[b]'s state (src [st->batch]; src[b] == b: unchanged): the KV cache
 * of every layer, positions 0 .. I0 + next_image - 1 (everything fed so far), is copied from src[b] to b. A
 * source must keep its own state (src[src[b]] == src[b]). The caller copies its host-side codes likewise and
 * then decodes the code each sequence sampled last. Blocking. Errors: DVK_ERR_INVALID_ARGUMENT (bad src). */
dvk_status dvk_transformer_copy_sequences(dvk_device *ctx, const dvk_transformer *tf, dvk_tf_state *st,
                                          const uint32_t *src);

#endif
