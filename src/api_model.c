/* Public API: model loading and generation (include/dallevk.h).
 * text -> BPE ids -> transformer prefill + decode with KV cache (all candidates as one batch) -> codes ->
 * dVAE decoder -> RGB8 images. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "model/config.h"
#include "model/dvae.h"
#include "model/dvae_enc.h"
#include "model/gguf.h"
#include "model/rerank.h"
#include "model/sample.h"
#include "model/tokenizer.h"
#include "model/transformer.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static dvk_status load_tokenizer(const gguf_file *f, const dvk_model_config *cfg, dvk_bpe **out, char *err,
                                 size_t errlen) {
  const gguf_string *model;
  DVK_TRY(gguf_get_string(f, "tokenizer.model", &model, err, errlen));
  if (strcmp(model->s, "dalle-vk-bpe-1") != 0) {
    snprintf(err, errlen, "%s: unsupported tokenizer.model '%.60s' (expected dalle-vk-bpe-1)", gguf_name(f), model->s);
    return DVK_ERR_MODEL_FORMAT;
  }
  const gguf_array *merges;
  uint32_t vocab;
  DVK_TRY(gguf_get_array(f, "tokenizer.bpe.merges", GGUF_TYPE_UINT32, &merges, err, errlen));
  DVK_TRY(gguf_get_u32(f, "tokenizer.bpe.vocab_size", &vocab, err, errlen));
  if (merges->count % 2 || vocab != 256 + merges->count / 2 || vocab > cfg->dalle.text_vocab) {
    snprintf(err, errlen, "%s: tokenizer.bpe.vocab_size (%u) must be 256 + merges and at most dalle.text_vocab (%u)",
             gguf_name(f), vocab, cfg->dalle.text_vocab);
    return DVK_ERR_MODEL_FORMAT;
  }
  uint32_t *pairs = malloc((merges->count ? merges->count : 1) * sizeof *pairs);
  if (!pairs) {
    snprintf(err, errlen, "%s: out of host memory for %llu BPE merges", gguf_name(f),
             (unsigned long long)merges->count / 2);
    return DVK_ERR_OUT_OF_HOST_MEMORY;
  }
  for (uint64_t i = 0; i < merges->count; i++) pairs[i] = gguf_arr_u32(merges, i);
  char msg[256];
  dvk_status s = dvk_bpe_create(pairs, merges->count / 2, out, msg, sizeof msg);
  free(pairs);
  if (s != DVK_OK) snprintf(err, errlen, "%s: %s", gguf_name(f), msg);
  return s;
}

dvk_status dvk_model_load(dvk_context *ctx, const char *path, dvk_model **out) {
  *out = NULL;
  dvk_ctx *vk = ctx->vk;
  char err[sizeof vk->error];
  err[0] = 0;
  gguf_file *f = NULL;
  dvk_status s = gguf_open(path, &f, err, sizeof err);
  if (s != DVK_OK) {
    snprintf(vk->error, sizeof vk->error, "cannot load model: %s", err);
    return s;
  }
  dvk_model *m = calloc(1, sizeof *m);
  if (!m) {
    gguf_close(f);
    return dvk_fail(vk, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  }
  m->ctx = ctx;
  s = dvk_config_read(f, &m->cfg, err, sizeof err);
  if (s == DVK_OK) s = load_tokenizer(f, &m->cfg, &m->bpe, err, sizeof err);
  if (s == DVK_OK) s = dvk_arena_create(vk, 0, &m->weights);
  if (s == DVK_OK) {
    dvk_loader L = {.ctx = vk, .arena = m->weights, .file = f, .err = err, .errlen = sizeof err};
    s = dvk_transformer_load(&L, &m->cfg.dalle, &m->tf);
    if (s == DVK_OK) s = dvk_dvae_load(&L, &m->cfg.dvae, m->cfg.dalle.grid, &m->dvae);
    if (s == DVK_OK && m->cfg.dvae.has_encoder) s = dvk_dvae_encoder_load(&L, &m->cfg.dvae, m->cfg.dalle.grid, &m->enc);
    if (s == DVK_OK && m->cfg.clip.present) s = dvk_reranker_load(&L, &m->cfg, &m->rr);
    m->weight_bytes = L.bytes;
  }
  gguf_close(f); /* the weights are on the device now */
  if (s != DVK_OK) {
    if (!err[0]) snprintf(err, sizeof err, "%.300s: %.600s", path, vk->error);
    snprintf(vk->error, sizeof vk->error, "cannot load model: %.900s", err);
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
  dvk_dvae_free(&m->dvae);
  dvk_dvae_encoder_free(&m->enc);
  dvk_reranker_free(&m->rr);
  dvk_arena_destroy(m->weights);
  dvk_bpe_destroy(m->bpe);
  free(m);
}

