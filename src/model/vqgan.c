/* VQGAN loading, decoding and encoding. See vqgan.h. */
#include "model/vqgan.h"

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/groupnorm.h"
#include "ops/image.h"
#include "ops/spatial_attn.h"

/* ---- config ---------------------------------------------------------------------------------------------- */

int dvk_vqgan_present(const gguf_file *f) { return gguf_find_key(f, "vqgan.ch") != NULL; }

static dvk_status bad_key(const gguf_file *f, const char *key, const char *why, dvk_error *err) {
  return dvk_error_set(err, DVK_ERR_MODEL_FORMAT, "%s: key '%s' %s", gguf_name(f), key, why);
}

static dvk_status get_nonzero(const gguf_file *f, const char *key, uint32_t *out, dvk_error *err) {
  DVK_TRY(gguf_get_u32(f, key, out, err));
  return *out ? DVK_OK : bad_key(f, key, "must be > 0", err);
}

dvk_status dvk_vqgan_config_read(const gguf_file *f, dvk_vqgan_config *c, dvk_error *err) {
  memset(c, 0, sizeof *c);
  static const struct { const char *key; size_t off; } sizes[] = {
    {"vqgan.ch", offsetof(dvk_vqgan_config, ch)},
    {"vqgan.resolution", offsetof(dvk_vqgan_config, resolution)},
    {"vqgan.z_channels", offsetof(dvk_vqgan_config, z_channels)},
    {"vqgan.embed_dim", offsetof(dvk_vqgan_config, embed_dim)},
    {"vqgan.n_embed", offsetof(dvk_vqgan_config, n_embed)},
    {"vqgan.in_channels", offsetof(dvk_vqgan_config, in_channels)},
    {"vqgan.out_channels", offsetof(dvk_vqgan_config, out_channels)},
    {"vqgan.norm_groups", offsetof(dvk_vqgan_config, norm_groups)},
  };
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
    DVK_TRY(get_nonzero(f, sizes[i].key, (uint32_t *)((char *)c + sizes[i].off), err));
  DVK_TRY(gguf_get_u32(f, "vqgan.num_res_blocks", &c->num_res_blocks, err)); /* 0: the decoder has 1 per level */
  if (c->num_res_blocks > 64) return bad_key(f, "vqgan.num_res_blocks", "must be at most 64", err);
  if (c->in_channels != 3) return bad_key(f, "vqgan.in_channels", "must be 3 (RGB)", err);
  if (c->out_channels != 3) return bad_key(f, "vqgan.out_channels", "must be 3 (RGB)", err);
  const gguf_array *a;
  DVK_TRY(gguf_get_array(f, "vqgan.ch_mult", GGUF_TYPE_UINT32, &a, err));
  if (a->count < 1 || a->count > DVK_VQGAN_MAX_LEVELS)
    return bad_key(f, "vqgan.ch_mult", "must have 1 to 8 entries", err);
  c->n_levels = (uint32_t)a->count;
  for (uint32_t l = 0; l < c->n_levels; l++) {
    c->ch_mult[l] = gguf_arr_u32(a, l);
    uint64_t w = (uint64_t)c->ch * c->ch_mult[l];
    if (!w || w > 65536 || w % c->norm_groups)
      return bad_key(f, "vqgan.ch_mult", "gives a width (ch * ch_mult) that is 0, over 65536 or not a multiple of "
                     "vqgan.norm_groups", err);
  }
  DVK_TRY(gguf_get_array(f, "vqgan.attn_levels", GGUF_TYPE_UINT32, &a, err));
  for (uint64_t i = 0; i < a->count; i++) {
    uint32_t l = gguf_arr_u32(a, i);
    if (l >= c->n_levels) return bad_key(f, "vqgan.attn_levels", "names a level past vqgan.ch_mult", err);
    c->attn_levels |= 1u << l;
  }
  if (c->resolution % (1u << (c->n_levels - 1)))
    return bad_key(f, "vqgan.resolution", "is not a multiple of 2^(levels - 1)", err);
  const gguf_string *q;
  DVK_TRY(gguf_get_string(f, "vqgan.quantizer", &q, err));
  if (strcmp(q->s, "vq") && strcmp(q->s, "gumbel"))
    return bad_key(f, "vqgan.quantizer", "must be \"vq\" or \"gumbel\"", err);
  c->gumbel = !strcmp(q->s, "gumbel");
  DVK_TRY(gguf_get_f32(f, "vqgan.norm_eps", &c->norm_eps, err));
  if (!(c->norm_eps > 0 && c->norm_eps < 1)) return bad_key(f, "vqgan.norm_eps", "must be in (0, 1)", err);
  DVK_TRY(gguf_get_f32(f, "vqgan.output_lo", &c->output_lo, err));
  DVK_TRY(gguf_get_f32(f, "vqgan.output_hi", &c->output_hi, err));
  if (!isfinite(c->output_lo) || !isfinite(c->output_hi) || c->output_lo == c->output_hi)
    return bad_key(f, "vqgan.output_hi", "must be finite and differ from vqgan.output_lo", err);
  bool enc = false;
  if (gguf_find_key(f, "vqgan.has_encoder")) DVK_TRY(gguf_get_bool(f, "vqgan.has_encoder", &enc, err));
  c->has_encoder = enc;
  return DVK_OK;
}

