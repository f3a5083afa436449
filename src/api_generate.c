/* Public API: generation (include/dallevk.h dvk_generate): prompt -> BPE ids -> transformer prefill and decode
 * with a KV cache (all candidates as one batch), sampling, pruning -> codes -> reranking -> dVAE decoder ->
 * RGB8 images. The settings come resolved from api_params.c; the selection rules from model/select.h and
 * model/beam.h. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h"
#include "model/beam.h"
#include "model/sample.h"
#include "model/select.h"

/* One generation: the caller's params (prompt, seed, callbacks) and the settings resolved from them. */
typedef struct run {
  dvk_model *m;
  const dvk_generate_params *p;
  const dvk_settings *s;
  const int32_t *prefix; /* s->image_prefix_len given codes: p->image_prefix, or the encoded image prompt */
  int32_t text[];        /* [text_len] prompt ids */
} run;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
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

/* Prompt -> text ids [T] (model/text_tokenizer.h: prefix, BPE, suffix, truncation, pads). */
static dvk_status prompt_ids(dvk_model *m, const char *prompt, int32_t *ids, uint32_t *used, uint32_t *dropped) {
  dvk_error err = {""};
  dvk_status s = dvk_tokenizer_text_ids(m->tokenizer, prompt, strlen(prompt), ids, used, dropped, &err);
  return s == DVK_OK ? s : dvk_fail(m->ctx->vk, s, "prompt: %s", err.msg);
}

/* Transformer sequences for n candidates: 2n with guidance (prompt + empty caption). */
static uint32_t sequences(uint32_t n, float cond_scale) { return cond_scale != 1.0f ? 2 * n : n; }

/* Classifier-free guidance on the host: rows 0..n-1 of logits [2n, vi] become null + s * (cond - null),
 * null = row n + b. */
static void guide(float *logits, uint32_t n, uint32_t vi, float s) {
  for (uint32_t b = 0; b < n; b++) {
    float *c = logits + (size_t)b * vi;
    const float *u = logits + (size_t)(n + b) * vi;
    for (uint32_t k = 0; k < vi; k++) c[k] = u[k] + s * (c[k] - u[k]);
  }
}

/* Pruning after image row `row` (dvk_settings.prune_rows), token i = the row's last: scores rows 0..row of
 * every candidate's codes [n, G*G], and the k-th worst candidate (k < n/2) continues as a copy of the k-th best
 * (codes 0..i, the transformer state of its sequences); step_codes [seqs] then hold each sequence's code i. */