void dvk_model_get_info(const dvk_model *m, dvk_model_info *info) {
  const dvk_dalle_config *d = &m->cfg.dalle;
  *info = (dvk_model_info){.name = m->cfg.name, .license = m->cfg.license, .text_len = d->text_len,
                           .text_vocab = d->text_vocab, .grid = d->grid, .image_vocab = d->image_vocab,
                           .d_model = d->d_model, .n_heads = d->n_heads, .n_layers = d->n_layers,
                           .image_width = m->cfg.dvae.image_size, .image_height = m->cfg.dvae.image_size,
                           .has_reranker = m->cfg.clip.present, .has_encoder = m->cfg.dvae.has_encoder, .cond_scale = d->cond_scale,
                           .temperature = d->temperature, .top_p = d->top_p, .prune_rows = m->cfg.clip.prune_rows};
}

dvk_generate_params dvk_generate_defaults(void) {
  /* temperature, top_p, cond_scale 0: the model's recommended values */
  dvk_generate_params p = {.prompt = "", .n_images = 1, .seed = 0, .temperature = 0, .top_k = 0, .top_p = 0};
  return p;
}

void dvk_images_free(dvk_images *im) {
  if (!im) return;
  if (im->pixels) free(im->pixels[0]); /* one allocation holds every image */
  free(im->pixels);
  free(im->scores);
  free(im->candidates);
  free(im->mean_logprob);
  free(im);
}

/* Prompt -> text ids [T]: BPE, truncated to T, positions past the caption hold pad token Vt + j. */
static dvk_status prompt_ids(dvk_model *m, const char *prompt, int32_t *ids, uint32_t *used, uint32_t *dropped) {
  const dvk_dalle_config *d = &m->cfg.dalle;
  int32_t *tok;
  size_t n;
  char err[256];
  dvk_status s = dvk_bpe_encode(m->bpe, prompt, strlen(prompt), &tok, &n, err, sizeof err);
  if (s != DVK_OK) return dvk_fail(m->ctx->vk, s, "prompt: %s", err);
  *used = n < d->text_len ? (uint32_t)n : d->text_len;
  *dropped = (uint32_t)(n - *used);
  for (uint32_t j = 0; j < d->text_len; j++) ids[j] = j < *used ? tok[j] : (int32_t)(d->text_vocab + j);
  free(tok);
  return DVK_OK;
}

