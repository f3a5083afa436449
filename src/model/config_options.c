/* The transformer's architecture options (docs/model-format.md §2). See config.h. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "model/config.h"

static dvk_status bad_value(const gguf_file *f, const char *key, const char *want, dvk_error *err) {
  dvk_error_note(err, "%s: %s must be %s", gguf_name(f), key, want);
  return DVK_ERR_MODEL_FORMAT;
}

/* A string key with one of n names: *out = its index, or dflt when absent. */
static dvk_status read_choice(const gguf_file *f, const char *key, const char *const *names, int n, int dflt, int *out,
                              dvk_error *err) {
  *out = dflt;
  if (!gguf_find_key(f, key)) return DVK_OK;
  const gguf_string *s;
  DVK_TRY(gguf_get_string(f, key, &s, err));
  for (int i = 0; i < n; i++)
    if (strcmp(s->s, names[i]) == 0) return (*out = i), DVK_OK;
  char want[96];
  snprintf(want, sizeof want, "\"%s\" or \"%s\" (got \"%.32s\")", names[0], names[1], s->s);
  return bad_value(f, key, want, err);
}

dvk_status dvk_dalle_options_read(const gguf_file *f, dvk_dalle_config *d, dvk_error *err) {
  static const char *const pos_names[] = {"axial", "linear"}, *const norm_names[] = {"pre", "sandwich"},
                           *const gelu_names[] = {"erf", "tanh"}, *const mlp_names[] = {"fc", "glu"};
  bool start = true;
  if (gguf_find_key(f, "dalle.image_start")) DVK_TRY(gguf_get_bool(f, "dalle.image_start", &start, err));
  d->image_start = start;
  int v;
  DVK_TRY(read_choice(f, "dalle.image_pos", pos_names, 2, DVK_IMAGE_POS_AXIAL, &v, err));
  d->image_pos = (dvk_image_pos)v;
  DVK_TRY(read_choice(f, "dalle.norm", norm_names, 2, DVK_NORM_PRE, &v, err));
  d->norm = (dvk_norm_place)v;
  DVK_TRY(read_choice(f, "dalle.gelu", gelu_names, 2, DVK_GELU_ERF, &v, err));
  d->gelu = (dvk_gelu)v;
  DVK_TRY(read_choice(f, "dalle.mlp", mlp_names, 2, DVK_MLP_FC, &v, err));
  d->mlp = (dvk_mlp_kind)v;
  /* the GLU comes with the encoder-decoder blocks (docs/model-format.md §9.2), and they only with it */
  if ((d->layout == DVK_LAYOUT_ENCODER_DECODER) != (d->mlp == DVK_MLP_GLU) ||
      (d->layout == DVK_LAYOUT_ENCODER_DECODER && d->norm != DVK_NORM_PRE))
    return bad_value(f, "dalle.mlp",
                     "\"glu\" in an encoder-decoder file (with dalle.norm absent) and absent or \"fc\" otherwise", err);
  d->final_norms = 1;
  if (gguf_find_key(f, "dalle.final_norms")) {
    DVK_TRY(gguf_get_u32(f, "dalle.final_norms", &d->final_norms, err));
    if (d->final_norms != 1 && d->final_norms != 2) return bad_value(f, "dalle.final_norms", "1 or 2", err);
  }
  d->attn_out_clamp = 0;
  if (gguf_find_key(f, "dalle.attn_out_clamp")) {
    DVK_TRY(gguf_get_f32(f, "dalle.attn_out_clamp", &d->attn_out_clamp, err));
    if (!(d->attn_out_clamp > 0) || isinf(d->attn_out_clamp))
      return bad_value(f, "dalle.attn_out_clamp", "a finite number > 0 (absent: no clamp)", err);
  }
  /* an encoder-decoder file's decoder sequence holds no text: the start token at 0, image token i at 1 + i */
  d->image0 = (d->layout == DVK_LAYOUT_DECODER ? d->text_len : 0) + (d->image_start ? 1 : 0);
  if (d->image0 == 0) return bad_value(f, "dalle.image_start", "true in an encoder-decoder file", err);
  d->mask_image0 = d->image0;
  if (gguf_find_key(f, "dalle.mask_image0")) {
    DVK_TRY(gguf_get_u32(f, "dalle.mask_image0", &d->mask_image0, err));
    /* every fed position (at most image0 + G*G - 2) must have an image index < G*G */
    if (d->mask_image0 + 1 < d->image0 ||
        (uint64_t)d->mask_image0 > (uint64_t)d->text_len + (uint64_t)d->grid * d->grid)
      return bad_value(f, "dalle.mask_image0",
                       "image0 - 1 .. dalle.text_len + dalle.grid^2 (image0 = text_len + 1 "
                       "with a start token, text_len without)",
                       err);
  }
  return DVK_OK;
}