static uint32_t width(const dvk_vqgan_config *c, uint32_t level) { return c->ch * c->ch_mult[level]; }

/* ---- loading --------------------------------------------------------------------------------------------- */

static dvk_status norm_load(dvk_loader *L, const char *prefix, uint32_t ch, dvk_vqgan_norm *n) {
  char name[256];
  snprintf(name, sizeof name, "%s.weight", prefix);
  DVK_TRY(dvk_load_vector(L, name, ch, &n->w));
  snprintf(name, sizeof name, "%s.bias", prefix);
  return dvk_load_vector(L, name, ch, &n->b);
}

static dvk_status conv_load(dvk_loader *L, const char *prefix, uint32_t cin, uint32_t cout, uint32_t k,
                            dvk_dvae_conv *c) {
  char wname[256], bname[256];
  snprintf(wname, sizeof wname, "%s.weight", prefix);
  snprintf(bname, sizeof bname, "%s.bias", prefix);
  return dvk_conv_load_named(L, wname, bname, cin, cout, k, c);
}

static dvk_status out_of_memory(dvk_loader *L) {
  return dvk_error_set(L->err, DVK_ERR_OUT_OF_HOST_MEMORY, "%s: out of host memory loading the VQGAN",
                       gguf_name(L->file));
}

static dvk_status resblock_load(dvk_loader *L, const char *prefix, uint32_t cin, uint32_t cout,
                                dvk_vqgan_resblock *b) {
  char p[160];
  b->cin = cin, b->cout = cout;
  snprintf(p, sizeof p, "%s.norm1", prefix);
  DVK_TRY(norm_load(L, p, cin, &b->norm1));
  snprintf(p, sizeof p, "%s.conv1", prefix);
  DVK_TRY(conv_load(L, p, cin, cout, 3, &b->conv1));
  snprintf(p, sizeof p, "%s.norm2", prefix);
  DVK_TRY(norm_load(L, p, cout, &b->norm2));
  snprintf(p, sizeof p, "%s.conv2", prefix);
  DVK_TRY(conv_load(L, p, cout, cout, 3, &b->conv2));
  if (cin == cout) return DVK_OK;
  snprintf(p, sizeof p, "%s.nin_shortcut", prefix);
  return conv_load(L, p, cin, cout, 1, &b->nin_shortcut);
}

