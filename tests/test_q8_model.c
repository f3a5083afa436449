/* Model-level error of q8_0 weights: the same model as f16 (REF) and as q8_0 (Q8, e.g. written by
 * tools/export_gguf.py --from-gguf REF --type q8_0), both teacher-forced along one code path per caption and
 * candidate (sampled from REF's logits at temperature 1 with the case's seeded generator), compared at every
 * image position: the largest and the mean |logit difference|, the relative error ||Q8 - REF|| / ||REF|| of
 * each position's logits (max and mean), and the agreement of the argmax codes; then the sampled codes decoded by
 * both files' dVAE (its 2-D input table is q8_0 in Q8, loaded decoded to f32): the largest pixel difference.
 * Fails when the agreement is under 90 %, a position's relative error over 10 % or a pixel differs by more
 * than 0.1. docs/benchmarks.md (## q8_0 weights) has the numbers.
 * Usage: test_q8_model REF.gguf Q8.gguf [CAPTIONS (1..8, default 2)] [--seed N] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "model/config.h"
#include "model/dvae.h"
#include "model/gguf.h"
#include "model/tokenizer.h"
#include "model/transformer.h"

static const char *CAPTIONS[] = {"a red heart",      "a smiling face with sunglasses", "a green apple",
                                 "a cat face",       "a yellow star",                  "a blue car",
                                 "a slice of pizza", "a crying face"};
#define CANDIDATES 2u

typedef struct model {
  gguf_file *f;
  dvk_model_config cfg;
  dvk_transformer tf;
  dvk_tf_state st;
  dvk_dvae dv;
} model;

static dvk_status open_model(th_ctx *t, const char *path, model *m, dvk_error *err) {
  dvk_status s = gguf_open(path, &m->f, err);
  if (s == DVK_OK) s = dvk_config_read(m->f, &m->cfg, err);
  dvk_loader L = {.ctx = t->ctx, .arena = t->arena, .file = m->f, .err = err};
  if (s == DVK_OK) s = dvk_transformer_load(&L, &m->cfg.dalle, &m->tf);
  if (s == DVK_OK) s = dvk_tf_state_create(t->ctx, t->arena, &m->tf, CANDIDATES, &m->st);
  if (s == DVK_OK && !m->cfg.has_vqgan) s = dvk_dvae_load(&L, &m->cfg.dvae, m->cfg.dalle.grid, &m->dv);
  return s;
}

static void close_model(model *m) {
  dvk_dvae_free(&m->dv);
  dvk_tf_state_free(&m->st);
  dvk_transformer_free(&m->tf);
  gguf_close(m->f);
}

/* The caption's ids padded to T with the per-position pad tokens Vt + j. */
static dvk_status caption_ids(const gguf_file *f, const dvk_dalle_config *c, const char *text, int32_t *ids,
                              dvk_error *err) {
  const gguf_array *a = NULL;
  dvk_status s = gguf_get_array(f, "tokenizer.bpe.merges", GGUF_TYPE_UINT32, &a, err);
  if (s != DVK_OK) return s;
  uint32_t *pairs = malloc((a->count + 1) * sizeof *pairs);
  for (uint64_t i = 0; i < a->count; i++) pairs[i] = gguf_arr_u32(a, i);
  dvk_bpe *bpe = NULL;
  int32_t *tok = NULL;
  size_t n = 0;
  s = dvk_bpe_create(pairs, a->count / 2, &bpe, err);
  if (s == DVK_OK) s = dvk_bpe_encode(bpe, text, strlen(text), &tok, &n, err);
  for (uint32_t j = 0; s == DVK_OK && j < c->text_len; j++) ids[j] = j < n ? tok[j] : (int32_t)(c->text_vocab + j);
  free(tok), free(pairs);
  dvk_bpe_destroy(bpe);
  return s;
}

typedef struct stats {
  double max_abs, sum_abs, max_rel, sum_rel;
  uint64_t n_logits, n_pos, agree;
} stats;