static dvk_status check_params(const dvk_model *m, dvk_ctx *vk, const dvk_generate_params *p) {
  if (!p->prompt) return dvk_fail(vk, DVK_ERR_INVALID_ARGUMENT, "prompt is NULL");
  if (p->n_images == 0) return dvk_fail(vk, DVK_ERR_INVALID_ARGUMENT, "n_images must be at least 1");
  if (!(p->temperature >= 0 && isfinite(p->temperature)))
    return dvk_fail(vk, DVK_ERR_INVALID_ARGUMENT, "temperature must be > 0 (0: the model's default)");
  if (!(p->top_p >= 0 && p->top_p <= 1))
    return dvk_fail(vk, DVK_ERR_INVALID_ARGUMENT, "top_p must be in (0, 1] (0: the model's default)");
  if (!(p->cond_scale >= 0 && isfinite(p->cond_scale)))
    return dvk_fail(vk, DVK_ERR_INVALID_ARGUMENT, "cond_scale must be >= 0 (0: the model's default; 1: off)");
  if (!(p->rerank_pool >= 0 && p->rerank_pool <= 1))
    return dvk_fail(vk, DVK_ERR_INVALID_ARGUMENT, "rerank_pool must be in (0, 1] (0: the default, %g)",
                    (double)DVK_DEFAULT_RERANK_POOL);
  if (p->keep > p->n_images)
    return dvk_fail(vk, DVK_ERR_INVALID_ARGUMENT, "keep (%u) must be at most n_images (%u)", p->keep, p->n_images);
  if (p->keep && !m->cfg.clip.present)
    return dvk_fail(vk, DVK_ERR_UNSUPPORTED, "reranking needs a model with a reranker; %s has none", m->cfg.name);
  if (p->image_prefix_len) {
    const uint32_t gg = m->cfg.dalle.grid * m->cfg.dalle.grid, vi = m->cfg.dalle.image_vocab;
    if (!p->image_prefix) return dvk_fail(vk, DVK_ERR_INVALID_ARGUMENT, "image_prefix is NULL but image_prefix_len is %u",
                                          p->image_prefix_len);
    if (p->image_prefix_len >= gg)
      return dvk_fail(vk, DVK_ERR_INVALID_ARGUMENT, "image_prefix_len (%u) must be less than the %u image tokens",
                      p->image_prefix_len, gg);
    for (uint32_t i = 0; i < p->image_prefix_len; i++)
      if (p->image_prefix[i] < 0 || (uint32_t)p->image_prefix[i] >= vi)
        return dvk_fail(vk, DVK_ERR_INVALID_ARGUMENT, "image_prefix[%u] = %d is not an image code (0..%u)", i,
                        p->image_prefix[i], vi - 1);
  }
  if (p->prune_rows && p->prune_rows != DVK_PRUNE_OFF) {
    const uint32_t G = m->cfg.dalle.grid;
    if (!dvk_prune_rows_fit(p->prune_rows, G))
      return dvk_fail(vk, DVK_ERR_INVALID_ARGUMENT, "prune_rows may only name image rows 0..%u (grid %u)", G - 2, G);
    if (!m->cfg.clip.present)
      return dvk_fail(vk, DVK_ERR_UNSUPPORTED, "pruning needs a model with a reranker; %s has none", m->cfg.name);
  }
  return DVK_OK;
}

/* Device memory the generation may use: 80% of the largest device-local heap, minus the weights; env
 * DVK_DEVICE_MEMORY_MB overrides the heap size (to emulate a smaller device). */
static uint64_t device_budget(const dvk_model *m) {
  const dvk_ctx *vk = m->ctx->vk;
  uint64_t heap = 0;
  for (uint32_t i = 0; i < vk->mem_props.memoryHeapCount; i++)
    if ((vk->mem_props.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) && vk->mem_props.memoryHeaps[i].size > heap)
      heap = vk->mem_props.memoryHeaps[i].size;
  const char *env = getenv("DVK_DEVICE_MEMORY_MB");
  if (env && *env) heap = strtoull(env, NULL, 10) << 20;
  uint64_t usable = heap / 5 * 4;
  return usable > m->weight_bytes ? usable - m->weight_bytes : 0;
}

/* p with its unset (0) sampling settings replaced by the model's recommended ones: what a generation uses. */
static dvk_generate_params resolved(const dvk_model *m, const dvk_generate_params *p) {
  const dvk_dalle_config *d = &m->cfg.dalle;
  dvk_generate_params q = *p;
  if (!(q.temperature > 0)) q.temperature = d->temperature;
  if (!(q.top_p > 0)) q.top_p = d->top_p;
  if (!(q.cond_scale > 0)) q.cond_scale = d->cond_scale;
  if (!(q.rerank_pool > 0)) q.rerank_pool = DVK_DEFAULT_RERANK_POOL;
  if (q.prune_rows == 0) q.prune_rows = m->cfg.clip.present ? m->cfg.clip.prune_rows : 0;
  if (q.prune_rows == DVK_PRUNE_OFF || q.n_images < 2) q.prune_rows = 0;
  for (uint32_t r = 0; r < 64 && (r + 1) * d->grid <= q.image_prefix_len; r++) /* rows the prefix fixes: all */
    q.prune_rows &= ~(1ull << r);                                               /* candidates alike there */
  return q;
}

