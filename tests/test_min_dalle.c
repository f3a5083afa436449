/* DALL-E Mini / Mega (docs/model-format.md §9) against goldens computed by kuprel/min-dalle's own classes
 * (tests/data/min_dalle/goldens.gguf; make_goldens.py there lists every tensor), on the tiny files of that
 * folder converted by tools/convert.py dalle-mini (tests/test_min_dalle.sh runs it for f32 and f16):
 *   - guided teacher forcing (internal API): dvk_transformer_prefill_guided with the caption row of enc.text_ids
 *     as text and its unconditional row as null, then one decode step per code of dec.codes (image input j is
 *     code j-1); the logits of steps 0 and 255 against dec.logits (its row 1 is the caption = engine row 0, its
 *     row 0 the unconditional = engine row 1; the first Vi = 16384 columns), relative error <= tol; at every
 *     step the 8 largest super-conditioned logits u (1 - f) + c f (f = 16) against dec.sc_top / dec.sc_top_ids:
 *     values within tol of the largest, and an id may differ from min-dalle's only where the engine scores
 *     min-dalle's id within that tolerance of its own (a near tie);
 *   - greedy generation through the public API (dvk_generate: the prompt golden.prompt through the model's
 *     BPE tokenizer, top_k 1, cond_scale 16): the codes of every step (on_step) equal gen.greedy; an f16 file
 *     may part from it at a near tie only (the guided logits of both codes within tol, as above). The cancel flag
 *     is set after the last step, so the generation stops before the full-size VQGAN decode.
 * tol: 1e-4 for f32 files, 3e-3 for f16 (general.file_type). The VQGAN of the same files is checked by
 * tests/test_vqgan.c (the .sh script).
 *
 * Usage: test_min_dalle MODEL.gguf GOLDENS.gguf [--cond-scale F] [--seed N] [--filter S]
 * (--cond-scale: the factor the test applies, default 16 as min-dalle's goldens; another value must fail). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model/config.h"
#include "model/gguf.h"
#include "model/transformer.h"

enum { TOP = 8 }; /* dec.sc_top holds the 8 largest per step */

typedef struct goldens {
  gguf_file *f;
  const float *text_ids; /* [2, T]: row 0 unconditional, row 1 the caption */
  const float *codes;    /* [N] the code path */
  const float *logits;   /* [2 steps (0, N-1), 2 rows, V + 1] */
  const float *sc_ids, *sc_top; /* [N, TOP] */
  const float *greedy;   /* [N] */
  uint64_t v1;           /* V + 1 columns of dec.logits */
  char prompt[512];
} goldens;

/* A golden f32 tensor with its element count checked (n = 0: any; *count receives it). */
static const float *tensor(const gguf_file *g, const char *name, uint64_t n, uint64_t *count) {
  const gguf_tensor *t = gguf_find_tensor(g, name);
  if (!t || t->type != GGUF_TENSOR_F32 || (n && t->n_elements != n)) {
    printf("     %s: tensor '%s' missing or not f32 of %llu elements\n", gguf_name(g), name, (unsigned long long)n);
    return NULL;
  }
  if (count) *count = t->n_elements;
  return t->data;
}

static int goldens_open(const char *path, uint32_t T, uint32_t N, goldens *g) {
  dvk_error err = {""};
  const gguf_string *prompt = NULL;
  uint64_t n_logits = 0;
  if (gguf_open(path, &g->f, &err) != DVK_OK || gguf_get_string(g->f, "golden.prompt", &prompt, &err) != DVK_OK) {
    printf("     %s\n", err.msg);
    return 0;
  }
  snprintf(g->prompt, sizeof g->prompt, "%.*s", (int)prompt->len, prompt->s);
  g->text_ids = tensor(g->f, "enc.text_ids", 2ull * T, NULL);
  g->codes = tensor(g->f, "dec.codes", N, NULL);
  g->logits = tensor(g->f, "dec.logits", 0, &n_logits);
  g->sc_ids = tensor(g->f, "dec.sc_top_ids", (uint64_t)N * TOP, NULL);
  g->sc_top = tensor(g->f, "dec.sc_top", (uint64_t)N * TOP, NULL);
  g->greedy = tensor(g->f, "gen.greedy", N, NULL);
  g->v1 = n_logits / 4;
  return g->text_ids && g->codes && g->logits && g->sc_ids && g->sc_top && g->greedy && n_logits == 4 * g->v1;
}