static dvk_status prune(const run *r, dvk_tf_state *st, uint32_t row, uint32_t i, int32_t *codes, int32_t *step_codes,
                        double *logprob_sum, dvk_images *im) {
  dvk_model *m = r->m;
  dvk_device *vk = m->ctx->vk;
  const uint32_t n = r->s->candidates, seqs = st->batch, steps = m->cfg.dalle.grid * m->cfg.dalle.grid;
  float *scores = malloc(n * sizeof *scores);
  uint32_t *src = malloc(seqs * sizeof *src);
  dvk_status s = scores && src ? DVK_OK : dvk_fail(vk, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  if (s == DVK_OK) s = dvk_reranker_score_prefix(vk, &m->rr, r->text, codes, n, row + 1, scores);
  if (s == DVK_OK && dvk_prune_sources(scores, n, src) != DVK_OK) s = dvk_fail(vk, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
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
  if (s == DVK_OK && r->p->on_prune) {
    const double t0 = now_s();
    r->p->on_prune(r->p->on_prune_user, i, src);
    im->seconds_callbacks += now_s() - t0;
  }
  free(scores);
  free(src);
  return s;
}

/* Beam search's per-step arrays, allocated once per run: n beams, seqs transformer sequences. */
typedef struct beam_scratch {
  uint8_t *active;                /* [n] */
  uint32_t *parent, *slot, *src;  /* [n], [n], [seqs] */
  int32_t *code;                  /* [n] */
  double *score;                  /* [n] */
} beam_scratch;

static void beam_scratch_free(beam_scratch *bs) {
  free(bs->active);
  free(bs->parent);
  free(bs->slot);
  free(bs->src);
  free(bs->code);
  free(bs->score);
  *bs = (beam_scratch){0};
}

/* Returns 0, or -1 (out of host memory; bs freed). */
static int beam_scratch_alloc(beam_scratch *bs, uint32_t n, uint32_t seqs) {
  *bs = (beam_scratch){.active = malloc(n), .parent = malloc(n * sizeof *bs->parent),
                       .slot = malloc(n * sizeof *bs->slot), .src = malloc(seqs * sizeof *bs->src),
                       .code = malloc(n * sizeof *bs->code), .score = malloc(n * sizeof *bs->score)};
  if (bs->active && bs->parent && bs->slot && bs->src && bs->code && bs->score) return 0;
  beam_scratch_free(bs);
  return -1;
}

/* Beam search step i (docs/design.md §4): the n best extensions of the n beams (dvk_beam_select on the guided
 * logits rows 0..n-1 and the summed log-probabilities), placed by dvk_beam_slots. A beam that moves continues from
 * its parent's codes, sum, logits row and transformer state (dvk_transformer_copy_sequences), and on_prune(i - 1)
 * announces it. first: the search's first step, where a beam that repeats an earlier one (the same codes 0..i-1: at
 * the start, after a given prefix, or two equal sampled rows) is not extended. step_codes [seqs] get code i. */
static dvk_status beam_step(const run *r, dvk_tf_state *st, const beam_scratch *bs, uint32_t i, int first,
                            float *logits, int32_t *codes, int32_t *step_codes, double *logprob_sum, dvk_images *im) {
  dvk_model *m = r->m;
  dvk_device *vk = m->ctx->vk;
  const uint32_t n = r->s->candidates, seqs = st->batch, vi = m->cfg.dalle.image_vocab;
  const size_t steps = (size_t)m->cfg.dalle.grid * m->cfg.dalle.grid;
  uint8_t *active = bs->active;
  uint32_t *parent = bs->parent, *slot = bs->slot, *src = bs->src;
  int32_t *code = bs->code;
  double *score = bs->score;
  for (uint32_t b = 0; b < n; b++) {
    active[b] = 1;
    for (uint32_t a = 0; first && a < b && active[b]; a++)
      active[b] = memcmp(codes + a * steps, codes + b * steps, i * sizeof *codes) != 0;
  }
  dvk_status s = dvk_beam_select(logits, logprob_sum, active, n, vi, n, parent, code, score);
  if (s == DVK_OK) s = dvk_beam_slots(parent, n, slot, src);
  if (s != DVK_OK) s = dvk_fail(vk, s, s == DVK_ERR_OUT_OF_HOST_MEMORY ? "out of host memory" : "beam search: bad width");
  int moved = 0;
  for (uint32_t b = 0; s == DVK_OK && b < n; b++) {
    if (src[b] == b) continue; /* src[b] keeps its own slot, so its codes and logits are still its own */
    moved = 1;
    memcpy(codes + b * steps, codes + src[b] * steps, i * sizeof *codes);
    memcpy(logits + (size_t)b * vi, logits + (size_t)src[b] * vi, vi * sizeof *logits);
  }
  for (uint32_t j = 0; s == DVK_OK && j < n; j++) {
    const uint32_t b = slot[j];
    codes[b * steps + i] = step_codes[b] = code[j];
    logprob_sum[b] = score[j];
    if (seqs > n) step_codes[n + b] = code[j], src[n + b] = n + src[b]; /* the beam's empty-caption sequence */
  }
  if (s == DVK_OK && moved) s = dvk_transformer_copy_sequences(vk, &m->tf, st, src);
  if (s == DVK_OK && moved && i > 0 && r->p->on_prune) {
    const double t0 = now_s();
    r->p->on_prune(r->p->on_prune_user, i - 1, src);
    im->seconds_callbacks += now_s() - t0;
  }
  return s;
}

/* Runs the transformer for all candidates, the first image_prefix_len codes of every candidate given
 * (teacher-forced), the rest sampled or, with beam search, sampled up to row beam_sampled_rows and then searched
 * (beam_step); codes [n, G*G]; mean_logprob [n]: each candidate's mean over its G*G codes
 * of the code's log-probability under the logits it was sampled from (after guidance, before temperature /
 * top-k / top-p; dvk_log_prob), its pruning history included; timings into im (the caller's callbacks counted
 * apart from the decode steps). */
static dvk_status sample_codes(const run *r, dvk_tf_state *st, int32_t *codes, float *mean_logprob, dvk_images *im) {
  dvk_model *m = r->m;
  const dvk_generate_params *p = r->p;
  const dvk_settings *set = r->s;
  dvk_device *vk = m->ctx->vk;
  const dvk_dalle_config *d = &m->cfg.dalle;
  const uint32_t n = set->candidates, steps = d->grid * d->grid, vi = d->image_vocab, seqs = st->batch;
  float *logits = malloc((size_t)seqs * vi * sizeof *logits);
  dvk_rng *rng = malloc(n * sizeof *rng);
  int32_t *step_codes = malloc(seqs * sizeof *step_codes);
  int32_t *null_ids = malloc(d->text_len * sizeof *null_ids);
  double *logprob_sum = calloc(n, sizeof *logprob_sum);
  dvk_sampler sampler = {0};
  beam_scratch bs = {0};
  dvk_status s = DVK_OK;
  if (!logits || !rng || !step_codes || !null_ids || !logprob_sum ||
      (set->decoding == DVK_DECODING_BEAM && beam_scratch_alloc(&bs, n, seqs)) ||
      dvk_sampler_init(&sampler, vi, set->temperature, set->top_k, set->top_p) != DVK_OK)
    s = dvk_fail(vk, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  for (uint32_t b = 0; s == DVK_OK && b < n; b++) /* one stream per candidate: image b depends on (seed, b) only */
    dvk_rng_seed(&rng[b], p->seed * 0x9e3779b97f4a7c15ull + b);
  if (s == DVK_OK) dvk_tokenizer_null_ids(m->tokenizer, r->text, im->prompt_tokens, null_ids); /* unconditional row */
  double t0 = now_s();
  if (s == DVK_OK)
    s = seqs > n ? dvk_transformer_prefill_guided(vk, &m->tf, st, r->text, null_ids, logits)
                 : dvk_transformer_prefill(vk, &m->tf, st, r->text, logits);
  im->seconds_prefill = now_s() - t0;
  const uint32_t sampled = set->beam_sampled_rows * d->grid;
  const uint32_t beam_from = set->decoding != DVK_DECODING_BEAM ? steps
                             : set->image_prefix_len > sampled  ? set->image_prefix_len
                                                                : sampled;
  for (uint32_t i = 0; s == DVK_OK && i < steps; i++) {
    if (seqs > n) guide(logits, n, vi, set->cond_scale);
    if (i >= beam_from) s = beam_step(r, st, &bs, i, i == beam_from, logits, codes, step_codes, logprob_sum, im);
    for (uint32_t b = 0; i < beam_from && b < n; b++) {
      step_codes[b] = i < set->image_prefix_len ? r->prefix[i] /* given, not sampled: no draw */
                                                : (int32_t)dvk_sample(&sampler, logits + (size_t)b * vi, &rng[b]);
      codes[(size_t)b * steps + i] = step_codes[b];
      logprob_sum[b] += dvk_log_prob(logits + (size_t)b * vi, vi, (uint32_t)step_codes[b]);
      if (seqs > n) step_codes[n + b] = step_codes[b]; /* the candidate's empty-caption sequence */
    }
    if (s != DVK_OK) break;
    double t_cb = now_s();
    if (p->on_step) p->on_step(p->on_step_user, i, logits, step_codes);
    im->seconds_callbacks += now_s() - t_cb;
    const uint32_t row = i / d->grid;
    /* rows 0..G-2 only (checked in api_params.c and at load), so a pruning is always followed by a decode */
    if ((i + 1) % d->grid == 0 && row < 64 && (set->prune_rows >> row & 1))
      s = prune(r, st, row, i, codes, step_codes, logprob_sum, im);
    if (s != DVK_OK) break;
    t_cb = now_s();
    const int stop = p->progress && p->progress(p->progress_user, i + 1, steps);
    im->seconds_callbacks += now_s() - t_cb;
    s = stop ? dvk_fail(vk, DVK_ERR_CANCELLED, "cancelled") : dvk_check_cancel(vk, p->cancel);
    if (s == DVK_OK && i + 1 < steps) s = dvk_transformer_decode(vk, &m->tf, st, step_codes, logits);
  }
  im->seconds_decode = now_s() - t0 - im->seconds_prefill - im->seconds_callbacks;
  for (uint32_t b = 0; s == DVK_OK && b < n; b++) mean_logprob[b] = (float)(logprob_sum[b] / steps);
  dvk_sampler_free(&sampler);
  beam_scratch_free(&bs);
  free(logprob_sum);
  free(logits);
  free(rng);
  free(step_codes);
  free(null_ids);
  return s;
}

/* Scores the n candidates codes [n, G*G] and moves the `keep` best to the front (dvk_reranker_pick, the pool from
 * dvk_reranker_pool). Fills im->scores, im->candidates and im->mean_logprob (in the kept order). */
static dvk_status rerank(const run *r, int32_t *codes, const float *mean_logprob, dvk_images *im) {
  dvk_model *m = r->m;
  const uint32_t n = r->s->candidates, keep = r->s->n_images;
  const size_t gg = (size_t)m->cfg.dalle.grid * m->cfg.dalle.grid;
  float *scores = malloc(n * sizeof *scores);
  uint8_t *in_pool = malloc(n);
  int32_t *picked = malloc(keep * gg * sizeof *picked);
  im->scores = malloc(keep * sizeof *im->scores);
  im->candidates = malloc(keep * sizeof *im->candidates);
  im->mean_logprob = malloc(keep * sizeof *im->mean_logprob);
  dvk_status s = DVK_OK;
  if (!scores || !in_pool || !picked || !im->scores || !im->candidates || !im->mean_logprob ||
      dvk_reranker_pool(mean_logprob, n, r->s->reranker_pool, in_pool) != DVK_OK)
    s = dvk_fail(m->ctx->vk, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  if (s == DVK_OK) s = dvk_reranker_score(m->ctx->vk, &m->rr, r->text, codes, n, scores, NULL, NULL);
  if (s == DVK_OK && dvk_reranker_pick(scores, in_pool, codes, n, gg, keep, im->candidates) != DVK_OK)
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

/* The image prompt's codes [G*G] from its RGB8 pixels (dvk_encode_image). */
static dvk_status encode_prompt(dvk_model *m, const uint8_t *rgb, int32_t **out) {
  const uint32_t G = m->cfg.dalle.grid;
  *out = malloc((size_t)G * G * sizeof **out);
  if (!*out) return dvk_fail(m->ctx->vk, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  dvk_status s = dvk_encode_image(m, rgb, *out, NULL);
  if (s != DVK_OK) {
    char why[sizeof m->ctx->vk->error];
    snprintf(why, sizeof why, "%s", m->ctx->vk->error);
    dvk_fail(m->ctx->vk, s, "image prompt: %.900s", why);
  }
  return s;
}

dvk_status dvk_generate(dvk_model *m, const dvk_generate_params *p, dvk_images **out) {
  *out = NULL;
  dvk_device *vk = m->ctx->vk;
  dvk_settings set;
  DVK_TRY(dvk_generate_resolve(m, p, &set));
  const double t0 = now_s();
  const dvk_dalle_config *d = &m->cfg.dalle;
  const uint32_t n = set.candidates, G = d->grid, R = m->codec.image_size, kept = set.n_images;
  const uint32_t seqs = sequences(n, set.cond_scale);
  run *r = malloc(sizeof *r + d->text_len * sizeof *r->text);
  int32_t *codes = malloc((size_t)n * G * G * sizeof *codes);
  int32_t *encoded = NULL;
  float *mean_logprob = malloc(n * sizeof *mean_logprob);
  dvk_images *im = calloc(1, sizeof *im);
  dvk_arena *arena = NULL;
  dvk_tf_state st = {0};
  dvk_status s = DVK_OK;
  if (im) {
    im->settings = set;
    im->pixels = malloc(kept * sizeof *im->pixels);
    if (im->pixels) im->pixels[0] = malloc((size_t)kept * R * R * 3); /* every image, in one allocation */
  }
  if (!r || !codes || !mean_logprob || !im || !im->pixels || !im->pixels[0])
    s = dvk_fail(vk, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  if (s == DVK_OK) {
    *r = (run){.m = m, .p = p, .s = &set, .prefix = p->image_prefix};
    s = prompt_ids(m, p->prompt, r->text, &im->prompt_tokens, &im->dropped_tokens);
  }
  if (s == DVK_OK && p->image_prompt) {
    s = encode_prompt(m, p->image_prompt, &encoded);
    r->prefix = encoded;
  }
  if (s == DVK_OK) s = dvk_check_generation_memory(m, n, seqs / n);
  if (s == DVK_OK) s = dvk_arena_create(vk, 0, &arena);
  if (s == DVK_OK) s = dvk_generation_oom_advice(m, n, seqs / n, dvk_tf_state_create(vk, arena, &m->tf, seqs, &st));
  if (s == DVK_OK) s = sample_codes(r, &st, codes, mean_logprob, im);
  const double t_rerank = now_s();
  if (s == DVK_OK) s = dvk_check_cancel(vk, p->cancel); /* the stages below check it too: the decoder per image */
  if (s == DVK_OK && set.reranked)
    s = dvk_generation_oom_advice(m, n, seqs / n, rerank(r, codes, mean_logprob, im));
  else if (s == DVK_OK) { /* not reranked: the first n_images (= every) candidates, in sampling order */
    im->mean_logprob = mean_logprob;
    mean_logprob = NULL;
  }
  const double t_dvae = now_s();
  if (s == DVK_OK) {
    im->seconds_reranker = t_dvae - t_rerank;
    s = dvk_generation_oom_advice(m, n, seqs / n,
                                  dvk_image_codec_decode(vk, arena, &m->codec, codes, kept, im->pixels[0], NULL, p->cancel));
    im->seconds_dvae = now_s() - t_dvae;
  }
  if (s != DVK_OK) dvk_discard(vk); /* an op that failed part-way may leave commands on `arena`'s buffers */
  dvk_tf_state_free(&st);
  dvk_arena_destroy(arena);
  free(r);
  free(codes);
  free(encoded);
  free(mean_logprob);
  if (s != DVK_OK) {
    dvk_images_free(im);
    return s;
  }
  for (uint32_t i = 1; i < kept; i++) im->pixels[i] = im->pixels[0] + (size_t)i * R * R * 3;
  im->count = kept;
  im->width = im->height = R;
  im->stride = 3 * R;
  im->seconds = now_s() - t0;
  *out = im;
  return DVK_OK;
}