static uint32_t argmax(const float *v, uint32_t n) {
  uint32_t best = 0;
  for (uint32_t i = 1; i < n; i++)
    if (v[i] > v[best]) best = i;
  return best;
}

static void compare(stats *s, const float *ref, const float *q8, uint32_t n) {
  double d2 = 0, r2 = 0;
  for (uint32_t i = 0; i < n; i++) {
    double d = fabs((double)q8[i] - ref[i]);
    if (!(d <= s->max_abs)) s->max_abs = d; /* NaN sticks */
    s->sum_abs += d, d2 += d * d, r2 += (double)ref[i] * ref[i];
  }
  double rel = sqrt(d2 / r2);
  if (!(rel <= s->max_rel)) s->max_rel = rel;
  s->sum_rel += rel, s->n_logits += n, s->n_pos++;
  s->agree += argmax(ref, n) == argmax(q8, n);
}

/* Samples a code from logits at temperature 1. */
static int32_t sample(th_rng *r, const float *logits, uint32_t n) {
  float mx = logits[argmax(logits, n)];
  double z = 0;
  for (uint32_t i = 0; i < n; i++) z += exp((double)logits[i] - mx);
  double u = th_rng_uniform(r, 0, 1) * z;
  for (uint32_t i = 0; i < n; i++)
    if ((u -= exp((double)logits[i] - mx)) <= 0) return (int32_t)i;
  return (int32_t)(n - 1);
}

