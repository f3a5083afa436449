/* `dalle-vk-bench decode`: milliseconds per transformer decode step (one new image token for each of N
 * candidates, logits read back), next to the weight-read bound: the bytes of every weight a step reads
 * (the four matmuls of each layer, with an encoder-decoder file's GLU gate and cross-attention q and out, and
 * the logits matmul) divided by this machine's measured streaming
 * bandwidth. Wall and CPU time (all threads of the process: lavapipe's workers included) are both given;
 * on a shared machine the CPU column is the stable one, and its bound is bytes / (bytes streamed per
 * CPU-second of one reading thread).
 *
 *   dalle-vk-bench decode [--model PATH] [--d-model D,D,...] [--layers L] [--batch N,N,...] [--steps S]
 *                         [--bandwidth GB/s,GB-per-CPU-s]
 *
 * --model: a model file (the transformer only is loaded); otherwise random f16 weights are built in memory
 * for each --d-model (default 256,512,1024,2048) with --layers layers (default 4), d_model / 64 heads,
 * d_ff = 4 d_model, text_len 32, 16 x 16 grid, 512 codes. --batch: candidates per step (default 1,8).
 * --steps: timed steps after 2 warm-up steps (default 32). With DVK_PROFILE=1 the per-op GPU times of the
 * timed steps are printed after each row. --bandwidth skips the bandwidth measurement and uses the given
 * figures (for profiling the steps alone). */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "model/config.h"
#include "model/transformer.h"

static float frand(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (float)((*s >> 40) & 0xffffff) / 16777216.0f - 0.5f;
}

/* ---- streaming bandwidth of this machine (host memory, as lavapipe reads it) ---- */

typedef struct stream_arg {
  const double *p;
  size_t n;
  double sum, cpu;
} stream_arg;

static void *stream_read(void *arg) {
  stream_arg *a = arg;
  struct timespec c0, c1;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (size_t i = 0; i + 4 <= a->n; i += 4) s0 += a->p[i], s1 += a->p[i + 1], s2 += a->p[i + 2], s3 += a->p[i + 3];
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
  a->sum = s0 + s1 + s2 + s3;
  a->cpu = (double)(c1.tv_sec - c0.tv_sec) + 1e-9 * (double)(c1.tv_nsec - c0.tv_nsec);
  return NULL;
}

/* Best of 5 reads of a 512 MiB buffer by `threads` threads: bytes per wall second and per CPU-second. */
static int stream_bandwidth(int threads, double *gbs, double *gb_per_cpu_s) {
  const size_t bytes = (size_t)512 << 20, n = bytes / sizeof(double);
  double *buf = malloc(bytes);
  if (!buf) return -1;
  for (size_t i = 0; i < n; i++) buf[i] = (double)(i & 1023);
  *gbs = *gb_per_cpu_s = 0;
  for (int run = 0; run < 5; run++) /* best of 5 */ {
    stream_arg a[8];
    pthread_t t[8];
    double t0 = bench_now(), cpu = 0;
    for (int i = 0; i < threads; i++) {
      a[i] = (stream_arg){.p = buf + n / threads * i, .n = n / threads};
      pthread_create(&t[i], NULL, stream_read, &a[i]);
    }
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL), cpu += a[i].cpu;
    double wall = bench_now() - t0;
    if (bytes / wall * 1e-9 > *gbs) *gbs = bytes / wall * 1e-9;
    if (cpu > 0 && bytes / cpu * 1e-9 > *gb_per_cpu_s) *gb_per_cpu_s = bytes / cpu * 1e-9;
    if (a[0].sum == -1) printf("(unreachable)\n"); /* keeps the reads */
  }
  free(buf);
  return 0;
}

/* ---- the transformer: from a file, or random ---- */