/* Transformer sequences for n candidates: 2n with guidance (prompt + empty caption). */
static uint32_t sequences(uint32_t n, float cond_scale) { return cond_scale != 1.0f ? 2 * n : n; }

/* Device bytes one generation of n images needs (seqs transformer sequences): KV cache + activations +
 * reranker + dVAE scratch. */
static uint64_t generate_bytes(const dvk_model *m, uint32_t n, uint32_t seqs) {
  return dvk_tf_state_bytes(&m->tf, seqs) + (m->cfg.clip.present ? dvk_rerank_bytes(&m->rr, n) : 0) + 4 * m->dvae.act_floats * 4 + (uint64_t)m->cfg.dvae.image_size * m->cfg.dvae.image_size * 16;
}

/* Fails early, with advice, when n images cannot fit the device. */
static dvk_status check_memory(const dvk_model *m, uint32_t n, uint32_t per) {
  const uint64_t budget = device_budget(m), need = generate_bytes(m, n, per * n);
  if (need <= budget) return DVK_OK;
  uint32_t fit = 0;
  while (fit < n && generate_bytes(m, fit + 1, per * (fit + 1)) <= budget) fit++;
  if (fit == 0)
    return dvk_fail(m->ctx->vk, DVK_ERR_OUT_OF_DEVICE_MEMORY,
                    "out of device memory: even one image needs %.0f MiB and %.0f MiB are available",
                    (double)generate_bytes(m, 1, per) / (1 << 20), (double)budget / (1 << 20));
  return dvk_fail(m->ctx->vk, DVK_ERR_OUT_OF_DEVICE_MEMORY,
                  "out of device memory: %u images need %.0f MiB, %.0f MiB are available; try -n %u", n,
                  (double)need / (1 << 20), (double)budget / (1 << 20), fit);
}

/* Rewrites an out-of-memory failure as advice on the batch size; per = transformer sequences per image
 * (2 with guidance). */
static dvk_status oom_advice(dvk_model *m, uint32_t n, uint32_t per_seqs, dvk_status s) {
  if (s != DVK_ERR_OUT_OF_DEVICE_MEMORY) return s;
  char driver[sizeof m->ctx->vk->error];
  snprintf(driver, sizeof driver, "%s", m->ctx->vk->error);
  uint64_t per = dvk_tf_state_bytes(&m->tf, per_seqs);
  return dvk_fail(m->ctx->vk, s,
                  "out of device memory generating %u images at once (about %.0f MiB of KV cache and activations "
                  "per image); try -n %u (driver: %s)", n, (double)per / (1 << 20), n > 1 ? n / 2 : 1, driver);
}

/* Classifier-free guidance on the host: rows 0..n-1 of logits [2n, vi] become null + s * (cond - null),
 * null = row n + b. */
static void guide(float *logits, uint32_t n, uint32_t vi, float s) {
  for (uint32_t b = 0; b < n; b++) {
    float *c = logits + (size_t)b * vi;
    const float *u = logits + (size_t)(n + b) * vi;
    for (uint32_t k = 0; k < vi; k++) c[k] = u[k] + s * (c[k] - u[k]);
  }
}

/* Pruning after image row `row` (dvk_generate_params.prune_rows), token i = the row's last: scores rows
 * 0..row of every candidate's codes [n, G*G], and the k-th worst candidate (k < n/2) continues as a copy of
 * the k-th best (codes 0..i, the transformer state of its sequences); step_codes [seqs] then hold each
 * sequence's code i. */
