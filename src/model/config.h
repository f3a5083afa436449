/* Model hyperparameters as read from a GGUF file (docs/model-format.md §2, §4). */
#ifndef DVK_MODEL_CONFIG_H
#define DVK_MODEL_CONFIG_H

#include <stdint.h>

#include "model/gguf.h"
#include "ops/attention.h"

#define DVK_MAX_LAYERS 256
#define DVK_MAX_CANDIDATES 4096u /* the largest clip.candidates a file may name */

/* Architecture options of the transformer (dalle.* keys of docs/model-format.md §2; absent = the first value). */
/* image positions: row + column tables (axial), or one table of G*G rows (linear) */
typedef enum dvk_image_pos { DVK_IMAGE_POS_AXIAL = 0, DVK_IMAGE_POS_LINEAR } dvk_image_pos;
/* sandwich: each branch output through its own LayerNorm before the residual add */
typedef enum dvk_norm_place { DVK_NORM_PRE = 0, DVK_NORM_SANDWICH } dvk_norm_place;
typedef enum dvk_gelu { DVK_GELU_ERF = 0, DVK_GELU_TANH } dvk_gelu;
/* feed-forward: fc2(GELU(fc1 h)) with biases, or the GLU fc2(mid_ln(GELU(fc1 h) * gate h)) without (§9) */
typedef enum dvk_mlp_kind { DVK_MLP_FC = 0, DVK_MLP_GLU } dvk_mlp_kind;
/* dalle.layout: one decoder over text + image (§2/§3), or a text encoder and an image decoder (§9, DALL-E Mini /
 * Mega: bidirectional encoder run once per prompt; decoder blocks with post-LN self-attention, cross-attention to
 * the encoder states and the GLU; LayerNorm after each embedding) */
typedef enum dvk_layout { DVK_LAYOUT_DECODER = 0, DVK_LAYOUT_ENCODER_DECODER } dvk_layout;

/* The transformer (docs/design.md §3). */
typedef struct dvk_dalle_config {
  dvk_layout layout;    /* dalle.layout */
  uint32_t text_len;    /* T (encoder-decoder: the encoder's positions) */
  uint32_t text_vocab;  /* Vt; pad token of text position j is Vt + j (encoder-decoder: text_pad_id) */
  uint32_t text_pad_id; /* encoder-decoder: dalle.text_pad_id, the id whose positions are masked as keys */
  uint32_t enc_layers;  /* encoder-decoder: dalle.enc_layers */
  dvk_mlp_kind mlp;     /* dalle.mlp (absent: fc) */
  uint32_t grid;        /* G; G*G image tokens */
  uint32_t image_vocab; /* Vi */
  uint32_t d_model, n_heads, n_layers, d_ff;
  float ln_eps;
  uint32_t conv_kernel; /* odd */
  int conv_wrap;
  dvk_attn_mask_type attn_types[DVK_MAX_LAYERS];
  int image_start;         /* dalle.image_start (absent: 1): a start-of-image token at position T */
  dvk_image_pos image_pos; /* dalle.image_pos */
  dvk_norm_place norm;     /* dalle.norm */
  dvk_gelu gelu;           /* dalle.gelu */
  uint32_t final_norms;    /* dalle.final_norms: 1 (ln_f) or 2 (ln_f, ln_f2) */
  float attn_out_clamp;    /* dalle.attn_out_clamp: > 0 clamps the attention output projection; 0 none */
  uint32_t image0;         /* position of image token 0: T + image_start (encoder-decoder: image_start) */
  uint32_t mask_image0;    /* dalle.mask_image0 (absent: image0): the masks' image index 0 */
  float cond_scale;     /* recommended classifier-free guidance scale (dalle.cond_scale; absent: 1 = none) */
  float temperature;    /* recommended sampling temperature (dalle.temperature; absent: 1) */
  float top_p;          /* recommended nucleus sampling mass (dalle.top_p; absent: 1 = off) */
  uint32_t top_k;       /* recommended top-k, 1..image_vocab (dalle.top_k; absent: 0 = off) */
  int beam_search;            /* recommended decoding: 1 = beam search (dalle.decoding "beam"; absent or "sample": 0) */
  uint32_t beam_width;        /* recommended beam width, 1..image_vocab (dalle.beam_width; absent: 0 = the candidates) */
  uint32_t beam_sampled_rows; /* recommended rows sampled before the search, 0..grid-1 (dalle.beam_sampled_rows) */
} dvk_dalle_config;