static dvk_status random_vector(dvk_device *ctx, dvk_arena *a, uint64_t n, float scale, float offset, uint64_t *seed,
                                dvk_tensor *out) {
  float *v = malloc(n * sizeof *v);
  if (!v) return dvk_fail(ctx, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  for (uint64_t i = 0; i < n; i++) v[i] = offset + scale * frand(seed);
  dvk_status s = dvk_arena_alloc(a, n * 4, out);
  if (s == DVK_OK) s = dvk_upload(ctx, *out, v, n * 4);
  free(v);
  return s;
}

static dvk_status random_table(dvk_device *ctx, dvk_arena *a, uint32_t rows, uint32_t d, uint64_t *seed,
                               dvk_embed_table *out) {
  *out = (dvk_embed_table){.rows = rows, .d = d, .dtype = DVK_TABLE_F32};
  return random_vector(ctx, a, (uint64_t)rows * d, 1.0f, 0, seed, &out->t);
}

static dvk_status random_linear(dvk_device *ctx, dvk_arena *a, uint32_t n, uint32_t k, uint64_t *seed,
                                dvk_matmul_weight *out) {
  float *w = malloc((size_t)n * k * sizeof *w);
  if (!w) return dvk_fail(ctx, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  const float scale = 2.0f / (float)k; /* keeps activations O(1) */
  for (size_t i = 0; i < (size_t)n * k; i++) w[i] = scale * frand(seed);
  dvk_status s = dvk_matmul_weight_upload(ctx, a, DVK_MATMUL_F16, n, k, w, DVK_MATMUL_F32, out);
  free(w);
  return s;
}

static dvk_status random_transformer(dvk_device *ctx, dvk_arena *a, uint32_t d, uint32_t layers, dvk_transformer *tf) {
  memset(tf, 0, sizeof *tf);
  dvk_dalle_config *c = &tf->cfg;
  *c = (dvk_dalle_config){.text_len = 32,
                          .text_vocab = 1536,
                          .grid = 16,
                          .image_vocab = 512,
                          .d_model = d,
                          .n_heads = d / 64,
                          .n_layers = layers,
                          .d_ff = 4 * d,
                          .ln_eps = 1e-5f,
                          .conv_kernel = 5,
                          .image_start = 1,
                          .final_norms = 1,
                          .image0 = 33,
                          .mask_image0 = 33}; /* the emoji model's layout: a start-of-image token at T */
  for (uint32_t l = 0; l < layers; l++) /* the paper's schedule: row, col, row, row, ..., conv last */
    c->attn_types[l] = l + 1 == layers ? DVK_MASK_CONV : (l % 4 == 1 ? DVK_MASK_COL : DVK_MASK_ROW);
  uint64_t seed = 1234 + d;
  DVK_TRY(random_table(ctx, a, c->text_vocab + c->text_len, d, &seed, &tf->text_emb));
  DVK_TRY(random_table(ctx, a, c->text_len, d, &seed, &tf->text_pos));
  DVK_TRY(random_table(ctx, a, 1, d, &seed, &tf->image_start));
  DVK_TRY(random_table(ctx, a, c->image_vocab, d, &seed, &tf->image_emb));
  DVK_TRY(random_table(ctx, a, c->grid, d, &seed, &tf->row_emb));
  DVK_TRY(random_table(ctx, a, c->grid, d, &seed, &tf->col_emb));
  tf->layers = calloc(layers, sizeof *tf->layers);
  if (!tf->layers) return dvk_fail(ctx, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  for (uint32_t l = 0; l < layers; l++) {
    dvk_layer *y = &tf->layers[l];
    DVK_TRY(random_vector(ctx, a, d, 0.2f, 1.0f, &seed, &y->ln1_w));
    DVK_TRY(random_vector(ctx, a, d, 0.2f, 0, &seed, &y->ln1_b));
    DVK_TRY(random_vector(ctx, a, d, 0.2f, 1.0f, &seed, &y->ln2_w));
    DVK_TRY(random_vector(ctx, a, d, 0.2f, 0, &seed, &y->ln2_b));
    DVK_TRY(random_linear(ctx, a, 3 * d, d, &seed, &y->qkv));
    DVK_TRY(random_linear(ctx, a, d, d, &seed, &y->out));
    DVK_TRY(random_linear(ctx, a, c->d_ff, d, &seed, &y->fc1));
    DVK_TRY(random_linear(ctx, a, d, c->d_ff, &seed, &y->fc2));
    DVK_TRY(random_vector(ctx, a, 3 * d, 0.2f, 0, &seed, &y->qkv_b));
    DVK_TRY(random_vector(ctx, a, d, 0.2f, 0, &seed, &y->out_b));
    DVK_TRY(random_vector(ctx, a, c->d_ff, 0.2f, 0, &seed, &y->fc1_b));
    DVK_TRY(random_vector(ctx, a, d, 0.2f, 0, &seed, &y->fc2_b));
    y->mask =
      (dvk_attn_mask){.type = c->attn_types[l], .image0 = c->mask_image0, .grid = c->grid, .conv_k = c->conv_kernel};
  }
  DVK_TRY(random_vector(ctx, a, d, 0.2f, 1.0f, &seed, &tf->lnf_w));
  DVK_TRY(random_vector(ctx, a, d, 0.2f, 0, &seed, &tf->lnf_b));
  DVK_TRY(random_linear(ctx, a, c->image_vocab, d, &seed, &tf->logits_w));
  return random_vector(ctx, a, c->image_vocab, 0.2f, 0, &seed, &tf->logits_b);
}

static dvk_status file_transformer(dvk_device *ctx, dvk_arena *a, const char *path, dvk_transformer *tf) {
  dvk_error err = {""};
  gguf_file *f = NULL;
  dvk_model_config cfg;
  dvk_status s = gguf_open(path, &f, &err);
  if (s == DVK_OK) s = dvk_config_read(f, &cfg, &err);
  if (s == DVK_OK) {
    dvk_loader L = {.ctx = ctx, .arena = a, .file = f, .err = &err};
    s = dvk_transformer_load(&L, &cfg.dalle, tf);
  }
  gguf_close(f);
  if (s != DVK_OK && err.msg[0]) return dvk_fail(ctx, s, "%s", err.msg);
  return s;
}

static uint64_t weight_bytes(const dvk_matmul_weight *w) { return dvk_matmul_weight_bytes(w->type, w->n, w->k); }

/* Bytes of every weight one decode step reads: the matmul weights (and, negligibly, one embedding row); in an
 * encoder-decoder file also the GLU gate and the cross-attention's q and out (its K/V come from the prompt, once). */
static uint64_t step_weight_bytes(const dvk_transformer *tf) {
  uint64_t b = 0;
  for (uint32_t l = 0; l < tf->cfg.n_layers; l++) {
    const dvk_layer *y = &tf->layers[l];
    b += weight_bytes(&y->qkv) + weight_bytes(&y->out) + weight_bytes(&y->fc1) + weight_bytes(&y->fc2);
    if (y->glu) b += weight_bytes(&y->gate);
    if (y->cross) b += weight_bytes(&y->cross_q) + weight_bytes(&y->cross_out);
  }
  return b + weight_bytes(&tf->logits_w);
}

/* ---- one row of the table ---- */

typedef struct step_time {
  double wall_ms, cpu_ms;
} step_time;

static dvk_status time_steps(dvk_device *ctx, const dvk_transformer *tf, uint32_t batch, int steps, step_time *out) {
  const dvk_dalle_config *c = &tf->cfg;
  dvk_arena *a = NULL;
  dvk_tf_state st = {0};
  int32_t *ids = calloc(c->text_len > batch ? c->text_len : batch, sizeof *ids);
  float *logits = malloc((size_t)batch * c->image_vocab * sizeof *logits);
  dvk_status s = ids && logits ? dvk_arena_create(ctx, 0, &a)
                               : dvk_fail(ctx, DVK_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  if (s == DVK_OK) s = dvk_tf_state_create(ctx, a, tf, batch, &st);
  const int enc_dec = c->layout == DVK_LAYOUT_ENCODER_DECODER; /* pads: text_pad_id, else Vt + position */
  for (uint32_t t = 0; t < c->text_len; t++)
    ids[t] = (int32_t)(t < 5 ? 40 + 3 * t : enc_dec ? c->text_pad_id : c->text_vocab + t);
  if (s == DVK_OK) s = dvk_transformer_prefill(ctx, tf, &st, ids, logits);
  const int warm = 2;
  double w0 = 0, c0 = 0;
  for (int i = 0; s == DVK_OK && i < warm + steps; i++) {
    if (i == warm) {
      dvk_profile_report(ctx); /* drop the prefill's and warm-up's times */
      w0 = bench_now(), c0 = bench_cpu_now();
    }
    for (uint32_t b = 0; b < batch; b++) ids[b] = (int32_t)((7u * (uint32_t)i + 13u * b) % c->image_vocab);
    s = dvk_transformer_decode(ctx, tf, &st, ids, logits);
  }
  if (s == DVK_OK) {
    out->wall_ms = (bench_now() - w0) * 1e3 / steps;
    out->cpu_ms = (bench_cpu_now() - c0) * 1e3 / steps;
    if (ctx->profile) {
      printf("per-op GPU times over %d steps (DVK_PROFILE=1):\n", steps);
      fflush(stdout);
      dvk_profile_report(ctx);
    }
  }
  dvk_discard(ctx);
  dvk_tf_state_free(&st);
  dvk_arena_destroy(a);
  free(ids);
  free(logits);
  return s;
}

static int parse_list(const char *s, uint32_t *v, int max) {
  int n = 0;
  for (char *end; *s && n < max; s = *end ? end + 1 : end) {
    v[n++] = (uint32_t)strtoul(s, &end, 10);
    if (end == s || v[n - 1] == 0) return -1;
  }
  return n;
}

int bench_decode(dvk_device *ctx, int argc, char **argv) {
  const char *model = NULL;
  uint32_t dims[8] = {256, 512, 1024, 2048}, batches[8] = {1, 8}, layers = 4;
  int n_dims = 4, n_batches = 2, steps = 32;
  double gbs1 = 0, cpu1 = 0, gbs2 = 0, cpu2 = 0;
  for (int i = 1; i < argc; i++) {
    int more = i + 1 < argc;
    if (more && strcmp(argv[i], "--model") == 0) model = argv[++i];
    else if (more && strcmp(argv[i], "--d-model") == 0) n_dims = parse_list(argv[++i], dims, 8);
    else if (more && strcmp(argv[i], "--batch") == 0) n_batches = parse_list(argv[++i], batches, 8);
    else if (more && strcmp(argv[i], "--layers") == 0) layers = (uint32_t)atoi(argv[++i]);
    else if (more && strcmp(argv[i], "--steps") == 0) steps = atoi(argv[++i]);
    else if (more && strcmp(argv[i], "--bandwidth") == 0) sscanf(argv[++i], "%lf,%lf", &gbs1, &cpu1);
    else {
      fprintf(stderr, "decode: unknown option '%s' (see bench/bench_decode.c)\n", argv[i]);
      return 2;
    }
  }
  if (n_dims <= 0 || n_batches <= 0 || layers == 0 || steps <= 0 || steps > 250) {
    fprintf(stderr, "decode: --d-model and --batch take positive lists, --layers >= 1, 1 <= --steps <= 250\n");
    return 2;
  }
  if (gbs1 < 0 || cpu1 < 0) {
    fprintf(stderr, "decode: --bandwidth takes two positive numbers\n");
    return 2;
  }
  if (gbs1 == 0 && (stream_bandwidth(1, &gbs1, &cpu1) || stream_bandwidth(2, &gbs2, &cpu2))) {
    fprintf(stderr, "decode: out of host memory for the bandwidth test\n");
    return 1;
  }
  printf("streaming read bandwidth: 1 thread %.1f GB/s (%.1f GB per CPU-s), 2 threads %.1f GB/s\n", gbs1, cpu1, gbs2);
  const double gbs = gbs2 > gbs1 ? gbs2 : gbs1;
  printf("\n| model | N | weights MiB | bound ms | ms/step | x bound | bound cpu-ms | cpu-ms/step | x bound (cpu) |\n");
  printf("|---|---|---|---|---|---|---|---|---|\n");
  int rc = 0;
  for (int i = 0; i < (model ? 1 : n_dims); i++) {
    dvk_arena *a = NULL;
    dvk_transformer tf = {0};
    char name[64];
    dvk_status s = dvk_arena_create(ctx, 0, &a);
    if (s == DVK_OK && model) {
      s = file_transformer(ctx, a, model, &tf);
      snprintf(name, sizeof name, "file d%u L%u", tf.cfg.d_model, tf.cfg.n_layers);
    } else if (s == DVK_OK) {
      s = random_transformer(ctx, a, dims[i], layers, &tf);
      snprintf(name, sizeof name, "random d%u L%u", dims[i], layers);
    }
    const double bytes = s == DVK_OK ? (double)step_weight_bytes(&tf) : 0;
    for (int j = 0; s == DVK_OK && j < n_batches; j++) {
      step_time t;
      s = time_steps(ctx, &tf, batches[j], steps, &t);
      if (s != DVK_OK) break;
      const double bound = bytes / gbs * 1e-6, bound_cpu = bytes / cpu1 * 1e-6;
      printf("| %s | %u | %.1f | %.2f | %.2f | %.1f | %.2f | %.2f | %.1f |\n", name, batches[j], bytes / (1 << 20),
             bound, t.wall_ms, t.wall_ms / bound, bound_cpu, t.cpu_ms, t.cpu_ms / bound_cpu);
      fflush(stdout);
    }
    if (s != DVK_OK) {
      fprintf(stderr, "decode: %s\n", ctx->error);
      rc = 1;
    }
    dvk_discard(ctx);
    dvk_transformer_free(&tf);
    dvk_arena_destroy(a);
    if (rc) break;
  }
  return rc;
}
