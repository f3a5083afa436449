/* Public API error paths: a generation that fails part-way through recording a step must leave the context
 * usable. The failure is forced by lowering the context's maxStorageBufferRange so that the first decode step
 * records the image embedding and a LayerNorm, then fails at the qkv matmul (its output no longer fits one
 * binding); the next dvk_generate on the same context must give the same pixels as before, with the
 * validation layer silent (no stale commands on freed buffers submitted).
 * Reranking (candidates > n_images): the kept images are exactly the candidates the scores rank best, in order,
 * and the parameter errors (n_images > candidates; a model without a reranker) are reported; the defaults the API
 * resolves (dvk_generate_resolve: the candidate count, why pruning is off, image prompt rows) are the documented
 * ones. Pruning (prune_rows): reported back in dvk_images.settings.prune_rows, changes the images only when it
 * runs, and its parameter errors (a row past
 * G-2; a model without a reranker) are reported; with DVK_PRUNE_OFF or one candidate nothing is pruned.
 * Image prompts (image_prefix): every candidate's first image_prefix_len codes are the given ones (seen through
 * on_step), the rest are sampled (they differ between candidates), and bad prefixes (NULL, too long, a code
 * outside the vocabulary) and dvk_encode_image on a model without a dVAE encoder are reported. Top-k: the model's,
 * the caller's, DVK_TOP_K_OFF, and k above the image vocabulary refused. Timings: time in the caller's callbacks
 * is reported in seconds_callbacks, apart from seconds_decode. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api_internal.h" /* the context's limits (to force the failure) and its validation-message count */
#include "dallevk.h"

static int g_failed;

#define CHECK(cond, ...)                               \
  do {                                                 \
    if (!(cond)) {                                     \
      g_failed++;                                      \
      printf("FAIL %s:%d: ", __FILE__, __LINE__);      \
      printf(__VA_ARGS__);                             \
      printf("\n");                                    \
    }                                                  \
  } while (0)

/* n candidates, of which the reranker keeps `keep` (0: all n returned unscored, in sampling order). */
static dvk_status generate_pruned(dvk_model *m, uint32_t n, uint32_t keep, uint64_t prune_rows, dvk_images **out) {
  dvk_generate_params p = dvk_generate_defaults();
  p.prompt = "red heart";
  p.n_images = keep ? keep : n;
  p.candidates = n;
  p.reranker_always = keep != 0;
  p.seed = 5;
  p.prune_rows = prune_rows;
  return dvk_generate(m, &p, out);
}

static dvk_status generate_keep(dvk_model *m, uint32_t n, uint32_t keep, dvk_images **out) {
  return generate_pruned(m, n, keep, 0, out);
}

static dvk_status generate(dvk_model *m, uint32_t n, dvk_images **out) { return generate_keep(m, n, 0, out); }

typedef struct prefix_watch {
  const int32_t *prefix;
  uint32_t len, n, mismatches, after_differs;
} prefix_watch;

static void watch_prefix(void *user, uint32_t step, const float *logits, const int32_t *codes) {
  (void)logits;
  prefix_watch *w = user;
  for (uint32_t b = 0; b < w->n; b++) {
    if (step < w->len && codes[b] != w->prefix[step]) w->mismatches++;
    if (step >= w->len && codes[b] != codes[0]) w->after_differs++;
  }
}