/* q, k, v [c, c, 1, 1] (one dtype) and their biases are concatenated into one c -> 3c conv. */
static dvk_status attn_load(dvk_loader *L, const char *prefix, uint32_t c, dvk_vqgan_attn *a) {
  char p[192];
  a->c = c;
  snprintf(p, sizeof p, "%s.norm", prefix);
  DVK_TRY(norm_load(L, p, c, &a->norm));
  static const char *names[3] = {"q", "k", "v"};
  const gguf_tensor *w[3], *b[3];
  const uint64_t wshape[4] = {c, c, 1, 1}, bshape[1] = {c};
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s.%s.weight", prefix, names[i]);
    DVK_TRY(gguf_require_tensor(L->file, p, 4, wshape, GGUF_ALLOW_FLOAT, &w[i], L->err));
    if (w[i]->type != w[0]->type)
      return dvk_error_set(L->err, DVK_ERR_MODEL_FORMAT, "%s: tensor '%s' has type %s, expected %s like %s.q.weight",
                           gguf_name(L->file), p, gguf_tensor_type_name(w[i]->type),
                           gguf_tensor_type_name(w[0]->type), prefix);
    snprintf(p, sizeof p, "%s.%s.bias", prefix, names[i]);
    DVK_TRY(gguf_require_tensor(L->file, p, 1, bshape, GGUF_ALLOW_F32, &b[i], L->err));
  }
  const uint64_t wbytes = w[0]->nbytes, bbytes = b[0]->nbytes;
  char *host = malloc(3 * (wbytes > bbytes ? wbytes : bbytes));
  if (!host) return out_of_memory(L);
  for (int i = 0; i < 3; i++) memcpy(host + i * wbytes, w[i]->data, wbytes);
  snprintf(p, sizeof p, "%s.q.weight", prefix);
  dvk_status s = dvk_conv_upload(L, p, host, w[0]->type == GGUF_TENSOR_F16, c, 3 * c, 1, &a->qkv);
  for (int i = 0; s == DVK_OK && i < 3; i++) memcpy(host + i * bbytes, b[i]->data, bbytes);
  snprintf(p, sizeof p, "%s.q.bias", prefix);
  if (s == DVK_OK) s = dvk_load_host(L, p, host, 3 * bbytes, &a->qkv.b);
  free(host);
  DVK_TRY(s);
  snprintf(p, sizeof p, "%s.proj_out", prefix);
  return conv_load(L, p, c, c, 1, &a->proj_out);
}

static void grow(uint64_t *max, uint64_t floats) {
  if (floats > *max) *max = floats;
}

/* Scratch an attention level of width c at res x res needs besides the activation: qkv and the scores. */
static void grow_attn(uint64_t *max, uint32_t c, uint32_t res) {
  uint64_t n = (uint64_t)res * res;
  grow(max, 3 * c * n);
  grow(max, n * n);
}

static dvk_status level_resample_load(dvk_loader *L, const char *part, uint32_t l, const char *resample,
                                      dvk_vqgan_level *lv) {
  char p[160];
  lv->has_resample = 1;
  snprintf(p, sizeof p, "vqgan.%s.%u.%s.conv", part, l, resample);
  return conv_load(L, p, lv->width, lv->width, 3, &lv->resample);
}

/* One level: n blocks (cin -> width, then width), attention after each on attention levels, and the resample
 * conv named `resample` (NULL: none). part: "dec.up" or "enc.down". */
static dvk_status level_load(dvk_loader *L, const dvk_vqgan_config *c, const char *part, uint32_t l, uint32_t n,
                             uint32_t cin, const char *resample, dvk_vqgan_level *lv) {
  char p[160];
  lv->width = width(c, l);
  lv->n_blocks = n;
  if (!n) return resample ? level_resample_load(L, part, l, resample, lv) : DVK_OK;
  lv->block = calloc(n, sizeof *lv->block);
  if (!lv->block) return out_of_memory(L);
  if (c->attn_levels >> l & 1) {
    lv->attn = calloc(n, sizeof *lv->attn);
    if (!lv->attn) return out_of_memory(L);
  }
  for (uint32_t j = 0; j < n; j++) {
    snprintf(p, sizeof p, "vqgan.%s.%u.block.%u", part, l, j);
    DVK_TRY(resblock_load(L, p, j ? lv->width : cin, lv->width, &lv->block[j]));
    if (!lv->attn) continue;
    snprintf(p, sizeof p, "vqgan.%s.%u.attn.%u", part, l, j);
    DVK_TRY(attn_load(L, p, lv->width, &lv->attn[j]));
  }
  return resample ? level_resample_load(L, part, l, resample, lv) : DVK_OK;
}

