/* Hyperparameters from GGUF metadata. See config.h. */
#include "model/config.h"

#include <stdio.h>
#include <string.h>

#include "model/vqgan.h"

#define GET_U32(key, dst) DVK_TRY(gguf_get_u32(f, key, dst, err))

static dvk_status bad(const gguf_file *f, dvk_error *err, const char *what) {
  dvk_error_note(err, "%s: %s", gguf_name(f), what);
  return DVK_ERR_MODEL_FORMAT;
}

/* An optional f32 key: *dst = dflt when absent, else its value, which must lie in (0, hi]. */
static dvk_status optional_f32(const gguf_file *f, const char *key, float dflt, float hi, float *dst, dvk_error *err) {
  *dst = dflt;
  if (!gguf_find_key(f, key)) return DVK_OK;
  DVK_TRY(gguf_get_f32(f, key, dst, err));
  if (*dst > 0 && *dst <= hi) return DVK_OK;
  dvk_error_note(err, "%s: %s must be in (0, %g]", gguf_name(f), key, (double)hi);
  return DVK_ERR_MODEL_FORMAT;
}

static dvk_status read_attn_types(const gguf_file *f, dvk_dalle_config *d, dvk_error *err) {
  const gguf_array *a;
  DVK_TRY(gguf_get_array(f, "dalle.attn_types", GGUF_TYPE_STRING, &a, err));
  if (a->count != d->n_layers) return bad(f, err, "dalle.attn_types must have one entry per layer");
  for (uint32_t l = 0; l < d->n_layers; l++) {
    const char *s = gguf_arr_str(a, l)->s;
    if (strcmp(s, "full") == 0) d->attn_types[l] = DVK_MASK_FULL;
    else if (strcmp(s, "row") == 0) d->attn_types[l] = DVK_MASK_ROW;
    else if (strcmp(s, "col") == 0) d->attn_types[l] = DVK_MASK_COL;
    else if (strcmp(s, "conv") == 0) d->attn_types[l] = DVK_MASK_CONV;
    else {
      char msg[160];
      snprintf(msg, sizeof msg, "dalle.attn_types[%u] is '%.40s', expected full, row, col or conv", l, s);
      return bad(f, err, msg);
    }
  }
  return DVK_OK;
}

/* dalle.layout and the keys only an encoder-decoder file has (docs/model-format.md §9.1). */
static dvk_status read_layout(const gguf_file *f, dvk_dalle_config *d, dvk_error *err) {
  d->layout = DVK_LAYOUT_DECODER;
  /* the tokenizer pads with dalle.text_pad_id when present, which only an encoder-decoder's text tables hold */
  const int pad_id = gguf_find_key(f, "dalle.text_pad_id") != NULL;
  const gguf_string *s = NULL;
  if (gguf_find_key(f, "dalle.layout")) DVK_TRY(gguf_get_string(f, "dalle.layout", &s, err));
  if (!s || strcmp(s->s, "decoder-only") == 0)
    return pad_id ? bad(f, err, "dalle.text_pad_id is only for dalle.layout \"encoder-decoder\" (decoder-only "
                                "files pad position j with text_vocab + j)")
                  : DVK_OK;
  if (strcmp(s->s, "encoder-decoder") != 0) {
    dvk_error_note(err, "%s: dalle.layout must be \"decoder-only\" or \"encoder-decoder\" (got \"%.32s\")",
                   gguf_name(f), s->s);
    return DVK_ERR_MODEL_FORMAT;
  }
  d->layout = DVK_LAYOUT_ENCODER_DECODER;
  GET_U32("dalle.enc_layers", &d->enc_layers);
  GET_U32("dalle.text_pad_id", &d->text_pad_id);
  if (d->enc_layers == 0 || d->enc_layers > DVK_MAX_LAYERS) return bad(f, err, "dalle.enc_layers must be 1..256");
  if (d->text_pad_id >= d->text_vocab) return bad(f, err, "dalle.text_pad_id must be below dalle.text_vocab");
  return DVK_OK;
}

/* The recommended decoding (optional): dalle.decoding "sample" | "beam", dalle.beam_width, dalle.beam_sampled_rows. */
static dvk_status read_decoding(const gguf_file *f, dvk_dalle_config *d, dvk_error *err) {
  if (gguf_find_key(f, "dalle.decoding")) {
    const gguf_string *s;
    DVK_TRY(gguf_get_string(f, "dalle.decoding", &s, err));
    if (strcmp(s->s, "sample") && strcmp(s->s, "beam")) return bad(f, err, "dalle.decoding must be \"sample\" or \"beam\"");
    d->beam_search = strcmp(s->s, "beam") == 0;
  }
  if (gguf_find_key(f, "dalle.beam_width")) {
    GET_U32("dalle.beam_width", &d->beam_width);
    if (d->beam_width < 1 || d->beam_width > d->image_vocab || d->beam_width > DVK_MAX_CANDIDATES)
      return bad(f, err, "dalle.beam_width must be 1..dalle.image_vocab (and at most 4096)");
  }
  if (gguf_find_key(f, "dalle.beam_sampled_rows")) {
    GET_U32("dalle.beam_sampled_rows", &d->beam_sampled_rows);
    if (d->beam_sampled_rows >= d->grid) return bad(f, err, "dalle.beam_sampled_rows must be below dalle.grid");
  }
  return DVK_OK;
}

