/* `dalle-vk-bench matmul`: dvk_op_matmul (Y[M,N] = X[M,K] W[N,K]^T) next to OpenBLAS sgemm on the same
 * shapes, in the same run. Times are the minimum over --runs runs after a warm-up (which also builds
 * the pipeline); one run records many matmuls into one submission when a single one is short, so
 * the per-op time is not just submission overhead, then waits for it (dvk_flush). GB/s counts the
 * bytes one matmul must move at least: W (f32 or f16) + X + Y. The OpenBLAS peer always uses f32 W.
 * GFLOP/cpu-s divides by the process CPU time instead (all driver / OpenBLAS threads), a figure that
 * other load on the machine disturbs less than the wall-clock one; OpenBLAS threads may spin.
 *
 * Options: --runs N (default 5); --quick (fewer shapes); --sweep (CPU kernel shapes on the shapes of
 * the performance bar); --tune WG,R,C[,KU] (force the CPU kernel shape); --shape M,N,K (one shape). */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "ops/matmul.h"

typedef struct bench_opts {
  int runs;
  uint32_t tune[4];
} bench_opts;

static float frand(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((*s >> 40) & 0xffffff) / 16777216.0f - 0.5f;
}

/* Runs op(arg) reps times per run, `runs` runs; returns the best seconds per op, -1 when op fails. A first
 * call warms up. */
typedef dvk_status (*op_fn)(void *arg);
static double time_op(op_fn op, void *arg, int runs, int *reps_used, double *cpu_out) {
  if (op(arg) != DVK_OK) return -1;
  double t0 = bench_now();
  if (op(arg) != DVK_OK) return -1;
  double one = bench_now() - t0;
  int reps = one > 0 ? (int)(0.05 / one) : 1000; /* aim at >= 50 ms per run */
  if (reps < 1) reps = 1;
  if (reps > 1000) reps = 1000;
  double best = 1e30, best_cpu = 1e30;
  for (int r = 0; r < runs; r++) {
    t0 = bench_now();
    double c0 = bench_cpu_now();
    for (int i = 0; i < reps; i++)
      if (op(arg) != DVK_OK) return -1;
    double dt = (bench_now() - t0) / reps, dc = (bench_cpu_now() - c0) / reps;
    if (dt < best) best = dt;
    if (dc < best_cpu) best_cpu = dc;
  }
  *reps_used = reps;
  *cpu_out = best_cpu;
  return best;
}

typedef struct ours_arg {
  dvk_device *ctx;
  dvk_matmul_desc d;
  int reps_left; /* matmuls recorded into one submission */
} ours_arg;

/* Records reps_left matmuls (one submission: only the flush submits), then submits and waits. */
static dvk_status ours_batch(void *p) {
  ours_arg *a = p;
  for (int i = 0; i < a->reps_left; i++) DVK_TRY(dvk_op_matmul_ex(a->ctx, &a->d));
  return dvk_flush(a->ctx);
}

/* Best seconds per matmul (*best_out), its CPU seconds (*cpu_out) and the matmuls per submission (*batch_out).
 * Errors: those of the op (message in ctx->error). */
static dvk_status time_ours(ours_arg *a, int runs, double *best_out, int *batch_out, double *cpu_out) {
  /* warm-up and a single-op estimate */
  a->reps_left = 1;
  DVK_TRY(ours_batch(a));
  double t0 = bench_now();
  DVK_TRY(ours_batch(a));
  double one = bench_now() - t0;
  int batch = one > 0 ? (int)(0.05 / one) : 500;
  if (batch < 1) batch = 1;
  if (batch > 500) batch = 500; /* below the recorder's per-submission dispatch limit */
  a->reps_left = batch;
  double best = 1e30, best_cpu = 1e30;
  for (int r = 0; r < runs; r++) {
    t0 = bench_now();
    double c0 = bench_cpu_now();
    DVK_TRY(ours_batch(a));
    double dt = (bench_now() - t0) / batch, dc = (bench_cpu_now() - c0) / batch;
    if (dt < best) best = dt;
    if (dc < best_cpu) best_cpu = dc;
  }
  *best_out = best;
  *batch_out = batch;
  *cpu_out = best_cpu;
  return DVK_OK;
}

typedef struct blas_arg {
  int m, n, k;
  const float *x, *w;
  float *y;
} blas_arg;