/* Image prompts on a model without an encoder (the parity model): prefix given through the API directly. */
static void check_image_prefix(dvk_context *ctx, dvk_model *m, uint64_t seed) {
  dvk_model_info info;
  dvk_model_get_info(m, &info);
  const uint32_t gg = info.grid * info.grid;
  int32_t *prefix = malloc(gg * sizeof *prefix);
  uint8_t *rgb = calloc((size_t)info.image_width * info.image_height * 3, 1);
  int32_t *codes = malloc(gg * sizeof *codes);
  if (!prefix || !rgb || !codes) {
    CHECK(0, "out of host memory");
    goto out;
  }
  srand((unsigned)seed);
  for (uint32_t i = 0; i < gg; i++) prefix[i] = rand() % (int)info.image_vocab;
  dvk_generate_params p = dvk_generate_defaults();
  p.prompt = "red heart";
  p.n_images = 3;
  p.seed = seed;
  p.image_prefix = prefix;
  p.image_prefix_len = gg / 2 + 1; /* ends inside a row */
  prefix_watch w = {.prefix = prefix, .len = p.image_prefix_len, .n = p.n_images};
  p.on_step = watch_prefix;
  p.on_step_user = &w;
  dvk_images *im = NULL;
  dvk_status s = dvk_generate(m, &p, &im);
  CHECK(s == DVK_OK && im && im->count == 3, "image prefix of %u codes (seed %llu): %s", p.image_prefix_len,
        (unsigned long long)seed, dvk_last_error(ctx));
  CHECK(w.mismatches == 0, "%u given codes were not used (seed %llu)", w.mismatches, (unsigned long long)seed);
  CHECK(w.after_differs > 0, "after the prefix the 3 candidates sampled identical codes (seed %llu)",
        (unsigned long long)seed);
  dvk_images_free(im);
  im = NULL;
  p.on_step = NULL;
  p.image_prefix = NULL;
  s = dvk_generate(m, &p, &im);
  CHECK(s == DVK_ERR_INVALID_ARGUMENT && !im && strstr(dvk_last_error(ctx), "image_prefix"), "NULL prefix: %d '%s'",
        (int)s, dvk_last_error(ctx));
  p.image_prefix = prefix;
  p.image_prefix_len = gg;
  s = dvk_generate(m, &p, &im);
  CHECK(s == DVK_ERR_INVALID_ARGUMENT && !im && strstr(dvk_last_error(ctx), "image_prefix_len"),
        "prefix of all %u codes: %d '%s'", gg, (int)s, dvk_last_error(ctx));
  p.image_prefix_len = 4;
  prefix[2] = (int32_t)info.image_vocab;
  s = dvk_generate(m, &p, &im);
  CHECK(s == DVK_ERR_INVALID_ARGUMENT && !im && strstr(dvk_last_error(ctx), "image_prefix[2]"),
        "code %u in the prefix: %d '%s'", info.image_vocab, (int)s, dvk_last_error(ctx));
  CHECK(!info.has_encoder, "the parity model should have no dVAE encoder");
  s = dvk_encode_image(m, rgb, codes, NULL);
  CHECK(s == DVK_ERR_UNSUPPORTED && strstr(dvk_last_error(ctx), "encoder"), "encode without an encoder: %d '%s'",
        (int)s, dvk_last_error(ctx));
out:
  free(prefix);
  free(rgb);
  free(codes);
}

/* Whether two image sets (both non-NULL) hold the same count and pixel bytes. */
static int same_images(const dvk_images *a, const dvk_images *b) {
  const size_t bytes = (size_t)a->height * a->stride;
  int same = a->count == b->count && a->height == b->height && a->stride == b->stride;
  for (uint32_t i = 0; same && i < a->count; i++) same = memcmp(a->pixels[i], b->pixels[i], bytes) == 0;
  return same;
}

/* The top-k a file recommends (dalle.top_k, here set on the loaded config as the loader would; the key itself is
 * read in test_cli): used when the caller leaves top_k 0, overridden by the caller's k, turned off by
 * DVK_TOP_K_OFF, reported with its source. A recommended top-k of 1 samples the argmax, so every candidate is
 * the same image, which plain sampling (ref: 2 candidates, seed 5) does not give. */
static void check_top_k(dvk_context *ctx, dvk_model *m, const dvk_images *ref) {
  dvk_model_info info;
  dvk_model_get_info(m, &info);
  dvk_generate_params p = dvk_generate_defaults();
  p.prompt = "red heart";
  p.n_images = 2;
  p.seed = 5;
  dvk_settings set;
  dvk_status s = dvk_generate_resolve(m, &p, &set);
  CHECK(s == DVK_OK && info.top_k == 0 && set.top_k == 0 && set.top_k_from == DVK_FROM_MODEL,
        "a file without dalle.top_k: info %u, resolved %u from %d", info.top_k, set.top_k, (int)set.top_k_from);
  m->cfg.dalle.top_k = 1;
  dvk_model_get_info(m, &info);
  s = dvk_generate_resolve(m, &p, &set);
  CHECK(s == DVK_OK && info.top_k == 1 && set.top_k == 1 && set.top_k_from == DVK_FROM_MODEL,
        "dalle.top_k 1: info %u, resolved %u from %d", info.top_k, set.top_k, (int)set.top_k_from);
  dvk_images *greedy = NULL, *off = NULL;
  s = dvk_generate(m, &p, &greedy);
  CHECK(s == DVK_OK && greedy->settings.top_k == 1, "generation with the model's top-k 1: %s", dvk_last_error(ctx));
  if (greedy && ref) {
    const size_t bytes = (size_t)greedy->height * greedy->stride;
    CHECK(memcmp(greedy->pixels[0], greedy->pixels[1], bytes) == 0, "the model's top-k 1: the candidates differ");
    CHECK(memcmp(ref->pixels[0], ref->pixels[1], bytes) != 0, "plain sampling gave two equal candidates");
  }
  p.top_k = 3;
  s = dvk_generate_resolve(m, &p, &set);
  CHECK(s == DVK_OK && set.top_k == 3 && set.top_k_from == DVK_FROM_PARAMS, "top_k 3 over the model's 1: %u from %d",
        set.top_k, (int)set.top_k_from);
  p.top_k = DVK_TOP_K_OFF;
  s = dvk_generate(m, &p, &off);
  CHECK(s == DVK_OK && off->settings.top_k == 0 && off->settings.top_k_from == DVK_FROM_PARAMS,
        "DVK_TOP_K_OFF over the model's 1: %s", dvk_last_error(ctx));
  if (off && ref) CHECK(same_images(ref, off), "DVK_TOP_K_OFF differs from plain sampling");
  p.top_k = info.image_vocab; /* every code: the largest k there is */
  s = dvk_generate_resolve(m, &p, &set);
  CHECK(s == DVK_OK && set.top_k == info.image_vocab, "top_k = image_vocab %u: %s", info.image_vocab, dvk_last_error(ctx));
  p.top_k = info.image_vocab + 1;
  char want[64];
  snprintf(want, sizeof want, "top_k (%u) must be at most %u", p.top_k, info.image_vocab);
  s = dvk_generate_resolve(m, &p, &set);
  CHECK(s == DVK_ERR_INVALID_ARGUMENT && set.invalid_param && !strcmp(set.invalid_param, "top_k") &&
            strstr(dvk_last_error(ctx), want),
        "top_k = image_vocab + 1: status %d, param %s, message '%s' (want '%s')", (int)s,
        set.invalid_param ? set.invalid_param : "NULL", dvk_last_error(ctx), want);
  m->cfg.dalle.top_k = 0;
  dvk_images_free(greedy);
  dvk_images_free(off);
}