/* The dVAE (OpenAI architecture, sizes as parameters): the decoder always, the encoder when has_encoder. */
typedef struct dvk_dvae_config {
  uint32_t group_count, n_hid, n_blk_per_group, vocab_size, n_init, output_channels, image_size;
  int has_encoder;         /* dvae.has_encoder (absent: 0): the dvae.enc.* tensors are present */
  uint32_t input_channels; /* dvae.input_channels, the encoder's input (3, RGB); 0 without an encoder */
} dvk_dvae_config;

#define DVK_VQGAN_MAX_LEVELS 8

/* The taming-transformers VQGAN (vqgan.* keys, docs/model-format.md §8.2), an image decoder used instead of the
 * dVAE; read by dvk_vqgan_config_read (model/vqgan.h). */
typedef struct dvk_vqgan_config {
  uint32_t ch, n_levels, ch_mult[DVK_VQGAN_MAX_LEVELS], num_res_blocks;
  uint32_t attn_levels; /* bit l: level l has attention */
  uint32_t resolution, z_channels, embed_dim, n_embed, in_channels, out_channels, norm_groups;
  float norm_eps, output_lo, output_hi;
  int gumbel;           /* vqgan.quantizer "gumbel" (else "vq") */
  int has_encoder;
} dvk_vqgan_config;

/* The optional reranker (CLIP-style dual encoder over captions and dVAE codes; reranker.h). Its text tower
 * shares the transformer's text_len, text vocabulary and BPE; its image tower the grid and image vocabulary. */
typedef struct dvk_reranker_config {
  int present;          /* the file has clip.* keys */
  uint32_t d_model, n_heads, d_ff, text_layers, image_layers, d_embed;
  float ln_eps;
  float logit_scale;    /* score = logit_scale * cosine(text feature, image feature) */
  uint64_t prune_rows;  /* recommended rows to prune candidates after (clip.prune_rows, bit r = row r; absent: 0) */
  uint32_t candidates;  /* recommended candidates sampled per generation (clip.candidates; absent: 0) */
} dvk_reranker_config;

/* Whether a pruning row mask (bit r = after image row r) names only rows 0..grid-2: after the last row comes
 * the final reranking. */
static inline int dvk_prune_rows_fit(uint64_t rows, uint32_t grid) { return grid - 1 >= 64 || !(rows >> (grid - 1)); }

typedef struct dvk_model_config {
  dvk_dalle_config dalle;
  dvk_dvae_config dvae;    /* the image decoder when !has_vqgan */
  int has_vqgan;           /* the file has vqgan.* keys: the image decoder is the VQGAN (dvae.* are not read) */
  dvk_vqgan_config vqgan;
  dvk_reranker_config reranker;
  char name[128], license[128];
} dvk_model_config;

/* Reads and checks every dalle.*, dvae.* (or vqgan.*, when present) and general.* key the engine needs,
 * including the cross-checks of docs/model-format.md §4 (vocabularies, grid vs image size, layer count, odd
 * conv kernel, d_model divisible by n_heads, d_head a multiple of 4 and <= 256), and the clip.* keys when
 * clip.d_model is present. Errors: DVK_ERR_MODEL_FORMAT with a message naming the file and the key. */
dvk_status dvk_config_read(const gguf_file *f, dvk_model_config *cfg, dvk_error *err);

/* Reads the optional architecture keys of docs/model-format.md §2 into d (text_len and grid already set) and
 * fills d->image0 and d->mask_image0. Errors: DVK_ERR_MODEL_FORMAT naming the file, the key and the allowed values
 * (config_options.c). */
dvk_status dvk_dalle_options_read(const gguf_file *f, dvk_dalle_config *d, dvk_error *err);

#endif