/* Both models are loaded per case: th_case resets the arena. */
static void run_caption(th_ctx *t, const char *ref_path, const char *q8_path, const char *caption, stats *all) {
  if (!th_case(t, "q8_0 vs f16 \"%s\" x %u candidates", caption, CANDIDATES)) return;
  model mr = {0}, mq = {0}, *ref = &mr, *q8 = &mq;
  dvk_error err = {""};
  dvk_status st = open_model(t, ref_path, ref, &err);
  if (st == DVK_OK) st = open_model(t, q8_path, q8, &err);
  if (st == DVK_OK && (ref->cfg.dalle.image_vocab != q8->cfg.dalle.image_vocab || ref->cfg.dalle.grid != q8->cfg.dalle.grid))
    st = dvk_error_set(&err, DVK_ERR_MODEL_FORMAT, "%s and %s are not the same model", ref_path, q8_path);
  if (st != DVK_OK) {
    printf("     %s\n", err.msg[0] ? err.msg : t->ctx->error);
    th_case_error(t, "load", st);
    close_model(q8), close_model(ref);
    return;
  }
  const dvk_dalle_config *c = &ref->cfg.dalle;
  const uint32_t vi = c->image_vocab, steps = c->grid * c->grid;
  int32_t *ids = malloc(c->text_len * sizeof *ids), codes[CANDIDATES];
  int32_t *path = malloc((size_t)CANDIDATES * steps * sizeof *path); /* [CANDIDATES, G, G] */
  float *lr = malloc((size_t)CANDIDATES * vi * sizeof *lr), *lq = malloc((size_t)CANDIDATES * vi * sizeof *lq);
  stats s = {0};
  double px_max = 0;
  st = caption_ids(ref->f, c, caption, ids, &err);
  if (st == DVK_OK) st = dvk_transformer_prefill(t->ctx, &ref->tf, &ref->st, ids, lr);
  if (st == DVK_OK) st = dvk_transformer_prefill(t->ctx, &q8->tf, &q8->st, ids, lq);
  for (uint32_t i = 0; st == DVK_OK; i++) {
    for (uint32_t b = 0; b < CANDIDATES; b++) {
      compare(&s, lr + (size_t)b * vi, lq + (size_t)b * vi, vi);
      codes[b] = sample(&t->rng, lr + (size_t)b * vi, vi);
      path[(size_t)b * steps + i] = codes[b];
    }
    if (i + 1 == steps) break;
    st = dvk_transformer_decode(t->ctx, &ref->tf, &ref->st, codes, lr);
    if (st == DVK_OK) st = dvk_transformer_decode(t->ctx, &q8->tf, &q8->st, codes, lq);
  }
  if (st == DVK_OK && !ref->cfg.has_vqgan) { /* the dVAE decoder of each file on the same codes */
    const size_t npx = (size_t)CANDIDATES * 3 * ref->cfg.dvae.image_size * ref->cfg.dvae.image_size;
    float *pr = malloc(npx * sizeof *pr), *pq = malloc(npx * sizeof *pq);
    st = dvk_dvae_decode(t->ctx, t->arena, &ref->dv, path, CANDIDATES, NULL, pr, NULL);
    if (st == DVK_OK) st = dvk_dvae_decode(t->ctx, t->arena, &q8->dv, path, CANDIDATES, NULL, pq, NULL);
    for (size_t i = 0; st == DVK_OK && i < npx; i++)
      if (!(fabs((double)pq[i] - pr[i]) <= px_max)) px_max = fabs((double)pq[i] - pr[i]);
    printf("     dVAE pixels of the sampled codes: max |difference| %.4f\n", px_max);
    free(pr), free(pq);
  }
  if (st != DVK_OK) {
    if (err.msg[0]) printf("     %s\n", err.msg);
    th_case_error(t, "transformer or dVAE", st);
  } else {
    printf("     %llu positions: |dlogit| max %.4f mean %.5f; rel err max %.4f mean %.4f; argmax agreement %.2f %%\n",
           (unsigned long long)s.n_pos, s.max_abs, s.sum_abs / s.n_logits, s.max_rel, s.sum_rel / s.n_pos,
           100.0 * s.agree / s.n_pos);
    const double agree = (double)s.agree / s.n_pos;
    th_case_done(t, agree >= 0.9 && s.max_rel <= 0.1 && px_max <= 0.1, s.max_rel, 0.1);
    if (s.max_abs > all->max_abs) all->max_abs = s.max_abs;
    if (s.max_rel > all->max_rel) all->max_rel = s.max_rel;
    all->sum_abs += s.sum_abs, all->sum_rel += s.sum_rel, all->n_logits += s.n_logits, all->n_pos += s.n_pos;
    all->agree += s.agree;
  }
  free(ids), free(path), free(lr), free(lq);
  close_model(q8), close_model(ref);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s REF.gguf Q8.gguf [CAPTIONS (1..8)] [--seed N]\n", argv[0]);
    return 2;
  }
  const char *ref_path = argv[1], *q8_path = argv[2];
  int first = 3;
  unsigned n_captions = 2;
  if (argc > 3 && argv[3][0] != '-') n_captions = (unsigned)atoi(argv[3]), first = 4;
  if (n_captions < 1 || n_captions > sizeof CAPTIONS / sizeof *CAPTIONS) {
    fprintf(stderr, "%s: CAPTIONS must be 1..8\n", argv[0]);
    return 2;
  }
  char *targv[8] = {argv[0]};
  int targc = 1;
  for (int i = first; i < argc && targc < 8; i++) targv[targc++] = argv[i];
  th_ctx t;
  int rc = th_init(&t, targc, targv);
  if (rc) return rc;
  stats all = {0};
  for (unsigned i = 0; i < n_captions; i++) run_caption(&t, ref_path, q8_path, CAPTIONS[i], &all);
  if (all.n_pos)
    printf("all %llu positions: |dlogit| max %.4f mean %.5f; rel err max %.4f mean %.4f; argmax agreement %.2f %%\n",
           (unsigned long long)all.n_pos, all.max_abs, all.sum_abs / all.n_logits, all.max_rel,
           all.sum_rel / all.n_pos, 100.0 * all.agree / all.n_pos);
  return th_finish(&t);
}