/* Sleeps in on_step after every image row: that time is in seconds_callbacks, not in seconds_decode. */
static void slow_step(void *user, uint32_t step, const float *logits, const int32_t *codes) {
  (void)logits, (void)codes;
  const uint32_t *grid = user;
  if ((step + 1) % *grid == 0) nanosleep(&(struct timespec){.tv_nsec = 40 * 1000 * 1000}, NULL);
}

static void check_callback_time(dvk_context *ctx, dvk_model *m) {
  dvk_model_info info;
  dvk_model_get_info(m, &info);
  dvk_generate_params p = dvk_generate_defaults();
  p.prompt = "red heart";
  p.seed = 5;
  p.on_step = slow_step;
  p.on_step_user = &info.grid;
  dvk_images *im = NULL;
  dvk_status s = dvk_generate(m, &p, &im);
  CHECK(s == DVK_OK, "generation with a slow on_step: %s", dvk_last_error(ctx));
  if (!im) return;
  const double slept = 0.040 * info.grid, stages = im->seconds_prefill + im->seconds_decode + im->seconds_callbacks +
                                                   im->seconds_reranker + im->seconds_dvae;
  CHECK(im->seconds_callbacks >= slept && im->seconds_decode >= 0 && stages <= im->seconds + 1e-3,
        "slept %.3fs in on_step: callbacks %.3fs, decode %.3fs; the stages add up to %.3fs of %.3fs", slept,
        im->seconds_callbacks, im->seconds_decode, stages, im->seconds);
  dvk_images_free(im);
}