/* mid.block_1, mid.attn_1, mid.block_2 of width c under "vqgan.PART.mid". */
static dvk_status mid_load(dvk_loader *L, const char *part, uint32_t c, dvk_vqgan_stack *s) {
  char p[96];
  snprintf(p, sizeof p, "vqgan.%s.mid.block_1", part);
  DVK_TRY(resblock_load(L, p, c, c, &s->mid_block_1));
  snprintf(p, sizeof p, "vqgan.%s.mid.attn_1", part);
  DVK_TRY(attn_load(L, p, c, &s->mid_attn));
  snprintf(p, sizeof p, "vqgan.%s.mid.block_2", part);
  return resblock_load(L, p, c, c, &s->mid_block_2);
}

static dvk_status decoder_load(dvk_loader *L, dvk_vqgan *v) {
  const dvk_vqgan_config *c = &v->cfg;
  dvk_vqgan_stack *s = &v->dec;
  const uint32_t top = width(c, c->n_levels - 1);
  uint32_t res = v->grid;
  DVK_TRY(conv_load(L, "vqgan.dec.conv_in", c->z_channels, top, 3, &s->conv_in));
  DVK_TRY(mid_load(L, "dec", top, s));
  grow(&v->act_floats, (uint64_t)c->embed_dim * res * res);
  grow(&v->act_floats, (uint64_t)c->z_channels * res * res);
  grow(&v->act_floats, (uint64_t)top * res * res);
  grow_attn(&v->act_floats, top, res);
  uint32_t cin = top;
  for (uint32_t l = c->n_levels; l-- > 0;) {
    DVK_TRY(level_load(L, c, "dec.up", l, c->num_res_blocks + 1, cin, l ? "upsample" : NULL, &s->level[l]));
    cin = width(c, l);
    grow(&v->act_floats, (uint64_t)cin * res * res);
    if (c->attn_levels >> l & 1) grow_attn(&v->act_floats, cin, res);
    if (l) res *= 2;
    grow(&v->act_floats, (uint64_t)cin * res * res); /* upsampled */
  }
  DVK_TRY(norm_load(L, "vqgan.dec.norm_out", cin, &s->norm_out));
  return conv_load(L, "vqgan.dec.conv_out", cin, c->out_channels, 3, &s->conv_out);
}

/* IEEE half bits -> float (exact). */
static float half_to_float(uint16_t h) {
  int e = h >> 10 & 31;
  float m = (float)(h & 1023);
  float v = e == 0 ? ldexpf(m, -24) : e == 31 ? (m != 0 ? NAN : INFINITY) : ldexpf(m + 1024, e - 25);
  return h & 0x8000 ? -v : v;
}

static dvk_status encoder_load(dvk_loader *L, dvk_vqgan *v) {
  const dvk_vqgan_config *c = &v->cfg;
  dvk_vqgan_stack *s = &v->enc;
  uint32_t res = c->resolution, cin = c->ch;
  DVK_TRY(conv_load(L, "vqgan.enc.conv_in", c->in_channels, c->ch, 3, &s->conv_in));
  grow(&v->act_floats, (uint64_t)c->in_channels * res * res);
  grow(&v->act_floats, (uint64_t)c->ch * res * res);
  for (uint32_t l = 0; l < c->n_levels; l++) {
    int down = l + 1 < c->n_levels;
    DVK_TRY(level_load(L, c, "enc.down", l, c->num_res_blocks, cin, down ? "downsample" : NULL, &s->level[l]));
    cin = width(c, l);
    grow(&v->act_floats, (uint64_t)cin * res * res);
    if (c->attn_levels >> l & 1) grow_attn(&v->act_floats, cin, res);
    if (down) res /= 2;
  }
  DVK_TRY(mid_load(L, "enc", cin, s));
  grow_attn(&v->act_floats, cin, res);
  DVK_TRY(norm_load(L, "vqgan.enc.norm_out", cin, &s->norm_out));
  DVK_TRY(conv_load(L, "vqgan.enc.conv_out", cin, c->z_channels, 3, &s->conv_out));
  DVK_TRY(conv_load(L, "vqgan.quant_conv", c->z_channels, c->embed_dim, 1, &v->quant_conv));
  if (c->gumbel) {
    DVK_TRY(conv_load(L, "vqgan.gumbel_proj", c->embed_dim, c->n_embed, 1, &v->gumbel_proj));
    grow(&v->act_floats, (uint64_t)c->n_embed * res * res);
    return DVK_OK;
  }
  /* the vq search reads the codebook on the host, in f32 */
  const gguf_tensor *t = gguf_find_tensor(L->file, "vqgan.codebook"); /* checked by the decoder's load */
  v->codebook_host = malloc((size_t)c->n_embed * c->embed_dim * sizeof *v->codebook_host);
  if (!v->codebook_host) return out_of_memory(L);
  for (uint64_t i = 0; i < (uint64_t)c->n_embed * c->embed_dim; i++)
    v->codebook_host[i] = t->type == GGUF_TENSOR_F16 ? half_to_float(((const uint16_t *)t->data)[i])
                                                    : ((const float *)t->data)[i];
  return DVK_OK;
}

