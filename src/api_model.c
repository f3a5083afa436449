/* Public API: the model's lifecycle (load, free, info) and the image encoder (include/dallevk.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h"
#include "model/gguf.h"

dvk_status dvk_model_load(dvk_context *ctx, const char *path, dvk_model **out) {
  *out = NULL;
  dvk_device *vk = ctx->vk;
  dvk_error err = {""};
  gguf_file *f = NULL;
  dvk_status s = gguf_open(path, &f, &err);
  if (s != DVK_OK) return dvk_fail(vk, s, "cannot load model: %.1000s", err.msg);
  dvk_model *m = calloc(1, sizeof *m);
  if (!m) {
    gguf_close(f);
    return dvk_fail(vk, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  }
  m->ctx = ctx;
  s = dvk_config_read(f, &m->cfg, &err);
  if (s == DVK_OK) s = dvk_tokenizer_load(f, m->cfg.dalle.text_vocab, m->cfg.dalle.text_len, &m->tokenizer, &err);
  if (s == DVK_OK) s = dvk_check_weight_memory(vk, f, &err);
  if (s == DVK_OK) s = dvk_arena_create(vk, 0, &m->weights);
  if (s == DVK_OK) {
    dvk_loader L = {.ctx = vk, .arena = m->weights, .file = f, .err = &err};
    s = dvk_transformer_load(&L, &m->cfg.dalle, &m->tf);
    if (s == DVK_OK)
      s = dvk_image_codec_load(&L, m->cfg.has_vqgan ? &m->cfg.vqgan : NULL, &m->cfg.dvae, m->cfg.dalle.grid, &m->codec);
    if (s == DVK_OK && m->cfg.reranker.present) s = dvk_reranker_load(&L, &m->cfg, &m->rr);
    m->weight_bytes = L.bytes;
    s = dvk_weight_oom_advice(vk, f, &err, s);
  }
  gguf_close(f); /* the weights are on the device now */
  if (s != DVK_OK) {
    if (!err.msg[0]) snprintf(err.msg, sizeof err.msg, "%.300s: %.600s", path, vk->error);
    dvk_fail(vk, s, "cannot load model: %.900s", err.msg);
    dvk_discard(vk);
    dvk_model_free(m);
    return s;
  }
  if (ctx->verbose)
    fprintf(stderr, "dalle-vk: model weights: %.1f MiB on the device\n", (double)m->weight_bytes / (1 << 20));
  *out = m;
  return DVK_OK;
}

void dvk_model_free(dvk_model *m) {
  if (!m) return;
  dvk_transformer_free(&m->tf);
  dvk_image_codec_free(&m->codec);
  dvk_reranker_free(&m->rr);
  dvk_arena_destroy(m->weights);
  dvk_tokenizer_destroy(m->tokenizer);
  free(m);
}

void dvk_model_get_info(const dvk_model *m, dvk_model_info *info) {
  const dvk_dalle_config *d = &m->cfg.dalle;
  *info = (dvk_model_info){.name = m->cfg.name, .license = m->cfg.license, .text_len = d->text_len,
                           .text_vocab = d->text_vocab, .grid = d->grid, .image_vocab = d->image_vocab,
                           .d_model = d->d_model, .n_heads = d->n_heads, .n_layers = d->n_layers,
                           .image_width = m->codec.image_size, .image_height = m->codec.image_size,
                           .has_reranker = m->cfg.reranker.present, .has_encoder = m->codec.has_encoder, .cond_scale = d->cond_scale,
                           .temperature = d->temperature, .top_p = d->top_p, .top_k = d->top_k, .prune_rows = m->cfg.reranker.prune_rows,
                           .candidates = dvk_model_candidates(m),
                           .decoding = d->beam_search ? DVK_DECODING_BEAM : DVK_DECODING_SAMPLE,
                           .beam_width = d->beam_width, .beam_sampled_rows = d->beam_sampled_rows};
}

uint32_t dvk_model_candidates(const dvk_model *m) {
  const dvk_reranker_config *r = &m->cfg.reranker;
  return !r->present ? 0 : r->candidates ? r->candidates : DVK_DEFAULT_CANDIDATES;
}

dvk_status dvk_encode_image(dvk_model *m, const uint8_t *rgb, int32_t *codes, float *logits) {
  dvk_device *vk = m->ctx->vk;
  if (!rgb || !codes) return dvk_fail(vk, DVK_ERR_INVALID_ARGUMENT, "dvk_encode_image: rgb and codes must not be NULL");
  if (!m->codec.has_encoder)
    return dvk_fail(vk, DVK_ERR_UNSUPPORTED, DVK_NO_ENCODER_FMT, dvk_image_codec_name(m->codec.kind), m->cfg.name);
  dvk_arena *arena = NULL;
  dvk_status s = dvk_arena_create(vk, 0, &arena);
  if (s == DVK_OK) s = dvk_image_codec_encode(vk, arena, &m->codec, rgb, codes, logits);
  if (s != DVK_OK) dvk_discard(vk);
  dvk_arena_destroy(arena);
  return s;
}