/* the best 3 of 6 candidates against all 6 (unscored), on a model with a reranker. */
static void check_rerank(dvk_context *ctx, dvk_model *plain, const char *path) {
  dvk_model *m = NULL;
  if (dvk_model_load(ctx, path, &m) != DVK_OK) {
    CHECK(0, "cannot load %s: %s", path, dvk_last_error(ctx));
    return;
  }
  dvk_model_info info;
  dvk_model_get_info(m, &info);
  CHECK(info.has_reranker, "%s should have a reranker", path);
  dvk_images *all = NULL, *best = NULL, *none = NULL;
  dvk_status s = generate_keep(m, 6, 0, &all);
  CHECK(s == DVK_OK && all && all->count == 6 && !all->scores && !all->candidates, "keep 0: %s", dvk_last_error(ctx));
  s = generate_keep(m, 6, 3, &best);
  CHECK(s == DVK_OK && best && best->count == 3 && best->scores && best->candidates, "keep 3: %s", dvk_last_error(ctx));
  if (all && best && best->scores && best->candidates) {
    const size_t bytes = (size_t)best->height * best->stride;
    for (uint32_t i = 0; i < 3; i++) {
      const uint32_t c = best->candidates[i];
      CHECK(c < 6 && isfinite(best->scores[i]), "kept image %u: candidate %u, score %g", i, c, best->scores[i]);
      if (c < 6) CHECK(memcmp(best->pixels[i], all->pixels[c], bytes) == 0, "kept image %u is not candidate %u", i, c);
      if (i) CHECK(best->scores[i] <= best->scores[i - 1] && c != best->candidates[i - 1], "kept images out of order");
    }
    printf("rerank: kept candidates %u %u %u, scores %.4f %.4f %.4f\n", best->candidates[0], best->candidates[1],
           best->candidates[2], best->scores[0], best->scores[1], best->scores[2]);
  }
  s = generate_keep(m, 2, 3, &none);
  CHECK(s == DVK_ERR_INVALID_ARGUMENT && !none && strstr(dvk_last_error(ctx), "candidates"), "n_images > candidates: %d '%s'",
        (int)s, dvk_last_error(ctx));
  s = generate_keep(plain, 2, 1, &none);
  CHECK(s == DVK_ERR_UNSUPPORTED && !none && strstr(dvk_last_error(ctx), "reranker"),
        "keep on a model without a reranker: %d '%s'", (int)s, dvk_last_error(ctx));

  /* greedy sampling (top-k 1): all 6 candidates are the same image; the best 3 are then candidates 0, 1, 2
   * (the distinct one first, then duplicates, equal scores: lower index first) */
  {
    dvk_generate_params g = dvk_generate_defaults();
    g.prompt = "red heart";
    g.n_images = 3;
    g.candidates = 6;
    g.top_k = 1;
    dvk_images *same = NULL;
    s = dvk_generate(m, &g, &same);
    CHECK(s == DVK_OK && same && same->count == 3, "greedy keep 3: %s", dvk_last_error(ctx));
    if (same && same->candidates)
      CHECK(same->candidates[0] == 0 && same->candidates[1] == 1 && same->candidates[2] == 2 &&
                same->scores[0] == same->scores[2],
            "greedy keep 3: candidates %u %u %u", same->candidates[0], same->candidates[1], same->candidates[2]);
    dvk_images_free(same);
  }

  /* defaults resolved by the API: the file names no candidate count, so n_images 2 samples 32 and reranks */
  {
    dvk_generate_params d = dvk_generate_defaults();
    d.n_images = 2;
    dvk_settings set;
    s = dvk_generate_resolve(m, &d, &set);
    CHECK(s == DVK_OK && info.candidates == 32 && set.candidates == 32 && set.candidates_from == DVK_FROM_DEFAULT &&
              set.reranked && set.reranker_pool_size == 16 && set.prune_state == DVK_PRUNE_OFF_MODEL_NONE,
          "defaults on a reranker model: %d, candidates %u (info %u), reranked %d, pool %u, prune state %d", (int)s,
          set.candidates, info.candidates, set.reranked, set.reranker_pool_size, (int)set.prune_state);
    d.n_images = 40; /* more images than the model's count: all sampled, none reranked away */
    s = dvk_generate_resolve(m, &d, &set);
    CHECK(s == DVK_OK && set.candidates == 40 && !set.reranked && !set.invalid_param,
          "n_images 40: candidates %u, reranked %d", set.candidates, set.reranked);
    d.top_p = 1.5f; /* a failed check names the field at fault */
    s = dvk_generate_resolve(m, &d, &set);
    CHECK(s == DVK_ERR_INVALID_ARGUMENT && set.invalid_param && strcmp(set.invalid_param, "top_p") == 0,
          "top_p 1.5: status %d, invalid_param %s", (int)s, set.invalid_param ? set.invalid_param : "NULL");
    d.top_p = 0;
    d.n_images = 1;
    d.candidates = 3;
    d.prune_rows = 1;
    s = dvk_generate_resolve(m, &d, &set);
    CHECK(s == DVK_OK && set.candidates == 3 && set.candidates_from == DVK_FROM_PARAMS && set.prune_rows == 1 &&
              set.prune_state == DVK_PRUNE_RAN && set.prune_rows_from == DVK_FROM_PARAMS,
          "candidates 3, prune row 0: candidates %u, rows %#llx, state %d", set.candidates,
          (unsigned long long)set.prune_rows, (int)set.prune_state);
    d.candidates = 1;
    s = dvk_generate_resolve(m, &d, &set);
    CHECK(s == DVK_OK && set.prune_rows == 0 && set.prune_state == DVK_PRUNE_OFF_ONE_CANDIDATE,
          "one candidate: rows %#llx, state %d", (unsigned long long)set.prune_rows, (int)set.prune_state);
    d.candidates = 4;
    d.image_prefix = (const int32_t[12]){0};
    d.image_prefix_len = 2 * info.grid; /* rows 0 and 1 given: pruning after row 0 has nothing to choose */
    s = dvk_generate_resolve(m, &d, &set);
    CHECK(s == DVK_OK && set.prune_rows == 0 && set.prune_state == DVK_PRUNE_OFF_IN_PREFIX,
          "prune row inside the prefix: rows %#llx, state %d", (unsigned long long)set.prune_rows, (int)set.prune_state);
    d.image_prefix = NULL;
    d.image_prefix_len = 0;
    d.prune_rows = DVK_PRUNE_OFF;
    s = dvk_generate_resolve(m, &d, &set);
    CHECK(s == DVK_OK && set.prune_state == DVK_PRUNE_OFF_ASKED, "DVK_PRUNE_OFF: state %d", (int)set.prune_state);
    d = dvk_generate_defaults();
    d.n_images = 2;
    s = dvk_generate_resolve(plain, &d, &set);
    CHECK(s == DVK_OK && set.candidates == 2 && !set.reranked && set.prune_state == DVK_PRUNE_OFF_NO_RERANKER,
          "defaults without a reranker: %d, candidates %u, reranked %d, prune state %d", (int)s, set.candidates,
          set.reranked, (int)set.prune_state);
    d.image_prompt_rows = 2;
    s = dvk_generate_resolve(plain, &d, &set);
    CHECK(s == DVK_ERR_INVALID_ARGUMENT && strstr(dvk_last_error(ctx), "image_prompt_rows needs image_prompt"),
          "rows without an image prompt: %d '%s'", (int)s, dvk_last_error(ctx));
    uint8_t rgb[3] = {0};
    d.image_prompt = rgb; /* never read: the checks fail first */
    d.image_prompt_rows = info.grid;
    s = dvk_generate_resolve(m, &d, &set);
    CHECK(s == DVK_ERR_INVALID_ARGUMENT && strstr(dvk_last_error(ctx), "image_prompt_rows must be at most"),
          "rows = grid: %d '%s'", (int)s, dvk_last_error(ctx));
    d.image_prompt_rows = 0;
    s = dvk_generate_resolve(plain, &d, &set);
    CHECK(s == DVK_ERR_UNSUPPORTED && strstr(dvk_last_error(ctx), "dVAE encoder"),
          "image prompt without an encoder: %d '%s'", (int)s, dvk_last_error(ctx));
  }

  /* beam search's parameters: resolved (no pruning, the rows sampled first) and refused where they cannot apply */
  {
    static const struct {
      dvk_decoding decoding;
      uint32_t candidates, sampled_rows;
      uint64_t prune_rows;
      const char *param, *message; /* NULL: accepted */
    } cases[] = {
      {DVK_DECODING_BEAM, 4, 2, 0, NULL, NULL},
      {(dvk_decoding)7, 4, 0, 0, "decoding", "decoding must be sample or beam"},
      {DVK_DECODING_SAMPLE, 4, 1, 0, "beam_sampled_rows", "beam_sampled_rows needs beam search"},
      {DVK_DECODING_BEAM, 4, 99, 0, "beam_sampled_rows", "beam_sampled_rows must be at most"},
      {DVK_DECODING_BEAM, 4, 0, 1, "prune_rows", "pruning does not apply to beam search"},
      {DVK_DECODING_BEAM, 0, 0, 0, "candidates", "must be at most"}, /* 0 here: image_vocab + 1 */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
      dvk_generate_params d = dvk_generate_defaults();
      d.decoding = cases[c].decoding;
      d.candidates = cases[c].candidates ? cases[c].candidates : info.image_vocab + 1;
      d.beam_sampled_rows = cases[c].sampled_rows;
      d.prune_rows = cases[c].prune_rows;
      dvk_settings set;
      s = dvk_generate_resolve(m, &d, &set);
      if (!cases[c].param)
        CHECK(s == DVK_OK && set.decoding == DVK_DECODING_BEAM && set.beam_sampled_rows == cases[c].sampled_rows &&
                  set.prune_state == DVK_PRUNE_OFF_BEAM && set.prune_rows == 0,
              "beam search of width 4 after 2 sampled rows: %d '%s', decoding %d, prune state %d", (int)s,
              dvk_last_error(ctx), (int)set.decoding, (int)set.prune_state);
      else
        CHECK(s == DVK_ERR_INVALID_ARGUMENT && set.invalid_param && !strcmp(set.invalid_param, cases[c].param) &&
                  strstr(dvk_last_error(ctx), cases[c].message),
              "beam case %zu: status %d, param %s, message '%s' (want %s: '%s')", c, (int)s,
              set.invalid_param ? set.invalid_param : "NULL", dvk_last_error(ctx), cases[c].param, cases[c].message);
    }
    /* a model that recommends beam search (dalle.decoding, beam_width, beam_sampled_rows): its defaults apply */
    m->cfg.dalle.beam_search = 1, m->cfg.dalle.beam_width = 4, m->cfg.dalle.beam_sampled_rows = 2;
    dvk_generate_params d = dvk_generate_defaults();
    dvk_settings set;
    s = dvk_generate_resolve(m, &d, &set);
    CHECK(s == DVK_OK && set.decoding == DVK_DECODING_BEAM && set.decoding_from == DVK_FROM_MODEL &&
              set.candidates == 4 && set.candidates_from == DVK_FROM_MODEL && set.beam_sampled_rows == 2 &&
              set.beam_sampled_rows_from == DVK_FROM_MODEL && set.prune_state == DVK_PRUNE_OFF_BEAM,
          "the model's beam search: %d '%s', decoding %d from %d, candidates %u from %d, rows %u from %d", (int)s,
          dvk_last_error(ctx), (int)set.decoding, (int)set.decoding_from, set.candidates, (int)set.candidates_from,
          set.beam_sampled_rows, (int)set.beam_sampled_rows_from);
    d.beam_sampled_rows = DVK_BEAM_SAMPLED_ROWS_NONE;
    s = dvk_generate_resolve(m, &d, &set);
    CHECK(s == DVK_OK && set.beam_sampled_rows == 0 && set.beam_sampled_rows_from == DVK_FROM_PARAMS,
          "DVK_BEAM_SAMPLED_ROWS_NONE over the model's 2: %u", set.beam_sampled_rows);
    d.decoding = DVK_DECODING_SAMPLE; /* sampling: the width and the rows do not apply */
    s = dvk_generate_resolve(m, &d, &set);
    CHECK(s == DVK_OK && set.decoding == DVK_DECODING_SAMPLE && set.candidates == info.candidates &&
              set.beam_sampled_rows == 0,
          "sampling over the model's beam search: decoding %d, candidates %u (want %u), rows %u", (int)set.decoding,
          set.candidates, info.candidates, set.beam_sampled_rows);
    d.beam_sampled_rows = 1;
    s = dvk_generate_resolve(m, &d, &set);
    CHECK(s == DVK_ERR_INVALID_ARGUMENT && set.invalid_param && !strcmp(set.invalid_param, "beam_sampled_rows"),
          "rows with sampling over the model's beam search: %d", (int)s);
    m->cfg.dalle.beam_search = 0, m->cfg.dalle.beam_width = 0, m->cfg.dalle.beam_sampled_rows = 0;
  }

  /* pruning: after rows 1 and 3 of the grid-6 model; the model recommends none, so 0 = off */
  dvk_images *pruned = NULL, *off = NULL, *one = NULL;
  CHECK(info.prune_rows == 0, "the parity model recommends pruning rows %#llx", (unsigned long long)info.prune_rows);
  s = generate_pruned(m, 6, 0, 0xa, &pruned);
  CHECK(s == DVK_OK && pruned && pruned->settings.prune_rows == 0xa, "prune rows 1, 3: %s", dvk_last_error(ctx));
  s = generate_pruned(m, 6, 0, DVK_PRUNE_OFF, &off);
  CHECK(s == DVK_OK && off && off->settings.prune_rows == 0, "DVK_PRUNE_OFF: %s", dvk_last_error(ctx));
  if (all && off) CHECK(same_images(all, off), "DVK_PRUNE_OFF changed the images");
  if (all && pruned) CHECK(!same_images(all, pruned), "pruning 3 of 6 candidates twice changed no image");
  s = generate_pruned(m, 1, 0, 0xa, &one);
  CHECK(s == DVK_OK && one && one->settings.prune_rows == 0, "one candidate: nothing to prune: %s", dvk_last_error(ctx));
  s = generate_pruned(m, 2, 0, 1ull << (info.grid - 1), &none);
  CHECK(s == DVK_ERR_INVALID_ARGUMENT && !none && strstr(dvk_last_error(ctx), "prune rows must be in 0.."),
        "pruning after the last row: %d '%s'", (int)s, dvk_last_error(ctx));
  s = generate_pruned(plain, 2, 0, 1, &none);
  CHECK(s == DVK_ERR_UNSUPPORTED && !none && strstr(dvk_last_error(ctx), "reranker"),
        "pruning on a model without a reranker: %d '%s'", (int)s, dvk_last_error(ctx));
  dvk_images_free(pruned);
  dvk_images_free(off);
  dvk_images_free(one);
  dvk_images_free(all);
  dvk_images_free(best);
  dvk_model_free(m);
}

