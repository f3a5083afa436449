/* Model parity: the engine's transformer logits (prefill + 15..35 decode steps with the KV cache, batch of 2)
 * and dVAE decoder pixels against the PyTorch reference (goldens from tools/make_goldens.py, computed in
 * float64 from exactly the weights in each model file). Cases cover full/row/col/conv masks, conv with
 * wrap and clamp, grids 4 to 7, f32 and f16 weights, and the architecture options (m1: minDALL-E-like, r2:
 * ruDALL-E v2-like, r3: ruDALL-E v3-like; docs/model-format.md §2). Where a case's file holds a reranker (clip.*), its
 * text and image features and scores are checked too. Prints the max relative error per case. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model/config.h"
#include "model/dvae.h"
#include "model/gguf.h"
#include "model/reranker.h"
#include "model/transformer.h"

static const char *CASES[] = {"g5-row-col-convwrap", "g6-full-convclamp",  "g7-paper-schedule",
                              "m1-mindalle-like",    "r2-rudalle-v2-like", "r3-rudalle-v3-like"};

static const float *golden(const gguf_file *g, const char *name, uint64_t *n) {
  const gguf_tensor *t = gguf_find_tensor(g, name);
  if (!t || t->type != GGUF_TENSOR_F32) return NULL;
  *n = t->n_elements;
  return t->data;
}

/* One model file against its goldens: text_ids [T], codes [n], logits [(n+1) * Vi] (prefill, then one decode
 * step per code), and when the goldens hold dvae_codes / pixels, the dVAE decode. tol: max relative error. */
static void run_case(th_ctx *t, const char *path, const char *gpath, double tol) {
  dvk_error err = {""};
  gguf_file *f = NULL, *g = NULL;
  dvk_model_config cfg;
  dvk_transformer tf = {0};
  dvk_dvae dv = {0};
  dvk_tf_state st = {0};
  float *logits = NULL, *pixels = NULL;
  int32_t *ids = NULL, *codes2 = NULL, *dcodes = NULL;
  dvk_status s = gguf_open(path, &f, &err);
  if (s == DVK_OK) s = gguf_open(gpath, &g, &err);
  if (s == DVK_OK) s = dvk_config_read(f, &cfg, &err);
  dvk_loader L = {.ctx = t->ctx, .arena = t->arena, .file = f, .err = &err};
  const int with_dvae = g && gguf_find_tensor(g, "dvae_codes");
  if (s == DVK_OK) s = dvk_transformer_load(&L, &cfg.dalle, &tf);
  if (s == DVK_OK && with_dvae) s = dvk_dvae_load(&L, &cfg.dvae, cfg.dalle.grid, &dv);
  if (s != DVK_OK) {
    printf("     %s\n", err.msg[0] ? err.msg : t->ctx->error);
    th_case_error(t, "load", s);
    goto out;
  }
  const uint32_t T = cfg.dalle.text_len, vi = cfg.dalle.image_vocab, B = 2;
  uint64_t n_ids = 0, n_codes = 0, n_logits = 0, n_dc = 0, n_px = 0;
  const float *g_ids = golden(g, "text_ids", &n_ids), *g_codes = golden(g, "codes", &n_codes);
  const float *g_logits = golden(g, "logits", &n_logits), *g_dc = golden(g, "dvae_codes", &n_dc);
  const float *g_px = golden(g, "pixels", &n_px);
  if (!g_ids || !g_codes || !g_logits || (with_dvae && (!g_dc || !g_px)) || n_ids != T ||
      n_logits != (n_codes + 1) * vi) {
    th_case_error(t, "golden file is inconsistent", DVK_ERR_MODEL_FORMAT);
    goto out;
  }
  ids = malloc(T * sizeof *ids);
  codes2 = malloc(B * sizeof *codes2);
  logits = malloc((size_t)B * vi * sizeof *logits);
  dcodes = malloc(n_dc * sizeof *dcodes);
  pixels = malloc(n_px * sizeof *pixels);
  for (uint32_t j = 0; j < T; j++) ids[j] = (int32_t)g_ids[j];
  for (uint64_t j = 0; j < n_dc; j++) dcodes[j] = (int32_t)g_dc[j];
  s = dvk_tf_state_create(t->ctx, t->arena, &tf, B, &st);
  if (s == DVK_OK) s = dvk_transformer_prefill(t->ctx, &tf, &st, ids, logits);
  double worst = 0;
  int worst_step = 0;
  for (uint32_t step = 0; s == DVK_OK && step <= n_codes; step++) {
    if (step > 0) {
      codes2[0] = codes2[1] = (int32_t)g_codes[step - 1];
      s = dvk_transformer_decode(t->ctx, &tf, &st, codes2, logits);
      if (s != DVK_OK) break;
    }
    for (uint32_t b = 0; b < B; b++) {
      double e = th_rel_err(logits + (size_t)b * vi, g_logits + (size_t)step * vi, vi);
      if (!(e <= worst)) { worst = e; worst_step = (int)step; }
    }
  }
  if (s != DVK_OK) {
    th_case_error(t, "transformer", s);
    goto out;
  }
  printf("     logits: prefill + %llu decode steps, batch %u: max rel err %.3g (step %d)\n",
         (unsigned long long)n_codes, B, worst, worst_step);
  if (!with_dvae) {
    th_case_done(t, worst <= tol, worst, tol);
    goto out;
  }
  s = dvk_dvae_decode(t->ctx, t->arena, &dv, dcodes, (uint32_t)(n_dc / (cfg.dalle.grid * cfg.dalle.grid)), NULL, pixels, NULL);
  if (s != DVK_OK) {
    th_case_error(t, "dvae", s);
    goto out;
  }
  double px_err = th_rel_err(pixels, g_px, n_px);
  printf("     dVAE pixels [%llu]: rel err %.3g\n", (unsigned long long)n_px, px_err);
  double e = worst > px_err ? worst : px_err;
  th_case_done(t, worst <= tol && px_err <= tol, e, tol);
out:
  dvk_tf_state_free(&st);
  dvk_transformer_free(&tf);
  dvk_dvae_free(&dv);
  gguf_close(f);
  gguf_close(g);
  free(ids), free(codes2), free(logits), free(dcodes), free(pixels);
}

