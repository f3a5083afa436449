#define _POSIX_C_SOURCE 200809L
/* Full-size transformer checks (ctest label "slow"): models written by tools/paper_check.py with the shapes
 * of the DALL-E paper or of a public checkpoint (ruDALL-E Malevich v3 / v2, minDALL-E, DALL-E Mini / Mega), random
 * weights, 1-2 layers. The prefill and every decode step of the golden's code path against the PyTorch reference: the
 * max relative logit error of a case must be <= its golden's check.tolerance (2e-5 for f16 files: the reference
 * runs on the same f16 values; a loose bound for q8_0, whose error is stated). Also prints the teacher-forced agreement of the top-1 codes.
 * Goldens with two text rows (text_ids [2, T]: DALL-E Mini / Mega) run guided: dvk_transformer_prefill_guided with
 * the caption row and the unconditional row, one candidate, each row's logits checked; the agreement printed is
 * then that of the super-conditioned logits u (1 - f) + c f (f = check.cond_scale).
 * Usage: test_paper DIR [--seed N] [--filter S] (DIR/cases names the cases; each has CASE.gguf and
 * CASE-golden.gguf). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "model/config.h"
#include "model/transformer.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static uint32_t argmax(const float *v, uint32_t n) {
  uint32_t best = 0;
  for (uint32_t i = 1; i < n; i++)
    if (v[i] > v[best]) best = i;
  return best;
}

/* u (1 - f) + c f of rows c = x[0..vi), u = x[vi..2vi) into out [vi] (min-dalle's super-conditioning). */
static void super_condition(const float *x, uint32_t vi, float f, float *out) {
  for (uint32_t i = 0; i < vi; i++) out[i] = x[vi + i] * (1 - f) + x[i] * f;
}

/* Relative error of one step's logits [rows, vi] (the worst row); keeps the worst and counts top-1 agreement (two
 * rows: of the super-conditioned logits, factor f; scratch [2 vi]). */
static double check_step(const float *logits, const float *ref, uint32_t rows, uint32_t vi, float f, float *scratch,
                         double *worst, uint32_t *agree) {
  double e = 0;
  for (uint32_t r = 0; r < rows; r++) {
    double er = th_rel_err(logits + (size_t)r * vi, ref + (size_t)r * vi, vi);
    if (!(er <= e)) e = er;
  }
  if (!(e <= *worst)) *worst = e;
  if (rows == 2) {
    super_condition(logits, vi, f, scratch);
    super_condition(ref, vi, f, scratch + vi);
    *agree += argmax(scratch, vi) == argmax(scratch + vi, vi);
  } else {
    *agree += argmax(logits, vi) == argmax(ref, vi);
  }
  return e;
}