/* dvk_generate_check: the settings and message dvk_generate_resolve gives, without touching the context's last
 * error (a server checks requests on its own threads while a generation runs). */
static void check_generate_check(dvk_context *ctx, dvk_model *m) {
  dvk_generate_params base = dvk_generate_defaults();
  base.prompt = "red heart";
  dvk_generate_params cases[6];
  for (int i = 0; i < 6; i++) cases[i] = base;
  cases[1].n_images = 3, cases[1].candidates = 3, cases[1].top_k = 4, cases[1].temperature = 0.5f;
  cases[2].decoding = DVK_DECODING_BEAM, cases[2].beam_sampled_rows = 2, cases[2].n_images = 3;
  cases[3].temperature = -1.0f;                                         /* bad */
  cases[4].n_images = 4, cases[4].candidates = 2;                       /* bad */
  cases[5].decoding = DVK_DECODING_BEAM, cases[5].beam_sampled_rows = 99; /* bad: a 5x5 grid */
  const char *want_param[6] = {NULL, NULL, NULL, "temperature", "candidates", "beam_sampled_rows"};
  for (int i = 0; i < 6; i++) {
    dvk_settings a, b;
    char msg[1024] = "unset";
    const dvk_status sa = dvk_generate_resolve(m, &cases[i], &a);
    char last[1024];
    snprintf(last, sizeof last, "%s", sa == DVK_OK ? "" : dvk_last_error(ctx));
    dvk_generate_params marker = base;
    marker.top_p = 1.5f;
    dvk_settings unused;
    dvk_generate_resolve(m, &marker, &unused); /* a last error that the check must leave alone */
    const dvk_status sb = dvk_generate_check(m, &cases[i], &b, msg, sizeof msg);
    CHECK(sa == sb, "case %d: resolve %d, check %d", i, (int)sa, (int)sb);
    CHECK(strstr(dvk_last_error(ctx), "top_p") != NULL, "case %d: the check changed the last error to '%s'", i,
          dvk_last_error(ctx));
    CHECK(strcmp(msg, last) == 0, "case %d: check's message '%s', resolve's '%s'", i, msg, last);
    const int bad = want_param[i] != NULL;
    CHECK((sb != DVK_OK) == bad && (!bad || (b.invalid_param && !strcmp(b.invalid_param, want_param[i]))),
          "case %d: status %d, param %s (want %s)", i, (int)sb, b.invalid_param ? b.invalid_param : "NULL",
          bad ? want_param[i] : "none");
    if (sa == DVK_OK && sb == DVK_OK)
      CHECK(a.candidates == b.candidates && a.n_images == b.n_images && a.top_k == b.top_k &&
                a.temperature == b.temperature && a.decoding == b.decoding &&
                a.beam_sampled_rows == b.beam_sampled_rows && a.reranked == b.reranked &&
                a.prune_rows == b.prune_rows && a.candidates_from == b.candidates_from,
            "case %d: check resolved other settings than resolve (candidates %u / %u)", i, b.candidates, a.candidates);
  }
  char shortmsg[8] = "unset";
  dvk_settings t;
  CHECK(dvk_generate_check(m, &cases[3], &t, shortmsg, sizeof shortmsg) == DVK_ERR_INVALID_ARGUMENT &&
            strlen(shortmsg) == sizeof shortmsg - 1 && !strncmp(shortmsg, "tempera", 7),
        "a short message buffer: '%s'", shortmsg);
  CHECK(dvk_generate_check(m, &cases[3], &t, NULL, 0) == DVK_ERR_INVALID_ARGUMENT, "no message buffer");
}