/* The reranker of a case file against the golden clip_* tensors (only when the file has one). */
static int g_rerank_cases; /* cases whose file holds a reranker: at least one must */

static void run_rerank_case(th_ctx *t, const char *dir, const char *name, const char *dtype) {
  char path[1024], gpath[1024];
  dvk_error err = {""};
  snprintf(path, sizeof path, "%s/parity/%s-%s.gguf", dir, name, dtype);
  snprintf(gpath, sizeof gpath, "%s/parity/%s-%s-golden.gguf", dir, name, dtype);
  gguf_file *f = NULL, *g = NULL;
  dvk_model_config cfg;
  dvk_reranker rr = {0};
  float *scores = NULL, *tfeat = NULL, *ifeat = NULL;
  int32_t *ids = NULL, *codes = NULL;
  dvk_status s = gguf_open(path, &f, &err);
  if (s == DVK_OK) s = dvk_config_read(f, &cfg, &err);
  if (s != DVK_OK || !cfg.reranker.present) goto out; /* run_case reports load failures */
  g_rerank_cases++;
  if (!th_case(t, "rerank %s %s", name, dtype)) goto out;
  s = gguf_open(gpath, &g, &err);
  dvk_loader L = {.ctx = t->ctx, .arena = t->arena, .file = f, .err = &err};
  if (s == DVK_OK) s = dvk_reranker_load(&L, &cfg, &rr);
  if (s != DVK_OK) {
    printf("     %s\n", err.msg[0] ? err.msg : t->ctx->error);
    th_case_error(t, "load", s);
    goto out;
  }
  const uint32_t T = cfg.dalle.text_len, GG = cfg.dalle.grid * cfg.dalle.grid, de = cfg.reranker.d_embed;
  uint64_t n_ids = 0, n_codes = 0, n_tf = 0, n_if = 0, n_sc = 0;
  const float *g_ids = golden(g, "text_ids", &n_ids), *g_codes = golden(g, "clip_codes", &n_codes);
  const float *g_tf = golden(g, "clip_text_feat", &n_tf), *g_if = golden(g, "clip_image_feat", &n_if);
  const float *g_sc = golden(g, "clip_scores", &n_sc);
  const uint32_t n = (uint32_t)(n_codes / GG);
  if (!g_ids || !g_codes || !g_tf || !g_if || !g_sc || n_ids != T || n == 0 || n_codes != (uint64_t)n * GG ||
      n_tf != de || n_if != (uint64_t)n * de || n_sc != n) {
    th_case_error(t, "golden file lacks consistent clip_* tensors", DVK_ERR_MODEL_FORMAT);
    goto out;
  }
  ids = malloc(T * sizeof *ids);
  codes = malloc(n_codes * sizeof *codes);
  scores = malloc(n * sizeof *scores);
  tfeat = malloc(de * sizeof *tfeat);
  ifeat = malloc((size_t)n * de * sizeof *ifeat);
  for (uint32_t j = 0; j < T; j++) ids[j] = (int32_t)g_ids[j];
  for (uint64_t j = 0; j < n_codes; j++) codes[j] = (int32_t)g_codes[j];
  s = dvk_reranker_score(t->ctx, &rr, ids, codes, n, scores, tfeat, ifeat);
  if (s != DVK_OK) {
    th_case_error(t, "rerank", s);
    goto out;
  }
  const double e_tf = th_rel_err(tfeat, g_tf, de), e_if = th_rel_err(ifeat, g_if, (size_t)n * de);
  const double e_sc = th_rel_err(scores, g_sc, n);
  printf("     text feature rel err %.3g, %u image features %.3g, scores %.3g\n", e_tf, n, e_if, e_sc);
  const double tol = strcmp(dtype, "f32") == 0 ? 1e-4 : 3e-3;
  double e = e_tf > e_if ? e_tf : e_if;
  e = e > e_sc ? e : e_sc;
  th_case_done(t, e <= tol, e, tol);
out:
  dvk_reranker_free(&rr);
  gguf_close(f);
  gguf_close(g);
  free(ids), free(codes), free(scores), free(tfeat), free(ifeat);
}