/* The TOP largest of v [n], largest first (the lowest index first among equal values). */
static void top_of(const float *v, uint32_t n, uint32_t *ids, float *vals) {
  for (int k = 0; k < TOP; k++) ids[k] = UINT32_MAX, vals[k] = -INFINITY;
  for (uint32_t i = 0; i < n; i++) {
    if (!(v[i] > vals[TOP - 1])) continue;
    int k = TOP - 1;
    for (; k > 0 && v[i] > vals[k - 1]; k--) ids[k] = ids[k - 1], vals[k] = vals[k - 1];
    ids[k] = i, vals[k] = v[i];
  }
}

/* The engine's logits of one step [2, vi] (caption, unconditional) against dec.logits step k. */
static double step_logits_err(const float *logits, const goldens *g, int k, uint32_t vi) {
  double worst = 0;
  for (int row = 0; row < 2; row++) { /* engine row 0 = golden row 1 (the caption) */
    double e = th_rel_err(logits + (size_t)row * vi, g->logits + ((size_t)k * 2 + (1 - row)) * g->v1, vi);
    if (!(e <= worst)) worst = e;
  }
  return worst;
}

static void test_teacher_forced(th_ctx *t, const goldens *g, const dvk_model_config *cfg,
                                gguf_file *f, double tol, float factor) {
  if (!th_case(t, "guided logits and super-conditioned top-%d along dec.codes (factor %g)", TOP, factor)) return;
  dvk_error err = {""};
  dvk_transformer tf = {0};
  dvk_tf_state st = {0};
  const uint32_t T = cfg->dalle.text_len, vi = cfg->dalle.image_vocab, N = cfg->dalle.grid * cfg->dalle.grid;
  int32_t *ids = malloc(2 * T * sizeof *ids), codes[2];
  float *logits = malloc(2 * (size_t)vi * sizeof *logits), *sc = malloc((size_t)vi * sizeof *sc);
  float *top = malloc((size_t)N * TOP * sizeof *top);
  for (uint32_t j = 0; j < 2 * T; j++) ids[j] = (int32_t)g->text_ids[j];
  dvk_loader L = {.ctx = t->ctx, .arena = t->arena, .file = f, .err = &err};
  dvk_status s = dvk_transformer_load(&L, &cfg->dalle, &tf);
  if (s == DVK_OK) s = dvk_tf_state_create(t->ctx, t->arena, &tf, 2, &st);
  if (s == DVK_OK) s = dvk_transformer_prefill_guided(t->ctx, &tf, &st, ids + T, ids, logits);
  double logit_err = 0, near_tie = 0;
  uint32_t id_diff = 0, id_bad = 0;
  float scale = 0; /* the largest |golden super-conditioned value|: the unit of the tolerance */
  for (uint64_t i = 0; i < (uint64_t)N * TOP; i++) scale = fmaxf(scale, fabsf(g->sc_top[i]));
  for (uint32_t step = 0; s == DVK_OK && step < N; step++) {
    if (step > 0) {
      codes[0] = codes[1] = (int32_t)g->codes[step - 1]; /* image input `step` is code step-1 */
      s = dvk_transformer_decode(t->ctx, &tf, &st, codes, logits);
      if (s != DVK_OK) break;
    }
    if (step == 0 || step == N - 1) {
      double e = step_logits_err(logits, g, step == 0 ? 0 : 1, vi);
      printf("     step %3u: logits rel err %.3g (caption and unconditional rows, %u columns)\n", step, e, vi);
      if (!(e <= logit_err)) logit_err = e;
    }
    for (uint32_t c = 0; c < vi; c++) sc[c] = logits[vi + c] * (1 - factor) + logits[c] * factor;
    uint32_t got[TOP];
    top_of(sc, vi, got, top + (size_t)step * TOP);
    for (int k = 0; k < TOP; k++) {
      const uint32_t want = (uint32_t)g->sc_ids[step * TOP + k];
      if (got[k] == want) continue;
      id_diff++;
      /* min-dalle's id must be a near tie of the engine's own at this rank */
      const double gap = want < vi ? fabs((double)sc[want] - top[step * TOP + k]) / scale : INFINITY;
      if (gap > near_tie) near_tie = gap;
      if (!(gap <= tol)) {
        if (id_bad++ < 4)
          printf("     step %u rank %d: id %u (%.6g), min-dalle %u (%.6g; the engine gives it %.6g)\n", step, k,
                 got[k], top[step * TOP + k], want, g->sc_top[step * TOP + k], want < vi ? sc[want] : NAN);
      }
    }
  }
  if (s != DVK_OK) {
    if (err.msg[0]) printf("     %s\n", err.msg);
    th_case_error(t, "transformer", s);
  } else {
    double top_err = 0;
    for (uint64_t i = 0; i < (uint64_t)N * TOP; i++) top_err = fmax(top_err, fabs((double)top[i] - g->sc_top[i]) / scale);
    printf("     super-conditioned top-%d over %u steps: values max err %.3g (of the largest |value| %.4g); ids "
           "differing %u of %u, every one a near tie: %s (largest gap %.3g)\n",
           TOP, N, top_err, scale, id_diff, N * TOP, id_bad ? "no" : "yes", near_tie);
    const double e = fmax(logit_err, top_err);
    th_case_done(t, e <= tol && id_bad == 0, e, tol);
  }
  dvk_tf_state_free(&st);
  dvk_transformer_free(&tf);
  free(ids), free(logits), free(sc), free(top);
}