int main(void) {
  const char *data = getenv("DVK_TEST_DATA");
  char path[1024];
  /* g5: T 7, d 48, G 5, 4 heads: one sequence's KV cache is (7 + 25) * 48 * 4 = 6144 bytes */
  snprintf(path, sizeof path, "%s/parity/g5-row-col-convwrap-f32.gguf", data ? data : "tests/data");
  dvk_context_options co = dvk_context_defaults();
  dvk_context *ctx = NULL;
  dvk_model *m = NULL;
  char why[512];
  if (dvk_context_create(&co, &ctx, why, sizeof why) != DVK_OK) {
    printf("cannot create a context: %s\n", why);
    return 1;
  }
  if (dvk_model_load(ctx, path, &m) != DVK_OK) {
    printf("cannot load %s: %s\n", path, dvk_last_error(ctx));
    dvk_context_destroy(ctx);
    return 1;
  }

  dvk_images *ref = NULL, *again = NULL, *bad = NULL;
  dvk_status s = generate(m, 2, &ref);
  CHECK(s == DVK_OK, "reference generation: %s", dvk_last_error(ctx));

  /* 16 KiB bindings: the prefill fits (qkv 8 x 144 floats, 2 sequences of cache per chunk); with 64
   * candidates the decode step's embedding (64 x 48 floats = 12 KiB) fits, its qkv (36 KiB) does not. */
  dvk_device *vk = ctx->vk;
  const VkDeviceSize saved = vk->limits.max_storage_range;
  vk->limits.max_storage_range = 16384;
  s = generate(m, 64, &bad);
  vk->limits.max_storage_range = saved;
  CHECK(s == DVK_ERR_INVALID_ARGUMENT && bad == NULL && strstr(dvk_last_error(ctx), "matmul"),
        "forced failure: status %d, message '%s'", (int)s, dvk_last_error(ctx));

  s = generate(m, 2, &again);
  CHECK(s == DVK_OK, "generation after a failed one: %s", dvk_last_error(ctx));
  if (ref && again) CHECK(same_images(ref, again), "the generation after a failed one differs from the reference");
  /* sampling defaults: temperature / top_p 0 resolve to the file's recommended values, 1 when it names none
   * (g5 names none), so the defaults must give exactly what explicit 1 / 1 gives */
  dvk_model_info info;
  dvk_model_get_info(m, &info);
  CHECK(info.temperature == 1.0f && info.top_p == 1.0f && info.cond_scale == 1.0f,
        "g5 has no recommended sampling keys, got temperature %g top_p %g cond_scale %g", (double)info.temperature,
        (double)info.top_p, (double)info.cond_scale);
  dvk_generate_params ep = dvk_generate_defaults();
  CHECK(ep.temperature == 0 && ep.top_p == 0 && ep.cond_scale == 0, "defaults should defer to the model");
  ep.prompt = "red heart";
  ep.n_images = 2;
  ep.seed = 5;
  ep.temperature = 1.0f;
  ep.top_p = 1.0f;
  ep.cond_scale = 1.0f;
  dvk_images *expl = NULL;
  s = dvk_generate(m, &ep, &expl);
  CHECK(s == DVK_OK, "explicit sampling settings: %s", dvk_last_error(ctx));
  if (ref && expl) {
    CHECK(same_images(ref, expl), "defaults (model's values) differ from explicit temperature 1, top_p 1, cond_scale 1");
    const dvk_settings *rs = &ref->settings;
    CHECK(rs->temperature == 1.0f && rs->top_p == 1.0f && rs->cond_scale == 1.0f && rs->temperature_from == DVK_FROM_MODEL,
          "the defaults' reported settings: temperature %g top_p %g cond_scale %g", (double)rs->temperature,
          (double)rs->top_p, (double)rs->cond_scale);
  }
  dvk_images_free(expl);
  ep.temperature = -1.0f;
  s = dvk_generate(m, &ep, &expl);
  CHECK(s == DVK_ERR_INVALID_ARGUMENT && strstr(dvk_last_error(ctx), "temperature"), "temperature -1: %d '%s'", (int)s,
        dvk_last_error(ctx));
  ep.temperature = 1.0f;
  ep.top_p = 1.5f;
  s = dvk_generate(m, &ep, &expl);
  CHECK(s == DVK_ERR_INVALID_ARGUMENT && strstr(dvk_last_error(ctx), "top_p"), "top_p 1.5: %d '%s'", (int)s,
        dvk_last_error(ctx));
  ep.top_p = 1.0f;
  ep.reranker_pool = NAN;
  s = dvk_generate(m, &ep, &expl);
  CHECK(s == DVK_ERR_INVALID_ARGUMENT && strstr(dvk_last_error(ctx), "reranker_pool"), "reranker_pool NaN: %d '%s'",
        (int)s, dvk_last_error(ctx));
  ep.reranker_pool = 1.5f;
  s = dvk_generate(m, &ep, &expl);
  CHECK(s == DVK_ERR_INVALID_ARGUMENT && strstr(dvk_last_error(ctx), "reranker_pool"), "reranker_pool 1.5: %d '%s'",
        (int)s, dvk_last_error(ctx));

  check_image_prefix(ctx, m, 20261201);
  check_top_k(ctx, m, ref);
  check_generate_check(ctx, m);
  check_callback_time(ctx, m);

  snprintf(path, sizeof path, "%s/parity/g6-full-convclamp-f16.gguf", data ? data : "tests/data");
  check_rerank(ctx, m, path);
  CHECK(vk->validation_messages == 0, "the validation layer reported %u message(s)", vk->validation_messages);

  dvk_images_free(ref);
  dvk_images_free(again);
  dvk_model_free(m);
  dvk_context_destroy(ctx);
  printf("test_api: %s\n", g_failed ? "FAILED" : "passed");
  return g_failed ? 1 : 0;
}