static dvk_status blas_op(void *p) {
  blas_arg *a = p;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, a->m, a->n, a->k, 1.0f, a->x, a->k, a->w, a->k, 0.0f, a->y, a->n);
  return DVK_OK;
}

/* Benchmarks one shape and prints one table row. Errors: DVK_ERR_OUT_OF_HOST_MEMORY, the DVK_ERR_* of the
 * allocations and the op (message in ctx->error, also printed). */
static dvk_status bench_shape(dvk_device *ctx, dvk_arena *arena, uint32_t m, uint32_t n, uint32_t k, dvk_matmul_wtype type,
                       const bench_opts *o, int with_blas) {
  const size_t nx = (size_t)m * k, nw = (size_t)n * k, ny = (size_t)m * n;
  float *x = malloc(nx * 4), *w = malloc(nw * 4), *y = malloc(ny * 4);
  dvk_status rc = DVK_ERR_OUT_OF_HOST_MEMORY;
  if (!x || !w || !y) {
    dvk_fail(ctx, rc, "bench matmul: out of host memory for m=%u n=%u k=%u", m, n, k);
    goto done;
  }
  uint64_t seed = 42;
  for (size_t i = 0; i < nx; i++) x[i] = frand(&seed);
  for (size_t i = 0; i < nw; i++) w[i] = frand(&seed) * 0.05f;
  dvk_arena_reset(arena);
  dvk_tensor tx, ty;
  dvk_matmul_weight wt;
  if ((rc = dvk_arena_alloc(arena, nx * 4, &tx)) != DVK_OK || (rc = dvk_arena_alloc(arena, ny * 4, &ty)) != DVK_OK ||
      (rc = dvk_upload(ctx, tx, x, nx * 4)) != DVK_OK ||
      (rc = dvk_matmul_weight_upload(ctx, arena, type, n, k, w, DVK_MATMUL_F32, &wt)) != DVK_OK) {
    fprintf(stderr, "bench matmul: setup failed: %s\n", ctx->error);
    goto done;
  }
  ours_arg oa = {.ctx = ctx, .d = {.m = m, .x = tx, .w = &wt, .y = ty}};
  memcpy(oa.d.tune, o->tune, sizeof o->tune);
  int batch = 0, reps = 0;
  double cpu = 0, cpu_b = 0;
  double t = 0;
  if ((rc = time_ours(&oa, o->runs, &t, &batch, &cpu)) != DVK_OK) {
    fprintf(stderr, "bench matmul: %s\n", ctx->error);
    goto done;
  }
  const double flop = 2.0 * m * n * k;
  const double bytes = (double)dvk_matmul_weight_bytes(type, n, k) + 4.0 * (nx + ny);
  printf("| %s | %4u | %4u | %4u | %9.3f | %7.2f | %6.2f | %6.2f |", type == DVK_MATMUL_F16 ? "f16" : "f32", m, n, k,
         t * 1e3, flop / t * 1e-9, bytes / t * 1e-9, flop / cpu * 1e-9);
  if (with_blas) {
    blas_arg ba = {(int)m, (int)n, (int)k, x, w, y};
    double tb = time_op(blas_op, &ba, o->runs, &reps, &cpu_b);
    double bytes_b = 4.0 * (nw + nx + ny);
    printf(" %9.3f | %7.2f | %6.2f | %6.2f | %5.3f |", tb * 1e3, flop / tb * 1e-9, bytes_b / tb * 1e-9,
           flop / cpu_b * 1e-9, tb / t);
  }
  printf(" %4d |\n", batch);
  fflush(stdout);
  rc = DVK_OK;
done:
  free(x), free(w), free(y);
  return rc;
}

/* "A,B,C" or "A,B,C,D" (D = 0 when absent); 0 on success. */
static int parse3(const char *s, uint32_t v[4]) {
  v[3] = 0;
  return sscanf(s, "%u,%u,%u,%u", &v[0], &v[1], &v[2], &v[3]) >= 3 ? 0 : 1;
}

static void header(int with_blas) {
  printf("| W   |    M |    N |    K |     ms    | GFLOP/s |  GB/s  | GFLOP/cpu-s |");
  if (with_blas) printf(" blas ms | blas GFLOP/s | blas GB/s | blas GFLOP/cpu-s | ours/blas |");
  printf(" ops/submit |\n");
  printf("|---|---|---|---|---|---|---|---|%s---|\n", with_blas ? "---|---|---|---|---|" : "");
}