dvk_status dvk_vqgan_load(dvk_loader *L, const dvk_vqgan_config *cfg, dvk_vqgan *v) {
  memset(v, 0, sizeof *v);
  v->cfg = *cfg;
  v->grid = cfg->resolution >> (cfg->n_levels - 1);
  const uint64_t cb_shape[2] = {cfg->n_embed, cfg->embed_dim};
  DVK_TRY(dvk_load_raw(L, "vqgan.codebook", 2, cb_shape, &v->codebook, &v->codebook_f16));
  float *zeros = calloc(cfg->embed_dim, sizeof *zeros);
  if (!zeros) return out_of_memory(L);
  dvk_status s = dvk_load_host(L, "vqgan.codebook (zero bias)", zeros, (uint64_t)cfg->embed_dim * 4, &v->zero_bias);
  free(zeros);
  DVK_TRY(s);
  DVK_TRY(conv_load(L, "vqgan.post_quant_conv", cfg->embed_dim, cfg->z_channels, 1, &v->post_quant_conv));
  DVK_TRY(decoder_load(L, v));
  if (cfg->has_encoder) DVK_TRY(encoder_load(L, v));
  return DVK_OK;
}

static void stack_free(dvk_vqgan_stack *s) {
  for (int l = 0; l < DVK_VQGAN_MAX_LEVELS; l++) {
    free(s->level[l].block);
    free(s->level[l].attn);
    s->level[l].block = NULL, s->level[l].attn = NULL;
  }
}

void dvk_vqgan_free(dvk_vqgan *v) {
  stack_free(&v->dec);
  stack_free(&v->enc);
  free(v->codebook_host);
  v->codebook_host = NULL;
}

uint64_t dvk_vqgan_scratch_bytes(const dvk_vqgan *v) {
  uint64_t R = (uint64_t)v->grid << (v->cfg.n_levels - 1), align = 256;
  uint64_t parts[3] = {v->act_floats * 4, (uint64_t)v->grid * v->grid * 4, R * R * 3 * 4};
  uint64_t total = 0;
  for (int i = 0; i < 3; i++) total += ((i ? parts[i] : 4 * parts[i]) + align - 1) / align * align;
  return total;
}

/* ---- running --------------------------------------------------------------------------------------------- */

/* The 4 scratch buffers of one image and the current resolution. x holds the activation between blocks. */
typedef struct run_bufs {
  dvk_tensor x, y, h, t;
} run_bufs;

static void swap(dvk_tensor *a, dvk_tensor *b) {
  dvk_tensor t = *a;
  *a = *b;
  *b = t;
}

static dvk_status conv(dvk_device *ctx, const dvk_dvae_conv *c, uint32_t res, dvk_tensor y, dvk_tensor x,
                       const dvk_tensor *residual) {
  return dvk_dvae_conv_run(ctx, c, res, 0, 1.0f, y, x, residual);
}

