/* Public API: generation parameters: defaults, checks and their resolution into the settings a generation
 * uses (include/dallevk.h dvk_settings). The one place where a default is chosen. */
#include <math.h>

#include "api_internal.h"
#include "model/select.h"

dvk_generate_params dvk_generate_defaults(void) {
  /* every 0: the model's recommended value or the engine's default (dvk_generate_resolve) */
  dvk_generate_params p = {.prompt = "", .n_images = 1};
  return p;
}

/* A failed check: the message (which starts with the parameter's name) and the parameter, for callers that name
 * their own spelling of it (a CLI flag, a JSON field). */
#define BAD(param, status, ...) (out->invalid_param = (param), dvk_error_set(e, (status), __VA_ARGS__))

static dvk_status check_ranges(const dvk_model *m, dvk_error *e, const dvk_generate_params *p, dvk_settings *out) {
  if (!p->prompt) return BAD("prompt", DVK_ERR_INVALID_ARGUMENT, "prompt is NULL");
  if (p->n_images == 0) return BAD("n_images", DVK_ERR_INVALID_ARGUMENT, "n_images must be at least 1");
  if (p->candidates && p->candidates < p->n_images)
    return BAD("candidates", DVK_ERR_INVALID_ARGUMENT, "candidates (%u) must be at least the number of images (%u)", p->candidates,
                    p->n_images);
  if (!(p->temperature >= 0 && isfinite(p->temperature)))
    return BAD("temperature", DVK_ERR_INVALID_ARGUMENT, "temperature must be > 0 (0: the model's default)");
  if (!(p->top_p >= 0 && p->top_p <= 1))
    return BAD("top_p", DVK_ERR_INVALID_ARGUMENT, "top_p must be in (0, 1] (0: the model's default)");
  if (!(p->cond_scale >= 0 && isfinite(p->cond_scale)))
    return BAD("cond_scale", DVK_ERR_INVALID_ARGUMENT, "cond_scale must be >= 0 (0: the model's default; 1: off)");
  if (!(p->reranker_pool >= 0 && p->reranker_pool <= 1))
    return BAD("reranker_pool", DVK_ERR_INVALID_ARGUMENT, "reranker_pool must be in (0, 1] (0: the default, %g)",
                    (double)DVK_DEFAULT_RERANKER_POOL);
  const uint32_t G = m->cfg.dalle.grid, gg = G * G, vi = m->cfg.dalle.image_vocab;
  if (p->top_k != DVK_TOP_K_OFF && p->top_k > vi)
    return BAD("top_k", DVK_ERR_INVALID_ARGUMENT, "top_k (%u) must be at most %u, the model's number of image codes",
               p->top_k, vi);
  if (p->prune_rows && p->prune_rows != DVK_PRUNE_OFF && !dvk_prune_rows_fit(p->prune_rows, G))
    return BAD("prune_rows", DVK_ERR_INVALID_ARGUMENT,
               "prune rows must be in 0..%u (the grid has %u rows; after the last comes the final reranking)", G - 2, G);
  if (p->decoding != DVK_DECODING_DEFAULT && p->decoding != DVK_DECODING_SAMPLE && p->decoding != DVK_DECODING_BEAM)
    return BAD("decoding", DVK_ERR_INVALID_ARGUMENT, "decoding must be sample or beam, got %d", (int)p->decoding);
  if (p->image_prompt && p->image_prefix_len)
    return BAD("image_prompt", DVK_ERR_INVALID_ARGUMENT, "give image_prompt or image_prefix, not both");
  if (p->image_prompt_rows && !p->image_prompt)
    return BAD("image_prompt_rows", DVK_ERR_INVALID_ARGUMENT, "image_prompt_rows needs image_prompt");
  if (p->image_prompt_rows >= G)
    return BAD("image_prompt_rows", DVK_ERR_INVALID_ARGUMENT, "image_prompt_rows must be at most %u for this model (a %ux%u grid), "
                    "got %u", G - 1, G, G, p->image_prompt_rows);
  if (p->image_prefix_len) {
    if (!p->image_prefix)
      return BAD("image_prefix", DVK_ERR_INVALID_ARGUMENT, "image_prefix is NULL but image_prefix_len is %u", p->image_prefix_len);
    if (p->image_prefix_len >= gg)
      return BAD("image_prefix_len", DVK_ERR_INVALID_ARGUMENT, "image_prefix_len (%u) must be less than the %u image tokens",
                      p->image_prefix_len, gg);
    for (uint32_t i = 0; i < p->image_prefix_len; i++)
      if (p->image_prefix[i] < 0 || (uint32_t)p->image_prefix[i] >= vi)
        return BAD("image_prefix", DVK_ERR_INVALID_ARGUMENT, "image_prefix[%u] = %d is not an image code (0..%u)", i,
                        p->image_prefix[i], vi - 1);
  }
  return DVK_OK;
}