static void copy_string(const gguf_file *f, const char *key, char *dst, size_t len, const char *fallback) {
  const gguf_kv *kv = gguf_find_key(f, key);
  snprintf(dst, len, "%s", kv && kv->type == GGUF_TYPE_STRING ? kv->v.str.s : fallback);
}

/* clip.* (optional): sizes of the reranker's two towers. */
static dvk_status read_reranker(const gguf_file *f, uint32_t grid, dvk_reranker_config *c, dvk_error *err) {
  if (!gguf_find_key(f, "clip.d_model")) return DVK_OK;
  c->present = 1;
  GET_U32("clip.d_model", &c->d_model);
  GET_U32("clip.n_heads", &c->n_heads);
  GET_U32("clip.d_ff", &c->d_ff);
  GET_U32("clip.text_layers", &c->text_layers);
  GET_U32("clip.image_layers", &c->image_layers);
  GET_U32("clip.d_embed", &c->d_embed);
  DVK_TRY(gguf_get_f32(f, "clip.ln_eps", &c->ln_eps, err));
  DVK_TRY(gguf_get_f32(f, "clip.logit_scale", &c->logit_scale, err));
  if (!c->d_model || !c->n_heads || !c->d_ff || !c->d_embed || c->d_model > 65536 || c->d_ff > 262144 ||
      c->d_embed > 65536)
    return bad(f, err, "a clip.* size is zero or implausibly large");
  if (c->text_layers < 1 || c->text_layers > DVK_MAX_LAYERS || c->image_layers < 1 || c->image_layers > DVK_MAX_LAYERS)
    return bad(f, err, "clip.text_layers and clip.image_layers must be 1..256");
  if (c->d_model % c->n_heads || (c->d_model / c->n_heads) % 4 || c->d_model / c->n_heads > 256)
    return bad(f, err, "clip.d_model / clip.n_heads must be a whole multiple of 4, at most 256");
  if (!(c->ln_eps > 0 && c->ln_eps < 1)) return bad(f, err, "clip.ln_eps must be in (0, 1)");
  if (!(c->logit_scale > 0 && c->logit_scale <= 1000)) return bad(f, err, "clip.logit_scale must be in (0, 1000]");
  if (gguf_find_key(f, "clip.prune_rows")) { /* optional: bit r = prune after image row r, rows 0 .. grid-2 */
    DVK_TRY(gguf_get_u64(f, "clip.prune_rows", &c->prune_rows, err));
    if (!dvk_prune_rows_fit(c->prune_rows, grid))
      return bad(f, err, "clip.prune_rows names a row past grid - 2 (bit r: prune after image row r)");
  }
  if (gguf_find_key(f, "clip.candidates")) { /* optional: candidates sampled by default */
    GET_U32("clip.candidates", &c->candidates);
    if (c->candidates < 1 || c->candidates > DVK_MAX_CANDIDATES)
      return bad(f, err, "clip.candidates must be 1..4096");
  }
  return DVK_OK;
}