static dvk_status norm(dvk_device *ctx, const dvk_vqgan_config *c, const dvk_vqgan_norm *n, uint32_t ch, uint32_t res,
                       dvk_tensor y, dvk_tensor x, int swish) {
  return dvk_op_groupnorm(ctx, y, x, n->w, n->b, 1, ch, res * res, c->norm_groups, c->norm_eps, swish);
}

/* x <- skip(x) + conv2(swish(norm2(conv1(swish(norm1(x)))))); skip = nin_shortcut or identity. */
static dvk_status resblock_run(dvk_device *ctx, const dvk_vqgan_config *c, const dvk_vqgan_resblock *b, uint32_t res,
                               run_bufs *B) {
  DVK_TRY(norm(ctx, c, &b->norm1, b->cin, res, B->t, B->x, 1));
  DVK_TRY(conv(ctx, &b->conv1, res, B->h, B->t, NULL));
  DVK_TRY(norm(ctx, c, &b->norm2, b->cout, res, B->t, B->h, 1));
  if (b->cin == b->cout) return conv(ctx, &b->conv2, res, B->x, B->t, &B->x);
  DVK_TRY(conv(ctx, &b->nin_shortcut, res, B->y, B->x, NULL));
  DVK_TRY(conv(ctx, &b->conv2, res, B->y, B->t, &B->y));
  swap(&B->x, &B->y);
  return DVK_OK;
}

/* x <- x + proj_out(attention(q, k, v of norm(x))). */
static dvk_status attn_run(dvk_device *ctx, const dvk_vqgan_config *c, const dvk_vqgan_attn *a, uint32_t res,
                           run_bufs *B) {
  DVK_TRY(norm(ctx, c, &a->norm, a->c, res, B->t, B->x, 0));
  DVK_TRY(conv(ctx, &a->qkv, res, B->h, B->t, NULL));
  DVK_TRY(dvk_op_spatial_attention(ctx, B->t, B->h, B->y, a->c, res * res));
  return conv(ctx, &a->proj_out, res, B->x, B->t, &B->x);
}

static dvk_status level_blocks(dvk_device *ctx, const dvk_vqgan_config *c, const dvk_vqgan_level *lv, uint32_t res,
                               run_bufs *B) {
  for (uint32_t j = 0; j < lv->n_blocks; j++) {
    DVK_TRY(resblock_run(ctx, c, &lv->block[j], res, B));
    if (lv->attn) DVK_TRY(attn_run(ctx, c, &lv->attn[j], res, B));
  }
  return DVK_OK;
}

static dvk_status mid_run(dvk_device *ctx, const dvk_vqgan_config *c, const dvk_vqgan_stack *s, uint32_t res,
                          run_bufs *B) {
  DVK_TRY(resblock_run(ctx, c, &s->mid_block_1, res, B));
  DVK_TRY(attn_run(ctx, c, &s->mid_attn, res, B));
  return resblock_run(ctx, c, &s->mid_block_2, res, B);
}

/* One image: codes (device) [G, G] -> out (device): RGB8 [R, R, 3] or planar f32 [3, R, R]. */
static dvk_status decode_one(dvk_device *ctx, const dvk_vqgan *v, dvk_tensor codes, run_bufs B, dvk_tensor out,
                             int planar, const volatile int *cancel) {
  const dvk_vqgan_config *c = &v->cfg;
  const dvk_vqgan_stack *s = &v->dec;
  uint32_t res = v->grid;
  DVK_TRY(dvk_op_dvae_gather(ctx, B.y, codes, v->codebook, v->zero_bias, 1, res, c->n_embed, c->embed_dim,
                             v->codebook_f16));
  DVK_TRY(conv(ctx, &v->post_quant_conv, res, B.h, B.y, NULL));
  DVK_TRY(conv(ctx, &s->conv_in, res, B.x, B.h, NULL));
  DVK_TRY(mid_run(ctx, c, s, res, &B));
  for (uint32_t l = c->n_levels; l-- > 0;) {
    const dvk_vqgan_level *lv = &s->level[l];
    DVK_TRY(dvk_check_cancel(ctx, cancel));
    DVK_TRY(level_blocks(ctx, c, lv, res, &B));
    if (!lv->has_resample) continue;
    DVK_TRY(dvk_op_upsample2x(ctx, B.y, B.x, lv->width, res, res));
    res *= 2;
    DVK_TRY(conv(ctx, &lv->resample, res, B.x, B.y, NULL));
  }
  DVK_TRY(norm(ctx, c, &s->norm_out, s->level[0].width, res, B.t, B.x, 1));
  DVK_TRY(conv(ctx, &s->conv_out, res, B.h, B.t, NULL));
  return dvk_op_linear_map(ctx, !planar, out, B.h, 1, c->out_channels, res, res, c->output_lo, c->output_hi);
}

