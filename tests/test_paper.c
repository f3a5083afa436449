#define _POSIX_C_SOURCE 200809L
/* Paper-sized transformer check (ctest label "slow"): models written by tools/paper_check.py with the
 * DALL-E paper's shapes (d_model 3968, 62 heads, T 256, G 32, vocabularies 16384+256 and 8192, a 264 MB
 * f32 text embedding over lavapipe's 128 MiB binding limit, f16 weights elsewhere), 1-2 layers.
 * Prefill + 3 decode steps against the PyTorch reference; max relative error per case must be <= 3e-3.
 * Usage: test_paper DIR (DIR holds paper-rowcol.gguf, paper-conv.gguf and their -golden.gguf). */
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

static void run_case(th_ctx *t, const char *dir, const char *name) {
  if (!th_case(t, "paper-size %s", name)) return;
  char path[1024], gpath[1024];
  dvk_error err = {""};
  snprintf(path, sizeof path, "%s/%s.gguf", dir, name);
  snprintf(gpath, sizeof gpath, "%s/%s-golden.gguf", dir, name);
  gguf_file *f = NULL, *g = NULL;
  dvk_model_config cfg;
  dvk_transformer tf = {0};
  dvk_tf_state st = {0};
  float *logits = NULL;
  double t0 = now();
  dvk_status s = gguf_open(path, &f, &err);
  if (s == DVK_OK) s = gguf_open(gpath, &g, &err);
  if (s == DVK_OK) s = dvk_config_read(f, &cfg, &err);
  dvk_loader L = {.ctx = t->ctx, .arena = t->arena, .file = f, .err = &err};
  if (s == DVK_OK) s = dvk_transformer_load(&L, &cfg.dalle, &tf);
  const gguf_tensor *gi = g ? gguf_find_tensor(g, "text_ids") : NULL, *gc = g ? gguf_find_tensor(g, "codes") : NULL,
                    *gl = g ? gguf_find_tensor(g, "logits") : NULL;
  if (s != DVK_OK || !gi || !gc || !gl) {
    printf("     %s\n", err.msg[0] ? err.msg : t->ctx->error);
    th_case_error(t, "load", s ? s : DVK_ERR_MODEL_FORMAT);
    goto out;
  }
  printf("     loaded %.0f MiB of weights in %.1fs\n", (double)L.bytes / (1 << 20), now() - t0);
  const uint32_t T = cfg.dalle.text_len, vi = cfg.dalle.image_vocab;
  int32_t *ids = malloc(T * sizeof *ids);
  const float *gids = gi->data, *gcodes = gc->data, *glog = gl->data;
  for (uint32_t j = 0; j < T; j++) ids[j] = (int32_t)gids[j];
  logits = malloc((size_t)vi * sizeof *logits);
  s = dvk_tf_state_create(t->ctx, t->arena, &tf, 1, &st);
  double worst = 0, tp = now();
  if (s == DVK_OK) s = dvk_transformer_prefill(t->ctx, &tf, &st, ids, logits);
  if (s == DVK_OK) {
    worst = th_rel_err(logits, glog, vi);
    printf("     prefill (%u positions): %.1fs, rel err %.3g\n", T + 1, now() - tp, worst);
  }
  for (uint64_t k = 0; s == DVK_OK && k < gc->n_elements; k++) {
    int32_t code = (int32_t)gcodes[k];
    double td = now();
    s = dvk_transformer_decode(t->ctx, &tf, &st, &code, logits);
    if (s != DVK_OK) break;
    double e = th_rel_err(logits, glog + (size_t)(k + 1) * vi, vi);
    printf("     decode step %llu: %.2fs, rel err %.3g\n", (unsigned long long)k, now() - td, e);
    if (!(e <= worst)) worst = e;
  }
  free(ids);
  if (s != DVK_OK) th_case_error(t, "transformer", s);
  else th_case_done(t, worst <= 3e-3, worst, 3e-3);
out:
  dvk_tf_state_free(&st);
  dvk_transformer_free(&tf);
  gguf_close(f);
  gguf_close(g);
  free(logits);
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
  run_case(&t, dir, "paper-rowcol");
  run_case(&t, dir, "paper-conv");
  return th_finish(&t);
}