static double tolerance(const char *dtype) { return strcmp(dtype, "f32") == 0 ? 1e-4 : 3e-3; }

static void run_named_case(th_ctx *t, const char *dir, const char *name, const char *dtype) {
  if (!th_case(t, "parity %s %s", name, dtype)) return;
  char path[1024], gpath[1024];
  snprintf(path, sizeof path, "%s/parity/%s-%s.gguf", dir, name, dtype);
  snprintf(gpath, sizeof gpath, "%s/parity/%s-%s-golden.gguf", dir, name, dtype);
  run_case(t, path, gpath, tolerance(dtype));
}

/* test_parity MODEL.gguf GOLDENS.gguf [options]: one file (e.g. a converted upstream checkpoint, tests/test_public.sh)
 * against goldens of the same layout; the tolerance follows the file's general.file_type (0: f32, else f16). */
static int run_files(int argc, char **argv) {
  const char *model = argv[1], *goldens = argv[2];
  argv[2] = argv[0];
  th_ctx t;
  int rc = th_init(&t, argc - 2, argv + 2);
  if (rc) return rc;
  gguf_file *f = NULL;
  dvk_error err = {""};
  uint32_t file_type = 1;
  if (gguf_open(model, &f, &err) == DVK_OK) {
    gguf_get_u32(f, "general.file_type", &file_type, &err);
    gguf_close(f);
  }
  if (th_case(&t, "parity %s vs %s", model, goldens)) run_case(&t, model, goldens, tolerance(file_type == 0 ? "f32" : "f16"));
  return th_finish(&t);
}

int main(int argc, char **argv) {
  if (argc >= 3 && argv[1][0] != '-') return run_files(argc, argv);
  th_ctx t;
  int rc = th_init(&t, argc, argv);
  if (rc) return rc;
  const char *dir = getenv("DVK_TEST_DATA");
  if (!dir) dir = "tests/data";
  for (size_t i = 0; i < sizeof CASES / sizeof *CASES; i++) {
    run_named_case(&t, dir, CASES[i], "f32");
    run_named_case(&t, dir, CASES[i], "f16");
    run_rerank_case(&t, dir, CASES[i], "f32");
    run_rerank_case(&t, dir, CASES[i], "f16");
  }
  rc = th_finish(&t);
  if (g_rerank_cases == 0) {
    printf("FAIL no parity case file holds a reranker (clip.*): regenerate with tools/make_goldens.py\n");
    return 1;
  }
  return rc;
}