static dvk_status alloc_bufs(dvk_arena *arena, const dvk_vqgan *v, run_bufs *B) {
  DVK_TRY(dvk_arena_alloc(arena, v->act_floats * 4, &B->x));
  DVK_TRY(dvk_arena_alloc(arena, v->act_floats * 4, &B->y));
  DVK_TRY(dvk_arena_alloc(arena, v->act_floats * 4, &B->h));
  return dvk_arena_alloc(arena, v->act_floats * 4, &B->t);
}

dvk_status dvk_vqgan_decode(dvk_device *ctx, dvk_arena *arena, const dvk_vqgan *v, const int32_t *codes, uint32_t n,
                            uint8_t *rgb, float *planar, const volatile int *cancel) {
  const uint32_t G = v->grid, R = G << (v->cfg.n_levels - 1);
  for (uint64_t i = 0; i < (uint64_t)n * G * G; i++)
    if (codes[i] < 0 || (uint32_t)codes[i] >= v->cfg.n_embed)
      return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "VQGAN decode: code %d (image %llu, cell %llu) is outside "
                      "[0, %u)", codes[i], (unsigned long long)(i / ((uint64_t)G * G)),
                      (unsigned long long)(i % ((uint64_t)G * G)), v->cfg.n_embed);
  const VkDeviceSize img_bytes = (VkDeviceSize)R * R * 3 * (planar ? 4 : 1);
  run_bufs B;
  dvk_tensor dcodes, out;
  DVK_TRY(alloc_bufs(arena, v, &B));
  DVK_TRY(dvk_arena_alloc(arena, (VkDeviceSize)G * G * 4, &dcodes));
  DVK_TRY(dvk_arena_alloc(arena, (img_bytes + 3) & ~(VkDeviceSize)3, &out));
  for (uint32_t i = 0; i < n; i++) {
    DVK_TRY(dvk_check_cancel(ctx, cancel));
    DVK_TRY(dvk_upload(ctx, dcodes, codes + (size_t)i * G * G, (VkDeviceSize)G * G * 4));
    DVK_TRY(decode_one(ctx, v, dcodes, B, out, planar != NULL, cancel));
    void *dst = planar ? (void *)((char *)planar + (size_t)i * img_bytes) : (void *)(rgb + (size_t)i * img_bytes);
    DVK_TRY(dvk_download(ctx, dst, out, img_bytes));
  }
  return DVK_OK;
}

/* One image: B.x = the mapped pixels f32 [3, R, R] -> B.x = quant_conv output [embed_dim, G, G]; with the
 * Gumbel quantizer B.h = the logits [n_embed, G, G]. */