typedef struct recorded {
  uint32_t n, next;
  int stop;           /* set after the last step: the generation is cancelled before the image decode */
  const float *want;  /* [n] min-dalle's greedy codes */
  int32_t *codes;     /* [n] the engine's */
  float *gap;         /* [n] guided logit of the engine's code minus that of min-dalle's */
} recorded;

static void on_step(void *user, uint32_t step, const float *logits, const int32_t *codes) {
  recorded *r = user;
  if (step != r->next || step >= r->n) return;
  r->codes[step] = codes[0];
  r->gap[step] = logits[codes[0]] - logits[(int32_t)r->want[step]];
  r->stop = ++r->next == r->n;
}

/* The codes must equal min-dalle's; with f16 weights they may part at a near tie (the engine's guided logits of
 * both codes within tol of the largest super-conditioned value), after which the paths differ. */
static void test_greedy(th_ctx *t, const char *path, const goldens *g, uint32_t N, double tol, float factor) {
  if (!th_case(t, "greedy generation (dvk_generate, top_k 1, cond_scale %g) vs gen.greedy", factor)) return;
  dvk_context *ctx = NULL;
  dvk_model *model = NULL;
  dvk_images *im = NULL;
  char why[512] = "";
  recorded r = {.n = N, .want = g->greedy, .codes = calloc(N, sizeof(int32_t)), .gap = calloc(N, sizeof(float))};
  dvk_context_options co = dvk_context_defaults();
  dvk_status s = dvk_context_create(&co, &ctx, why, sizeof why);
  if (s == DVK_OK) s = dvk_model_load(ctx, path, &model);
  if (s == DVK_OK) {
    dvk_generate_params p = dvk_generate_defaults();
    p.prompt = g->prompt;
    p.n_images = p.candidates = 1;
    p.top_k = 1;
    p.cond_scale = factor;
    p.on_step = on_step;
    p.on_step_user = &r;
    p.cancel = &r.stop; /* the codes are all this case checks: no full-size VQGAN decode (test_vqgan checks it) */
    s = dvk_generate(model, &p, &im);
    if (s == DVK_ERR_CANCELLED && r.stop) s = DVK_OK;
  }
  if (s != DVK_OK) {
    char what[600];
    snprintf(what, sizeof what, "%s", ctx ? dvk_last_error(ctx) : why);
    th_case_error(t, what, s);
  } else {
    uint32_t same = 0, first = N;
    for (uint32_t i = 0; i < r.next; i++)
      if (r.codes[i] == (int32_t)g->greedy[i]) same++;
      else if (first == N) first = i;
    float scale = 0; /* the unit of the tolerance, as in the teacher-forced case */
    for (uint64_t i = 0; i < (uint64_t)N * TOP; i++) scale = fmaxf(scale, fabsf(g->sc_top[i]));
    const double gap = first < N ? r.gap[first] / scale : 0;
    printf("     prompt '%s': %u of %u codes equal", g->prompt, same, N);
    if (first < N)
      printf("; first difference at step %u: %d, min-dalle %d, guided logits %.3g apart (of %.4g)", first,
             r.codes[first], (int)g->greedy[first], r.gap[first], scale);
    printf("\n");
    const int near_tie = tol > 1e-4 && gap <= tol; /* f16 weights: a near tie may flip */
    th_case_done(t, r.next == N && (same == N || near_tie), gap, tol);
  }
  dvk_images_free(im);
  dvk_model_free(model);
  dvk_context_destroy(ctx);
  free(r.codes), free(r.gap);
}