static dvk_status prune(dvk_model *m, const dvk_generate_params *p, const int32_t *text, dvk_tf_state *st,
                        uint32_t row, uint32_t i, int32_t *codes, int32_t *step_codes, double *logprob_sum) {
  dvk_ctx *vk = m->ctx->vk;
  const uint32_t n = p->n_images, seqs = st->batch, steps = m->cfg.dalle.grid * m->cfg.dalle.grid;
  float *scores = malloc(n * sizeof *scores);
  uint32_t *src = malloc(seqs * sizeof *src);
  dvk_status s = scores && src ? DVK_OK : dvk_fail(vk, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  if (s == DVK_OK) s = dvk_rerank_score_prefix(vk, &m->rr, text, codes, n, row + 1, scores);
  if (s == DVK_OK && dvk_prune_sources(scores, n, src) != 0) s = dvk_fail(vk, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  if (s == DVK_OK) {
    for (uint32_t b = 0; b < n; b++) {
      if (src[b] != b) { /* src[b] is kept, so its codes and sum are still its own */
        memcpy(codes + (size_t)b * steps, codes + (size_t)src[b] * steps, (i + 1) * sizeof *codes);
        logprob_sum[b] = logprob_sum[src[b]];
      }
      if (seqs > n) src[n + b] = n + src[b]; /* the candidate's empty-caption sequence follows it */
    }
    for (uint32_t b = 0; b < seqs; b++) step_codes[b] = codes[(size_t)(b % n) * steps + i];
    s = dvk_transformer_copy_sequences(vk, &m->tf, st, src);
  }
  if (s == DVK_OK && p->on_prune) p->on_prune(p->on_prune_user, i, src);
  free(scores);
  free(src);
  return s;
}

/* Runs the transformer for all candidates with p's (resolved) settings, the first p->image_prefix_len codes of every
 * candidate given (teacher-forced), the rest sampled; codes [n, G*G]; mean_logprob [n]: each
 * candidate's mean over its G*G codes of the code's log-probability under the logits it was sampled from (after
 * guidance, before temperature / top-k / top-p; dvk_log_prob), its pruning history included; timings into im. */
static dvk_status sample_codes(dvk_model *m, const dvk_generate_params *p, const int32_t *text, dvk_tf_state *st,
                               int32_t *codes, float *mean_logprob, dvk_images *im) {
  dvk_ctx *vk = m->ctx->vk;
  const dvk_dalle_config *d = &m->cfg.dalle;
  const uint32_t n = p->n_images, steps = d->grid * d->grid, vi = d->image_vocab, seqs = st->batch;
  float *logits = malloc((size_t)seqs * vi * sizeof *logits);
  dvk_rng *rng = malloc(n * sizeof *rng);
  int32_t *step_codes = malloc(seqs * sizeof *step_codes);
  int32_t *null_ids = malloc(d->text_len * sizeof *null_ids);
  double *logprob_sum = calloc(n, sizeof *logprob_sum);
  dvk_sampler sampler = {0};
  dvk_status s = DVK_OK;
  if (!logits || !rng || !step_codes || !null_ids || !logprob_sum || dvk_sampler_init(&sampler, vi, p->temperature, p->top_k, p->top_p) != 0)
    s = dvk_fail(vk, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  for (uint32_t b = 0; s == DVK_OK && b < n; b++) /* one stream per candidate: image b depends on (seed, b) only */
    dvk_rng_seed(&rng[b], p->seed * 0x9e3779b97f4a7c15ull + b);
  for (uint32_t j = 0; s == DVK_OK && j < d->text_len; j++) null_ids[j] = (int32_t)(d->text_vocab + j); /* "" */
  double t0 = now_s();
  if (s == DVK_OK)
    s = seqs > n ? dvk_transformer_prefill_guided(vk, &m->tf, st, text, null_ids, logits)
                 : dvk_transformer_prefill(vk, &m->tf, st, text, logits);
  im->seconds_prefill = now_s() - t0;
  for (uint32_t i = 0; s == DVK_OK && i < steps; i++) {
    if (seqs > n) guide(logits, n, vi, p->cond_scale);
    for (uint32_t b = 0; b < n; b++) {
      step_codes[b] = i < p->image_prefix_len ? p->image_prefix[i] /* given, not sampled: no draw */
                                              : (int32_t)dvk_sample(&sampler, logits + (size_t)b * vi, &rng[b]);
      codes[(size_t)b * steps + i] = step_codes[b];
      logprob_sum[b] += dvk_log_prob(logits + (size_t)b * vi, vi, (uint32_t)step_codes[b]);
      if (seqs > n) step_codes[n + b] = step_codes[b]; /* the candidate's empty-caption sequence */
    }
    if (p->on_step) p->on_step(p->on_step_user, i, logits, step_codes);
    const uint32_t row = i / d->grid;
    /* rows 0..G-2 only (checked in check_params and at load), so a pruning is always followed by a decode */
    if ((i + 1) % d->grid == 0 && row < 64 && (p->prune_rows >> row & 1))
      s = prune(m, p, text, st, row, i, codes, step_codes, logprob_sum);
    if (s != DVK_OK) break;
    if ((p->progress && p->progress(p->progress_user, i + 1, steps)) || (p->cancel && *p->cancel))
      s = dvk_fail(vk, DVK_ERR_CANCELLED, "cancelled");
    else if (i + 1 < steps)
      s = dvk_transformer_decode(vk, &m->tf, st, step_codes, logits);
  }
  im->seconds_decode = now_s() - t0 - im->seconds_prefill;
  for (uint32_t b = 0; s == DVK_OK && b < n; b++) mean_logprob[b] = (float)(logprob_sum[b] / steps);
  dvk_sampler_free(&sampler);
  free(logprob_sum);
  free(logits);
  free(rng);
  free(step_codes);
  free(null_ids);
  return s;
}

/* Scores the n candidates codes [n, G*G] and moves the `keep` best distinct ones to the front, best first:
 * the pool (the rerank_pool fraction of the candidates with the highest mean_logprob [n], dvk_rerank_pool)
 * before the others, then the higher score, then the lower index. A candidate whose codes equal a better kept
 * one's (pruning's copies can end identical) is passed over, and such duplicates fill the remaining places,
 * best first, only when fewer than `keep` candidates are distinct. Fills im->scores, im->candidates and
 * im->mean_logprob (in the kept order). */
static dvk_status rerank(dvk_model *m, const int32_t *text, int32_t *codes, const float *mean_logprob, uint32_t n,
                         uint32_t keep, float pool_fraction, dvk_images *im) {
  const size_t gg = (size_t)m->cfg.dalle.grid * m->cfg.dalle.grid;
  float *scores = malloc(n * sizeof *scores);
  uint8_t *in_pool = malloc(n);
  int32_t *picked = malloc(keep * gg * sizeof *picked);
  im->scores = malloc(keep * sizeof *im->scores);
  im->candidates = malloc(keep * sizeof *im->candidates);
  im->mean_logprob = malloc(keep * sizeof *im->mean_logprob);
  dvk_status s = DVK_OK;
  if (!scores || !in_pool || !picked || !im->scores || !im->candidates || !im->mean_logprob ||
      dvk_rerank_pool(mean_logprob, n, pool_fraction, in_pool) != 0)
    s = dvk_fail(m->ctx->vk, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  if (s == DVK_OK) s = dvk_rerank_score(m->ctx->vk, &m->rr, text, codes, n, scores, NULL, NULL);
  if (s == DVK_OK && dvk_rerank_pick(scores, in_pool, codes, n, gg, keep, im->candidates) != 0)
    s = dvk_fail(m->ctx->vk, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  if (s == DVK_OK) {
    for (uint32_t k = 0; k < keep; k++) {
      im->scores[k] = scores[im->candidates[k]];
      im->mean_logprob[k] = mean_logprob[im->candidates[k]];
      memcpy(picked + k * gg, codes + im->candidates[k] * gg, gg * sizeof *codes);
    }
    memcpy(codes, picked, keep * gg * sizeof *codes);
  }
  free(scores);
  free(in_pool);
  free(picked);
  return s;
}

dvk_status dvk_generate(dvk_model *m, const dvk_generate_params *params, dvk_images **out) {
  *out = NULL;
  dvk_ctx *vk = m->ctx->vk;
  DVK_TRY(check_params(m, vk, params));
  const dvk_generate_params q = resolved(m, params), *p = &q;
  const double t0 = now_s();
  const dvk_dalle_config *d = &m->cfg.dalle;
  const uint32_t n = p->n_images, G = d->grid, R = m->cfg.dvae.image_size, kept = p->keep ? p->keep : n;
  const uint32_t seqs = sequences(n, p->cond_scale);
  int32_t *text = malloc(d->text_len * sizeof *text);
  int32_t *codes = malloc((size_t)n * G * G * sizeof *codes);
  float *mean_logprob = malloc(n * sizeof *mean_logprob);
  dvk_images *im = calloc(1, sizeof *im);
  uint8_t *rgb = malloc((size_t)n * R * R * 3);
  uint8_t **pixels = malloc(n * sizeof *pixels);
  dvk_arena *arena = NULL;
  dvk_tf_state st = {0};
  dvk_status s = DVK_OK;
  if (!text || !codes || !mean_logprob || !im || !rgb || !pixels) s = dvk_fail(vk, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  if (s == DVK_OK) {
    im->temperature = p->temperature;
    im->top_p = p->top_p;
    im->cond_scale = p->cond_scale;
    im->prune_rows = p->prune_rows;
    im->rerank_pool_size = p->keep ? dvk_rerank_pool_size(p->rerank_pool, n) : 0;
  }
  if (s == DVK_OK) s = prompt_ids(m, p->prompt, text, &im->prompt_tokens, &im->dropped_tokens);
  if (s == DVK_OK) s = check_memory(m, n, seqs / n);
  if (s == DVK_OK) s = dvk_arena_create(vk, 0, &arena);
  if (s == DVK_OK) s = oom_advice(m, n, seqs / n, dvk_tf_state_create(vk, arena, &m->tf, seqs, &st));
  if (s == DVK_OK) s = sample_codes(m, p, text, &st, codes, mean_logprob, im);
  const double t_rerank = now_s();
  if (s == DVK_OK && p->keep)
    s = oom_advice(m, n, seqs / n, rerank(m, text, codes, mean_logprob, n, p->keep, p->rerank_pool, im));
  else if (s == DVK_OK) { /* not reranked: every candidate, in sampling order */
    im->mean_logprob = mean_logprob;
    mean_logprob = NULL;
  }
  const double t_dvae = now_s();
  if (im) im->seconds_rerank = t_dvae - t_rerank;
  if (s == DVK_OK) s = oom_advice(m, n, seqs / n, dvk_dvae_decode(vk, arena, &m->dvae, codes, kept, rgb, NULL));
  if (im) im->seconds_dvae = now_s() - t_dvae;
  if (s != DVK_OK) dvk_discard(vk); /* an op that failed part-way may leave commands on `arena`'s buffers */
  dvk_tf_state_free(&st);
  dvk_arena_destroy(arena);
  free(text);
  free(codes);
  free(mean_logprob);
  if (s != DVK_OK) {
    free(rgb);
    free(pixels);
    if (im) {
      free(im->scores);
      free(im->candidates);
      free(im->mean_logprob);
    }
    free(im);
    return s;
  }
  for (uint32_t i = 0; i < kept; i++) pixels[i] = rgb + (size_t)i * R * R * 3;
  im->count = kept;
  im->width = im->height = R;
  im->stride = 3 * R;
  im->pixels = pixels;
  im->seconds = now_s() - t0;
  *out = im;
  return DVK_OK;
}

dvk_status dvk_encode_image(dvk_model *m, const uint8_t *rgb, int32_t *codes, float *logits) {
  dvk_ctx *vk = m->ctx->vk;
  if (!rgb || !codes) return dvk_fail(vk, DVK_ERR_INVALID_ARGUMENT, "dvk_encode_image: rgb and codes must not be NULL");
  if (!m->cfg.dvae.has_encoder)
    return dvk_fail(vk, DVK_ERR_UNSUPPORTED, "image prompts need a model with a dVAE encoder; %s has none (export it "
                    "without --no-encoder)", m->cfg.name);
  dvk_arena *arena = NULL;
  dvk_status s = dvk_arena_create(vk, 0, &arena);
  if (s == DVK_OK) s = dvk_dvae_encode(vk, arena, &m->enc, rgb, codes, logits);
  if (s != DVK_OK) dvk_discard(vk);
  dvk_arena_destroy(arena);
  return s;
}
