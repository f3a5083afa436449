/* Sampler vs its definition: top-k = 1 is argmax; top-k / top-p restrict the support exactly; empirical
 * frequencies over many draws match softmax(logits / T) of the kept set (chi-squared bound); the same
 * seed gives the same sequence. Random logits, seed printed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "model/sample.h"

static int passed, failed;

static void check(int ok, const char *what, uint64_t seed) {
  if (ok) passed++;
  else {
    failed++;
    printf("FAIL %s (seed %llu; rerun with DVK_TEST_SEED=%llu)\n", what, (unsigned long long)seed, (unsigned long long)seed);
  }
}

/* chi-squared statistic of counts vs expected probabilities over the kept set */
static double chi2(const unsigned *counts, const double *p, unsigned n, unsigned draws) {
  double x = 0;
  for (unsigned i = 0; i < n; i++) {
    double e = p[i] * draws;
    if (e > 0) x += (counts[i] - e) * (counts[i] - e) / e;
    else if (counts[i]) return INFINITY;
  }
  return x;
}

int main(void) {
  const char *env = getenv("DVK_TEST_SEED");
  uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL);
  printf("seed %llu\n", (unsigned long long)seed);
  dvk_rng rng;
  dvk_rng_seed(&rng, seed);
  enum { N = 12, DRAWS = 200000 };
  float logits[N];
  for (int i = 0; i < N; i++) logits[i] = (float)(dvk_rng_uniform(&rng) * 6 - 3);
  unsigned argmax = 0;
  for (unsigned i = 1; i < N; i++)
    if (logits[i] > logits[argmax]) argmax = i;

  dvk_sampler s;
  dvk_sampler_init(&s, N, 1.0f, 1, 1.0f);
  int ok = 1;
  for (int i = 0; i < 100; i++) ok &= dvk_sample(&s, logits, &rng) == argmax;
  check(ok, "top-k 1 is argmax", seed);
  dvk_sampler_free(&s);

  const struct { float t; unsigned k; float p; } cfg[] = {{1.0f, 0, 1.0f}, {0.7f, 0, 1.0f}, {1.3f, 5, 1.0f}, {1.0f, 0, 0.6f}, {0.9f, 8, 0.8f}};
  for (size_t c = 0; c < sizeof cfg / sizeof *cfg; c++) {
    /* expected distribution, computed independently in double */
    unsigned order[N];
    for (unsigned i = 0; i < N; i++) order[i] = i;
    for (unsigned i = 0; i < N; i++)
      for (unsigned j = i + 1; j < N; j++)
        if (logits[order[j]] > logits[order[i]]) { unsigned t = order[i]; order[i] = order[j]; order[j] = t; }
    unsigned keep = cfg[c].k ? cfg[c].k : N;
    double p[N] = {0}, z = 0;
    for (unsigned i = 0; i < keep; i++) z += exp(logits[order[i]] / cfg[c].t);
    double cum = 0;
    unsigned kept = keep;
    for (unsigned i = 0; i < keep; i++) {
      cum += exp(logits[order[i]] / cfg[c].t) / z;
      if (cum >= cfg[c].p - 1e-12) { kept = i + 1; break; }
    }
    double zk = 0;
    for (unsigned i = 0; i < kept; i++) zk += exp(logits[order[i]] / cfg[c].t);
    for (unsigned i = 0; i < kept; i++) p[order[i]] = exp(logits[order[i]] / cfg[c].t) / zk;
    unsigned counts[N] = {0};
    dvk_sampler_init(&s, N, cfg[c].t, cfg[c].k, cfg[c].p);
    for (int d = 0; d < DRAWS; d++) counts[dvk_sample(&s, logits, &rng)]++;
    dvk_sampler_free(&s);
    double x = chi2(counts, p, N, DRAWS);
    char what[128];
    /* df <= 11; P(chi2_11 > 40) ~ 3e-5 */
    snprintf(what, sizeof what, "frequencies T=%.1f k=%u p=%.1f (chi2 %.1f, %u tokens kept)", cfg[c].t, cfg[c].k, cfg[c].p, x, kept);
    check(x < 40, what, seed);
  }
  /* NaN logits (a broken model): never sampled, the finite ones keep their order; all NaN: a valid index */
  const float nan_logits[6] = {NAN, 0.5f, NAN, 3.0f, NAN, -1.0f}, all_nan[3] = {NAN, NAN, NAN};
  dvk_sampler_init(&s, 6, 1.0f, 1, 1.0f);
  ok = 1;
  for (int i = 0; i < 100; i++) ok &= dvk_sample(&s, nan_logits, &rng) == 3;
  dvk_sampler_free(&s);
  check(ok, "NaN logits: top-k 1 is the finite argmax", seed);
  dvk_sampler_init(&s, 6, 1.0f, 0, 1.0f);
  ok = 1;
  for (int i = 0; i < 1000; i++) {
    uint32_t k = dvk_sample(&s, nan_logits, &rng);
    ok &= k == 1 || k == 3 || k == 5;
  }
  dvk_sampler_free(&s);
  check(ok, "NaN logits are never sampled", seed);
  dvk_sampler_init(&s, 3, 1.0f, 0, 0.9f);
  check(dvk_sample(&s, all_nan, &rng) < 3, "all-NaN logits give a valid index", seed);
  dvk_sampler_free(&s);

  /* dvk_log_prob vs the naive definition log(exp(l_k) / sum_j exp(l_j)) in long double; shifted by +1000
   * (where the naive sum overflows float) it must give the same values to float rounding of the shift */
  double worst = 0, worst_shift = 0, total_p = 0;
  float shifted[N];
  long double z_ref = 0;
  for (unsigned i = 0; i < N; i++) z_ref += expl((long double)logits[i]);
  for (unsigned i = 0; i < N; i++) shifted[i] = logits[i] + 1000.0f;
  for (unsigned k = 0; k < N; k++) {
    const double ref = (double)logl(expl((long double)logits[k]) / z_ref);
    worst = fmax(worst, fabs(dvk_log_prob(logits, N, k) - ref));
    worst_shift = fmax(worst_shift, fabs(dvk_log_prob(shifted, N, k) - ref));
    total_p += exp(dvk_log_prob(logits, N, k));
  }
  char what[160];
  snprintf(what, sizeof what, "log_prob vs naive softmax: max err %.2g, shifted by 1000 %.2g, probabilities sum to %.15f",
           worst, worst_shift, total_p);
  check(worst < 1e-12 && worst_shift < 3e-4 && fabs(total_p - 1) < 1e-12, what, seed);
  const float inf_logits[3] = {INFINITY, 0.0f, INFINITY}, one_inf[3] = {0.0f, INFINITY, 1.0f};
  check(dvk_log_prob(nan_logits, 6, 0) == -INFINITY && dvk_log_prob(all_nan, 3, 1) == -INFINITY &&
            fabs(dvk_log_prob(nan_logits, 6, 3) - (3.0 - log(exp(0.5) + exp(3.0) + exp(-1.0)))) < 1e-12,
        "log_prob: NaN tokens -inf, NaN logits left out of the sum", seed);
  check(dvk_log_prob(one_inf, 3, 1) == 0 && dvk_log_prob(one_inf, 3, 0) == -INFINITY &&
            fabs(dvk_log_prob(inf_logits, 3, 2) + log(2.0)) < 1e-15 && dvk_log_prob(inf_logits, 3, 1) == -INFINITY,
        "log_prob: +inf logits share the probability, the others get none", seed);
  /* dvk_log_probs: every token's dvk_log_prob in one pass, the same doubles on each of the rows above */
  const struct { const float *l; unsigned n; } rows[] = {{logits, N}, {shifted, N}, {nan_logits, 6}, {all_nan, 3},
                                                         {inf_logits, 3}, {one_inf, 3}};
  double all[N];
  ok = 1;
  for (size_t r = 0; r < sizeof rows / sizeof *rows; r++) {
    dvk_log_probs(rows[r].l, rows[r].n, all);
    for (unsigned k = 0; k < rows[r].n; k++) {
      const double one = dvk_log_prob(rows[r].l, rows[r].n, k);
      ok &= all[k] == one || (isnan(all[k]) && isnan(one));
    }
  }
  check(ok, "log_probs equals log_prob per token (finite, shifted, NaN, all-NaN and +inf rows)", seed);

  dvk_rng a, b;
  dvk_rng_seed(&a, 7);
  dvk_rng_seed(&b, 7);
  ok = 1;
  for (int i = 0; i < 1000; i++) ok &= dvk_rng_next(&a) == dvk_rng_next(&b);
  check(ok, "same seed, same sequence", seed);
  printf("%d passed, %d failed\n", passed, failed);
  return failed != 0;
}