static void run_case(th_ctx *t, const char *dir, const char *name) {
  if (!th_case(t, "full-size %s", name)) return;
  char path[1024], gpath[1024];
  dvk_error err = {""};
  snprintf(path, sizeof path, "%s/%s.gguf", dir, name);
  snprintf(gpath, sizeof gpath, "%s/%s-golden.gguf", dir, name);
  gguf_file *f = NULL, *g = NULL;
  dvk_model_config cfg = {0};
  dvk_transformer tf = {0};
  dvk_tf_state st = {0};
  float *logits = NULL, *scratch = NULL, tol = 0, factor = 1;
  double t0 = now();
  dvk_status s = gguf_open(path, &f, &err);
  if (s == DVK_OK) s = gguf_open(gpath, &g, &err);
  if (s == DVK_OK) s = gguf_get_f32(g, "check.tolerance", &tol, &err);
  if (s == DVK_OK && gguf_find_key(g, "check.cond_scale")) s = gguf_get_f32(g, "check.cond_scale", &factor, &err);
  if (s == DVK_OK) s = dvk_config_read(f, &cfg, &err);
  dvk_loader L = {.ctx = t->ctx, .arena = t->arena, .file = f, .err = &err};
  if (s == DVK_OK) s = dvk_transformer_load(&L, &cfg.dalle, &tf);
  const gguf_tensor *gi = g ? gguf_find_tensor(g, "text_ids") : NULL, *gc = g ? gguf_find_tensor(g, "codes") : NULL,
                    *gl = g ? gguf_find_tensor(g, "logits") : NULL;
  const uint32_t T = cfg.dalle.text_len, vi = cfg.dalle.image_vocab, G = cfg.dalle.grid;
  const uint32_t rows = gi && T && gi->n_elements == 2ull * T ? 2 : 1; /* 2: guided (caption, unconditional) */
  if (s != DVK_OK || !gi || !gc || !gl || gi->n_elements != (uint64_t)rows * T || gc->n_elements >= (uint64_t)G * G ||
      gl->n_elements != (gc->n_elements + 1) * rows * vi) {
    printf("     %s\n", err.msg[0] ? err.msg : s ? t->ctx->error : "golden tensors do not match the model");
    th_case_error(t, "load", s ? s : DVK_ERR_MODEL_FORMAT);
    goto out;
  }
  printf("     loaded %.0f MiB of weights in %.1fs\n", (double)L.bytes / (1 << 20), now() - t0);
  int32_t *ids = malloc(rows * T * sizeof *ids);
  const float *gids = gi->data, *gcodes = gc->data, *glog = gl->data;
  for (uint32_t j = 0; j < rows * T; j++) ids[j] = (int32_t)gids[j];
  logits = malloc((size_t)rows * vi * sizeof *logits);
  scratch = malloc(2 * (size_t)vi * sizeof *scratch);
  s = dvk_tf_state_create(t->ctx, t->arena, &tf, rows, &st);
  double worst = 0, tp = now(), row_worst = 0;
  uint32_t agree = 0, row_agree = 0, row_steps = 0;
  if (s == DVK_OK && rows == 2) s = dvk_transformer_prefill_guided(t->ctx, &tf, &st, ids, ids + T, logits);
  else if (s == DVK_OK) s = dvk_transformer_prefill(t->ctx, &tf, &st, ids, logits);
  if (s == DVK_OK)
    printf("     prefill (%s): %.1fs, rel err %.3g\n", rows == 2 ? "guided: caption and unconditional" : "text", now() - tp,
           check_step(logits, glog, rows, vi, factor, scratch, &worst, &agree));
  const uint64_t n = gc->n_elements;
  double td = now();
  for (uint64_t k = 0; s == DVK_OK && k < n; k++) {
    int32_t code[2] = {(int32_t)gcodes[k], (int32_t)gcodes[k]}; /* guided: both rows of the candidate */
    double ts = now();
    s = dvk_transformer_decode(t->ctx, &tf, &st, code, logits);
    if (s != DVK_OK) break;
    const uint64_t i = k + 1; /* the image token these logits predict */
    double e = check_step(logits, glog + i * rows * vi, rows, vi, factor, scratch, &row_worst, &row_agree);
    row_steps++;
    if (n <= 8) printf("     decode step %llu: %.2fs, rel err %.3g\n", (unsigned long long)k, now() - ts, e);
    else if ((i + 1) % G == 0 || k + 1 == n) { /* a summary per grid row */
      printf("     image row %2llu: rel err <= %.3g, top-1 %u/%u\n", (unsigned long long)(i / G), row_worst, row_agree,
             row_steps);
      if (!(row_worst <= worst)) worst = row_worst;
      agree += row_agree;
      row_worst = 0;
      row_agree = row_steps = 0;
    }
  }
  if (n <= 8) {
    if (!(row_worst <= worst)) worst = row_worst;
    agree += row_agree;
  }
  free(ids);
  if (s != DVK_OK) th_case_error(t, "transformer", s);
  else {
    printf("     %llu decode steps in %.1fs (%.0f ms/step); max rel err %.3g, top-1 agreement %u/%llu (%.2f%%)\n",
           (unsigned long long)n, now() - td, n ? 1e3 * (now() - td) / n : 0.0, worst, agree, (unsigned long long)n + 1,
           100.0 * agree / (n + 1));
    th_case_done(t, worst <= tol, worst, tol);
  }
out:
  dvk_tf_state_free(&st);
  dvk_transformer_free(&tf);
  gguf_close(f);
  gguf_close(g);
  free(logits), free(scratch);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s DIR [--seed N] [--filter S]\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  argv[1] = argv[0];
  th_ctx t;
  int rc = th_init(&t, argc - 1, argv + 1);
  if (rc) return rc;
  char cases[1024], name[256];
  snprintf(cases, sizeof cases, "%s/cases", dir);
  FILE *cf = fopen(cases, "r");
  if (!cf) {
    fprintf(stderr, "%s: cannot open %s (written by tools/paper_check.py)\n", argv[0], cases);
    th_finish(&t);
    return 2;
  }
  while (fscanf(cf, "%255s", name) == 1) run_case(&t, dir, name);
  fclose(cf);
  return th_finish(&t);
}