dvk_status dvk_config_read(const gguf_file *f, dvk_model_config *cfg, dvk_error *err) {
  memset(cfg, 0, sizeof *cfg);
  const gguf_string *arch;
  DVK_TRY(gguf_get_string(f, "general.architecture", &arch, err));
  if (strcmp(arch->s, "dalle") != 0) return bad(f, err, "general.architecture is not \"dalle\"");
  copy_string(f, "general.name", cfg->name, sizeof cfg->name, "unnamed");
  copy_string(f, "general.license", cfg->license, sizeof cfg->license, "unknown");

  dvk_dalle_config *d = &cfg->dalle;
  GET_U32("dalle.text_len", &d->text_len);
  GET_U32("dalle.text_vocab", &d->text_vocab);
  GET_U32("dalle.grid", &d->grid);
  GET_U32("dalle.image_vocab", &d->image_vocab);
  GET_U32("dalle.d_model", &d->d_model);
  GET_U32("dalle.n_heads", &d->n_heads);
  GET_U32("dalle.n_layers", &d->n_layers);
  GET_U32("dalle.d_ff", &d->d_ff);
  DVK_TRY(gguf_get_f32(f, "dalle.ln_eps", &d->ln_eps, err));
  DVK_TRY(read_layout(f, d, err));
  if (d->layout == DVK_LAYOUT_DECODER) {
    GET_U32("dalle.conv_kernel", &d->conv_kernel);
    bool wrap;
    DVK_TRY(gguf_get_bool(f, "dalle.conv_wrap", &wrap, err));
    d->conv_wrap = wrap;
  } else d->conv_kernel = 1; /* full attention only: no conv masks */
  if (!d->text_len || !d->text_vocab || !d->grid || !d->image_vocab || !d->d_model || !d->n_heads || !d->d_ff)
    return bad(f, err, "a dalle.* size is zero");
  if (d->n_layers == 0 || d->n_layers > DVK_MAX_LAYERS) return bad(f, err, "dalle.n_layers must be 1..256");
  if (d->text_len > 4096 || d->grid > 256 || d->d_model > 65536 || d->d_ff > 262144 || d->image_vocab > (1u << 24) ||
      d->text_vocab > (1u << 24))
    return bad(f, err, "a dalle.* size is implausibly large");
  if (d->d_model % d->n_heads) return bad(f, err, "dalle.d_model is not a multiple of dalle.n_heads");
  uint32_t dh = d->d_model / d->n_heads;
  if (dh % 4 || dh > 256) return bad(f, err, "d_head (d_model / n_heads) must be a multiple of 4 and <= 256");
  if (d->conv_kernel % 2 == 0) return bad(f, err, "dalle.conv_kernel must be odd");
  if (!(d->ln_eps > 0 && d->ln_eps < 1)) return bad(f, err, "dalle.ln_eps must be in (0, 1)");
  if (d->layout == DVK_LAYOUT_DECODER) DVK_TRY(read_attn_types(f, d, err));
  else
    for (uint32_t l = 0; l < d->n_layers; l++) d->attn_types[l] = DVK_MASK_FULL; /* the decoder is plain causal */
  DVK_TRY(dvk_dalle_options_read(f, d, err));
  /* recommended sampling settings (optional; absent = 1, i.e. plain sampling without guidance) */
  DVK_TRY(optional_f32(f, "dalle.cond_scale", 1.0f, 100.0f, &d->cond_scale, err));
  DVK_TRY(optional_f32(f, "dalle.temperature", 1.0f, 100.0f, &d->temperature, err));
  DVK_TRY(optional_f32(f, "dalle.top_p", 1.0f, 1.0f, &d->top_p, err));
  if (gguf_find_key(f, "dalle.top_k")) {
    GET_U32("dalle.top_k", &d->top_k);
    if (d->top_k < 1 || d->top_k > d->image_vocab) {
      dvk_error_note(err, "%s: dalle.top_k must be in 1..dalle.image_vocab (%u), got %u", gguf_name(f), d->image_vocab,
                     d->top_k);
      return DVK_ERR_MODEL_FORMAT;
    }
  }

  DVK_TRY(read_decoding(f, d, err));

  cfg->has_vqgan = dvk_vqgan_present(f);
  if (cfg->has_vqgan) { /* the image decoder is the VQGAN: the dvae.* keys are not read */
    const dvk_vqgan_config *q = &cfg->vqgan;
    DVK_TRY(dvk_vqgan_config_read(f, &cfg->vqgan, err));
    if (q->n_embed != d->image_vocab) return bad(f, err, "vqgan.n_embed differs from dalle.image_vocab");
    if (q->resolution != d->grid << (q->n_levels - 1))
      return bad(f, err, "vqgan.resolution is not dalle.grid * 2^(levels - 1), levels = the entries of vqgan.ch_mult");
    return read_reranker(f, d->grid, &cfg->reranker, err);
  }
  dvk_dvae_config *v = &cfg->dvae;
  GET_U32("dvae.group_count", &v->group_count);
  GET_U32("dvae.n_hid", &v->n_hid);
  GET_U32("dvae.n_blk_per_group", &v->n_blk_per_group);
  GET_U32("dvae.vocab_size", &v->vocab_size);
  GET_U32("dvae.n_init", &v->n_init);
  GET_U32("dvae.output_channels", &v->output_channels);
  GET_U32("dvae.image_size", &v->image_size);
  if (v->group_count < 1 || v->group_count > 8 || !v->n_hid || v->n_hid > 4096 || !v->n_blk_per_group ||
      v->n_blk_per_group > 16 || !v->n_init || v->n_init > 65536)
    return bad(f, err, "a dvae.* size is zero or implausibly large");
  if (v->output_channels != 3) return bad(f, err, "dvae.output_channels must be 3 (RGB)");
  if (v->vocab_size != d->image_vocab) return bad(f, err, "dvae.vocab_size differs from dalle.image_vocab");
  if (v->image_size != d->grid << (v->group_count - 1))
    return bad(f, err, "dvae.image_size is not dalle.grid * 2^(dvae.group_count - 1)");
  if ((v->n_hid << (v->group_count - 1)) % 4 || v->n_hid % 4)
    return bad(f, err, "dvae.n_hid must be a multiple of 4");
  v->has_encoder = 0;
  v->input_channels = 0;
  if (gguf_find_key(f, "dvae.has_encoder")) {
    bool enc = false;
    DVK_TRY(gguf_get_bool(f, "dvae.has_encoder", &enc, err));
    v->has_encoder = enc;
  }
  if (v->has_encoder) {
    GET_U32("dvae.input_channels", &v->input_channels);
    if (v->input_channels != 3) return bad(f, err, "dvae.input_channels must be 3 (RGB)");
  }
  return read_reranker(f, d->grid, &cfg->reranker, err);
}