/* What the model must hold for p: a reranker to rerank or prune, a dVAE encoder for an image prompt. */
static dvk_status check_features(const dvk_model *m, dvk_error *e, const dvk_generate_params *p, const dvk_settings *s,
                                 dvk_settings *out) {
  const char *name = m->cfg.name;
  if (s->reranked && !m->cfg.reranker.present)
    return BAD("candidates", DVK_ERR_UNSUPPORTED, "reranking %u candidates to keep %u needs a model with a reranker; "
                    "%s has none", s->candidates, s->n_images, name);
  if (p->prune_rows && p->prune_rows != DVK_PRUNE_OFF && !m->cfg.reranker.present)
    return BAD("prune_rows", DVK_ERR_UNSUPPORTED, "pruning needs a model with a reranker; %s has none", name);
  if (p->image_prompt && !m->codec.has_encoder)
    return BAD("image_prompt", DVK_ERR_UNSUPPORTED, DVK_NO_ENCODER_FMT, dvk_image_codec_name(m->codec.kind), name);
  return DVK_OK;
}

/* The decoding and the beam search's sampled rows (the model's unless p names them), and the checks that depend on
 * the decoding. */
static dvk_status resolve_decoding(const dvk_model *m, dvk_error *e, const dvk_generate_params *p, dvk_settings *s,
                                   dvk_settings *out) {
  const dvk_dalle_config *d = &m->cfg.dalle;
  const uint32_t G = d->grid;
  s->decoding = p->decoding ? p->decoding : d->beam_search ? DVK_DECODING_BEAM : DVK_DECODING_SAMPLE;
  s->decoding_from = p->decoding ? DVK_FROM_PARAMS : d->beam_search ? DVK_FROM_MODEL : DVK_FROM_DEFAULT;
  const int beam = s->decoding == DVK_DECODING_BEAM;
  const int rows_given = p->beam_sampled_rows && p->beam_sampled_rows != DVK_BEAM_SAMPLED_ROWS_NONE;
  if (rows_given && !beam)
    return BAD("beam_sampled_rows", DVK_ERR_INVALID_ARGUMENT, "beam_sampled_rows needs beam search (decoding beam)");
  if (rows_given && p->beam_sampled_rows >= G)
    return BAD("beam_sampled_rows", DVK_ERR_INVALID_ARGUMENT, "beam_sampled_rows must be at most %u for this model "
               "(a %ux%u grid), got %u", G - 1, G, G, p->beam_sampled_rows);
  if (beam && p->prune_rows && p->prune_rows != DVK_PRUNE_OFF)
    return BAD("prune_rows", DVK_ERR_INVALID_ARGUMENT, "pruning does not apply to beam search (the search keeps the "
               "likeliest candidates itself; decoding sample prunes)");
  s->beam_sampled_rows = !beam || p->beam_sampled_rows == DVK_BEAM_SAMPLED_ROWS_NONE ? 0
                         : rows_given                                              ? p->beam_sampled_rows
                                                                                   : d->beam_sampled_rows;
  s->beam_sampled_rows_from = p->beam_sampled_rows ? DVK_FROM_PARAMS : DVK_FROM_MODEL;
  return DVK_OK;
}

/* The pruning rows used and, when none, why. */
static void resolve_pruning(const dvk_model *m, const dvk_generate_params *p, dvk_settings *s) {
  const uint32_t G = m->cfg.dalle.grid;
  s->prune_rows_from = p->prune_rows ? DVK_FROM_PARAMS : DVK_FROM_MODEL;
  s->prune_rows = p->prune_rows == DVK_PRUNE_OFF ? 0 : p->prune_rows ? p->prune_rows : m->cfg.reranker.prune_rows;
  s->prune_state = p->prune_rows == DVK_PRUNE_OFF ? DVK_PRUNE_OFF_ASKED
                   : s->decoding == DVK_DECODING_BEAM ? DVK_PRUNE_OFF_BEAM
                   : !m->cfg.reranker.present     ? DVK_PRUNE_OFF_NO_RERANKER
                   : !s->prune_rows               ? DVK_PRUNE_OFF_MODEL_NONE
                   : s->candidates < 2            ? DVK_PRUNE_OFF_ONE_CANDIDATE
                                                  : DVK_PRUNE_RAN;
  if (s->prune_state != DVK_PRUNE_RAN) {
    s->prune_rows = 0;
    return;
  }
  for (uint32_t r = 0; r < 64 && (r + 1) * G <= s->image_prefix_len; r++) /* rows the prefix fixes: all */
    s->prune_rows &= ~(1ull << r);                                         /* candidates alike there */
  if (!s->prune_rows) s->prune_state = DVK_PRUNE_OFF_IN_PREFIX;
}

