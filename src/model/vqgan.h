/* The taming-transformers VQGAN on the device (docs/model-format.md §8.2; reference tools/dallevk/vqgan.py):
 * decoder: codes [G, G] -> codebook rows -> post_quant_conv -> conv_in -> mid (ResnetBlock, AttnBlock,
 * ResnetBlock) -> levels L-1..0 (num_res_blocks + 1 ResnetBlocks, an AttnBlock after each on attention levels,
 * nearest 2x upsampling + 3x3 conv above level 0) -> GroupNorm + swish -> conv_out -> pixels
 * clamp((out - lo) / (hi - lo), 0, 1). Encoder (when the file has one): pixels * (hi - lo) + lo -> conv_in ->
 * levels 0..L-1 (num_res_blocks blocks, stride-2 downsampling below the last) -> mid -> GroupNorm + swish ->
 * conv_out -> quant_conv -> code = nearest codebook row (vq) or argmax of gumbel_proj (gumbel).
 * GroupNorm statistics and the attention softmax run in f32. Images are processed one at a time, so activation
 * memory does not grow with the batch. */
#ifndef DVK_MODEL_VQGAN_H
#define DVK_MODEL_VQGAN_H

#include "model/dvae.h"

/* Whether the file has a vqgan.* section (the key vqgan.ch). */
int dvk_vqgan_present(const gguf_file *f);

/* Reads and checks the vqgan.* keys: types, 1..DVK_VQGAN_MAX_LEVELS levels, nonzero sizes, every width a
 * multiple of norm_groups, attention levels < L, resolution a multiple of 2^(L-1), 3 image channels,
 * quantizer "vq" or "gumbel", output_lo != output_hi, norm_eps > 0. Errors: DVK_ERR_MODEL_FORMAT with a
 * message naming the file and the key. */
dvk_status dvk_vqgan_config_read(const gguf_file *f, dvk_vqgan_config *cfg, dvk_error *err);

typedef struct dvk_vqgan_norm {
  dvk_tensor w, b; /* f32 [C] */
} dvk_vqgan_norm;

typedef struct dvk_vqgan_resblock {
  uint32_t cin, cout;
  dvk_vqgan_norm norm1, norm2;
  dvk_dvae_conv conv1, conv2, nin_shortcut; /* nin_shortcut (1x1) only when cin != cout */
} dvk_vqgan_resblock;

typedef struct dvk_vqgan_attn {
  uint32_t c;
  dvk_vqgan_norm norm;
  dvk_dvae_conv qkv;      /* q, k, v 1x1 convs concatenated: c -> 3c */
  dvk_dvae_conv proj_out; /* 1x1 */
} dvk_vqgan_attn;

typedef struct dvk_vqgan_level {
  uint32_t width, n_blocks;
  dvk_vqgan_resblock *block; /* [n_blocks] */
  dvk_vqgan_attn *attn;      /* [n_blocks] on attention levels, else NULL */
  int has_resample;
  dvk_dvae_conv resample;    /* decoder: the conv after upsampling; encoder: the downsampling conv */
} dvk_vqgan_level;

/* The decoder or the encoder. */
typedef struct dvk_vqgan_stack {
  dvk_dvae_conv conv_in, conv_out;
  dvk_vqgan_level level[DVK_VQGAN_MAX_LEVELS];
  dvk_vqgan_resblock mid_block_1, mid_block_2;
  dvk_vqgan_attn mid_attn;
  dvk_vqgan_norm norm_out;
} dvk_vqgan_stack;

typedef struct dvk_vqgan {
  dvk_vqgan_config cfg;
  uint32_t grid;         /* G = resolution / 2^(L-1) code cells per side */
  dvk_tensor codebook;   /* [n_embed, embed_dim], f32 or f16 as stored (gather table) */
  int codebook_f16;
  dvk_tensor zero_bias;  /* f32 [embed_dim] zeros (the gather's bias) */
  dvk_dvae_conv post_quant_conv;
  dvk_vqgan_stack dec;
  dvk_vqgan_stack enc;   /* has_encoder only, with quant_conv and (gumbel) gumbel_proj */
  dvk_dvae_conv quant_conv, gumbel_proj;
  float *codebook_host;  /* vq encoder: f32 [n_embed, embed_dim] for the nearest-row search; else NULL */
  uint64_t act_floats;   /* floats of each of the 4 scratch buffers (one image, decoder and encoder) */
} dvk_vqgan;

/* Loads the vqgan.* tensors of docs/model-format.md §8.2 for cfg (from dvk_vqgan_config_read), every shape
 * checked, conv weights repacked into the conv2d device layout; the encoder's when cfg->has_encoder.
 * Errors: DVK_ERR_MODEL_FORMAT (message in L->err naming the file and the tensor), DVK_ERR_*. On failure
 * call dvk_vqgan_free. */
dvk_status dvk_vqgan_load(dvk_loader *L, const dvk_vqgan_config *cfg, dvk_vqgan *v);
void dvk_vqgan_free(dvk_vqgan *v);

/* Device bytes dvk_vqgan_decode or dvk_vqgan_encode takes from its arena (any n: one image at a time), an upper
 * bound: the 4 scratch buffers (sized for the decoder and the encoder), the codes and one output image. */
uint64_t dvk_vqgan_scratch_bytes(const dvk_vqgan *v);

/* Decodes n images: codes int32 [n, G, G] (host, each in [0, n_embed)) -> pixels (host, R = G * 2^(L-1)),
 * either rgb: RGB8 [n, R, R, 3] bytes, or planar: f32 [n, 3, R, R] in [0, 1] (pass exactly one, the other
 * NULL). Scratch from arena (dvk_vqgan_scratch_bytes). Blocking. cancel (NULL: none) is checked before each image
 * and after each stage (mid, each level; dvk_check_cancel). Errors: DVK_ERR_INVALID_ARGUMENT (a code out of range,
 * named), DVK_ERR_CANCELLED, DVK_ERR_*. */
dvk_status dvk_vqgan_decode(dvk_device *ctx, dvk_arena *arena, const dvk_vqgan *v, const int32_t *codes, uint32_t n,
                            uint8_t *rgb, float *planar, const volatile int *cancel);

/* Encodes one image: rgb RGB8 [R, R, 3] bytes (byte / 255 = the pixel in [0, 1]) -> codes int32 [G, G] = argmax
 * of the logits (lowest index on ties): vq: minus the squared L2 distance (in double) of the quant_conv output to
 * each codebook row (the nearest row wins); gumbel: gumbel_proj's output. Optional outputs (host, NULL: not
 * wanted): logits f32 [n_embed, G, G], h = the quant_conv output f32 [embed_dim, G, G]. Needs cfg.has_encoder.
 * Scratch from arena. Blocking. Errors: DVK_ERR_INVALID_ARGUMENT (no encoder), DVK_ERR_*. */
dvk_status dvk_vqgan_encode(dvk_device *ctx, dvk_arena *arena, const dvk_vqgan *v, const uint8_t *rgb, int32_t *codes,
                            float *logits, float *h);

#endif