/* CPU kernel shapes (lanes per workgroup, X rows per workgroup, W rows per lane) tried on the bar shapes.
 * Errors: those of bench_shape. */
static dvk_status sweep(dvk_device *ctx, dvk_arena *arena, bench_opts o) {
  /* the lane count must be the subgroup size (0: that size) */
  static const uint32_t big[][4] = {{0, 8, 1, 1}, {0, 8, 2, 1}, {0, 8, 2, 2}, {0, 8, 3, 1}, {0, 4, 2, 1},
                                    {0, 4, 3, 1}, {0, 4, 4, 1}, {0, 6, 2, 1}, {0, 2, 4, 1}, {0, 12, 1, 1},
                                    {0, 16, 1, 1}};
  static const uint32_t vec[][4] = {{0, 1, 1, 1}, {0, 1, 2, 1}, {0, 1, 3, 1}, {0, 1, 4, 1}, {0, 1, 4, 2},
                                    {0, 1, 6, 1}, {0, 1, 8, 1}};
  printf("sweep: M=256 N=K=1024 f32 (WG,R,C,KU)\n");
  for (size_t i = 0; i < sizeof big / sizeof *big; i++) {
    memcpy(o.tune, big[i], sizeof o.tune);
    printf("(%u,%u,%u,%u) ", big[i][0], big[i][1], big[i][2], big[i][3]);
    DVK_TRY(bench_shape(ctx, arena, 256, 1024, 1024, DVK_MATMUL_F32, &o, 0));
  }
  printf("sweep: M=1 N=K=4096 f16 (WG,R,C,KU)\n");
  for (size_t i = 0; i < sizeof vec / sizeof *vec; i++) {
    memcpy(o.tune, vec[i], sizeof o.tune);
    printf("(%u,%u,%u,%u) ", vec[i][0], vec[i][1], vec[i][2], vec[i][3]);
    DVK_TRY(bench_shape(ctx, arena, 1, 4096, 4096, DVK_MATMUL_F16, &o, 0));
  }
  return DVK_OK;
}

int bench_matmul(dvk_device *ctx, int argc, char **argv) {
  bench_opts o = {.runs = 5};
  int quick = 0, do_sweep = 0, one = 0;
  uint32_t shape[4] = {0};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) o.runs = atoi(argv[++i]);
    else if (strcmp(argv[i], "--quick") == 0) quick = 1;
    else if (strcmp(argv[i], "--sweep") == 0) do_sweep = 1;
    else if (strcmp(argv[i], "--tune") == 0 && i + 1 < argc && !parse3(argv[i + 1], o.tune)) i++;
    else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc && !parse3(argv[i + 1], shape)) i++, one = 1;
    else {
      fprintf(stderr, "bench matmul: unknown option '%s'\n", argv[i]);
      return 2;
    }
  }
  if (o.runs < 1) o.runs = 1;
  dvk_arena *arena;
  if (dvk_arena_create(ctx, 0, &arena) != DVK_OK) {
    fprintf(stderr, "bench matmul: %s\n", ctx->error);
    return 1;
  }
  printf("matmul: Y[M,N] = X[M,K] W[N,K]^T, min of %d runs; OpenBLAS %s, %d threads\n", o.runs,
         openblas_get_config(), openblas_get_num_threads());
  dvk_status rc = DVK_OK;
  if (do_sweep) {
    header(0);
    rc = sweep(ctx, arena, o);
  } else if (one) {
    header(1);
    for (int ty = 0; ty < 2 && !rc; ty++)
      rc = bench_shape(ctx, arena, shape[0], shape[1], shape[2], ty ? DVK_MATMUL_F16 : DVK_MATMUL_F32, &o, 1);
  } else {
    header(1);
    const uint32_t ms[] = {1, 8, 64, 256}, nks[] = {256, 1024, 4096};
    for (int ty = 0; ty < 2 && !rc; ty++)
      for (size_t a = 0; a < 4 && !rc; a++)
        for (size_t b = 0; b < 3 && !rc; b++) {
          uint32_t m = ms[a], nk = nks[b];
          if (quick && nk == 4096 && m > 1) continue;
          rc = bench_shape(ctx, arena, m, nk, nk, ty ? DVK_MATMUL_F16 : DVK_MATMUL_F32, &o, 1);
        }
  }
  dvk_arena_destroy(arena);
  return rc != DVK_OK;
}