/* Every check and default; failures go to e only, so that nothing outside m's configuration is touched. */
static dvk_status resolve(const dvk_model *m, const dvk_generate_params *p, dvk_settings *out, dvk_error *e) {
  *out = (dvk_settings){0};
  DVK_TRY(check_ranges(m, e, p, out));
  const dvk_dalle_config *d = &m->cfg.dalle;
  dvk_settings s = {.n_images = p->n_images};
  DVK_TRY(resolve_decoding(m, e, p, &s, out));
  const int beam_width = s.decoding == DVK_DECODING_BEAM && d->beam_width; /* the file's width for its search */
  const uint32_t recommended = beam_width ? d->beam_width : dvk_model_candidates(m);
  s.candidates = p->candidates ? p->candidates : p->n_images > recommended ? p->n_images : recommended;
  s.candidates_from = p->candidates ? DVK_FROM_PARAMS
                      : beam_width || (m->cfg.reranker.present && m->cfg.reranker.candidates) ? DVK_FROM_MODEL
                                                                                             : DVK_FROM_DEFAULT;
  s.reranked = s.candidates > s.n_images || p->reranker_always;
  s.temperature = p->temperature > 0 ? p->temperature : d->temperature;
  s.top_k = p->top_k == DVK_TOP_K_OFF ? 0 : p->top_k ? p->top_k : d->top_k;
  s.top_p = p->top_p > 0 ? p->top_p : d->top_p;
  s.cond_scale = p->cond_scale > 0 ? p->cond_scale : d->cond_scale;
  s.temperature_from = p->temperature > 0 ? DVK_FROM_PARAMS : DVK_FROM_MODEL;
  s.top_k_from = p->top_k ? DVK_FROM_PARAMS : DVK_FROM_MODEL;
  s.top_p_from = p->top_p > 0 ? DVK_FROM_PARAMS : DVK_FROM_MODEL;
  s.cond_scale_from = p->cond_scale > 0 ? DVK_FROM_PARAMS : DVK_FROM_MODEL;
  s.reranker_pool = p->reranker_pool > 0 ? p->reranker_pool : DVK_DEFAULT_RERANKER_POOL;
  s.reranker_pool_size = s.reranked ? dvk_reranker_pool_size(s.reranker_pool, s.candidates) : 0;
  s.image_prefix_len = p->image_prompt ? (p->image_prompt_rows ? p->image_prompt_rows : d->grid / 2) * d->grid
                                       : p->image_prefix_len;
  if (s.decoding == DVK_DECODING_BEAM && s.candidates > d->image_vocab) /* the model's candidates: fewer codes */
    return BAD("candidates", DVK_ERR_INVALID_ARGUMENT, "beam search: candidates (the beam width, %u) must be at most %u"
               ", the model's number of image codes", s.candidates, d->image_vocab);
  DVK_TRY(check_features(m, e, p, &s, out));
  resolve_pruning(m, p, &s);
  *out = s;
  return DVK_OK;
}

dvk_status dvk_generate_check(const dvk_model *m, const dvk_generate_params *p, dvk_settings *out, char *msg,
                              size_t msg_len) {
  dvk_error e = {""};
  const dvk_status s = resolve(m, p, out, &e);
  if (msg && msg_len) snprintf(msg, msg_len, "%s", s == DVK_OK ? "" : e.msg);
  return s;
}

dvk_status dvk_generate_resolve(dvk_model *m, const dvk_generate_params *p, dvk_settings *out) {
  dvk_error e = {""};
  const dvk_status s = resolve(m, p, out, &e);
  return s == DVK_OK ? s : dvk_fail(m->ctx->vk, s, "%s", e.msg);
}