static dvk_status encode_one(dvk_device *ctx, const dvk_vqgan *v, run_bufs *B) {
  const dvk_vqgan_config *c = &v->cfg;
  const dvk_vqgan_stack *s = &v->enc;
  uint32_t res = c->resolution;
  DVK_TRY(conv(ctx, &s->conv_in, res, B->y, B->x, NULL));
  swap(&B->x, &B->y);
  for (uint32_t l = 0; l < c->n_levels; l++) {
    const dvk_vqgan_level *lv = &s->level[l];
    DVK_TRY(level_blocks(ctx, c, lv, res, B));
    if (!lv->has_resample) continue;
    /* stride-2 conv after zero padding right/bottom = stride-1 "same" conv read at odd pixels */
    DVK_TRY(conv(ctx, &lv->resample, res, B->y, B->x, NULL));
    DVK_TRY(dvk_op_subsample2x(ctx, B->x, B->y, lv->width, res, res));
    res /= 2;
  }
  DVK_TRY(mid_run(ctx, c, s, res, B));
  DVK_TRY(norm(ctx, c, &s->norm_out, s->level[c->n_levels - 1].width, res, B->t, B->x, 1));
  DVK_TRY(conv(ctx, &s->conv_out, res, B->h, B->t, NULL));
  DVK_TRY(conv(ctx, &v->quant_conv, res, B->x, B->h, NULL));
  return c->gumbel ? conv(ctx, &v->gumbel_proj, res, B->h, B->x, NULL) : DVK_OK;
}

/* codes[p] = argmin_e ||h[:, p] - codebook[e]||^2 (vq), h f32 [d, cells]; logits (may be NULL) [n_embed, cells]
 * = minus those squared distances. */
static void nearest_rows(const dvk_vqgan *v, const float *h, uint64_t cells, int32_t *codes, float *logits) {
  const uint32_t d = v->cfg.embed_dim;
  for (uint64_t p = 0; p < cells; p++) {
    double best = DBL_MAX;
    for (uint32_t e = 0; e < v->cfg.n_embed; e++) {
      const float *row = v->codebook_host + (size_t)e * d;
      double dist = 0;
      for (uint32_t k = 0; k < d; k++) {
        double diff = (double)h[k * cells + p] - row[k];
        dist += diff * diff;
      }
      if (dist < best) best = dist, codes[p] = (int32_t)e;
      if (logits) logits[e * cells + p] = (float)-dist;
    }
  }
}

dvk_status dvk_vqgan_encode(dvk_device *ctx, dvk_arena *arena, const dvk_vqgan *v, const uint8_t *rgb, int32_t *codes,
                            float *logits, float *h) {
  const dvk_vqgan_config *c = &v->cfg;
  if (!c->has_encoder) return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "VQGAN encode: the model file has no encoder");
  const uint64_t R = c->resolution, px = R * R, cells = (uint64_t)v->grid * v->grid;
  const uint64_t out_floats = (uint64_t)(c->gumbel ? c->n_embed : c->embed_dim) * cells;
  float *host = malloc((px * 3 > out_floats ? px * 3 : out_floats) * sizeof *host);
  if (!host) return dvk_fail(ctx, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory encoding an image");
  const float scale = c->output_hi - c->output_lo;
  for (uint64_t p = 0; p < px; p++) /* RGB8 interleaved -> planar [3, R, R] in [lo, hi] */
    for (uint32_t ch = 0; ch < 3; ch++) host[ch * px + p] = (float)rgb[p * 3 + ch] / 255.0f * scale + c->output_lo;
  run_bufs B;
  dvk_status s = alloc_bufs(arena, v, &B);
  if (s == DVK_OK) s = dvk_upload(ctx, B.x, host, px * 3 * sizeof *host);
  if (s == DVK_OK) s = encode_one(ctx, v, &B);
  if (s == DVK_OK && (h || !c->gumbel))
    s = dvk_download(ctx, host, B.x, (VkDeviceSize)c->embed_dim * cells * sizeof *host);
  if (s == DVK_OK && h) memcpy(h, host, (size_t)c->embed_dim * cells * sizeof *host);
  if (s == DVK_OK && !c->gumbel) nearest_rows(v, host, cells, codes, logits);
  if (s == DVK_OK && c->gumbel) s = dvk_download(ctx, host, B.h, out_floats * sizeof *host);
  for (uint64_t p = 0; s == DVK_OK && c->gumbel && p < cells; p++) {
    uint32_t best = 0;
    for (uint32_t e = 1; e < c->n_embed; e++)
      if (host[e * cells + p] > host[best * cells + p]) best = e;
    codes[p] = (int32_t)best;
  }
  if (s == DVK_OK && c->gumbel && logits) memcpy(logits, host, out_floats * sizeof *host);
  free(host);
  return s;
}