int main(int argc, char **argv) {
  if (argc < 3 || argv[1][0] == '-' || argv[2][0] == '-') {
    fprintf(stderr, "usage: %s MODEL.gguf GOLDENS.gguf [--cond-scale F] [--seed N] [--filter S]\n", argv[0]);
    return 2;
  }
  const char *model = argv[1], *gpath = argv[2];
  float factor = 16; /* min-dalle's supercondition_factor of the goldens */
  int n = 1;
  for (int i = 3; i < argc; i++) { /* take --cond-scale out, pass the rest to the harness */
    if (!strcmp(argv[i], "--cond-scale") && i + 1 < argc) factor = strtof(argv[++i], NULL);
    else argv[n++] = argv[i];
  }
  th_ctx t;
  int rc = th_init(&t, n, argv);
  if (rc) return rc;
  char rerun[2048]; /* failures print argv0 + options to rerun a case: include the files */
  snprintf(rerun, sizeof rerun, "%s %s %s --cond-scale %g", argv[0], model, gpath, factor);
  t.argv0 = rerun;
  printf("model %s, goldens %s\n", model, gpath);
  dvk_error err = {""};
  gguf_file *f = NULL;
  dvk_model_config cfg;
  goldens g = {0};
  uint32_t file_type = 1;
  dvk_status s = gguf_open(model, &f, &err);
  if (s == DVK_OK) s = dvk_config_read(f, &cfg, &err);
  if (s == DVK_OK) gguf_get_u32(f, "general.file_type", &file_type, &err);
  const uint32_t N = s == DVK_OK ? cfg.dalle.grid * cfg.dalle.grid : 0;
  if (s != DVK_OK) {
    printf("FAIL %s\n", err.msg);
    t.failed++;
  } else if (!goldens_open(gpath, cfg.dalle.text_len, N, &g) || g.v1 <= cfg.dalle.image_vocab) {
    printf("FAIL %s does not hold min-dalle goldens of this model's sizes (tests/data/min_dalle/make_goldens.py)\n",
           gpath);
    t.failed++;
  } else {
    const double tol = file_type == 0 ? 1e-4 : 3e-3;
    test_teacher_forced(&t, &g, &cfg, f, tol, factor);
    test_greedy(&t, model, &g, N, tol, factor);
  }
  gguf_close(g.f);
  gguf_close(f);
  return th_finish(&t);
}
