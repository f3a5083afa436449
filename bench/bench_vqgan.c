/* VQGAN decode (and encode) time per image: codes -> RGB8 on the device, seeded random codes, one warm-up run
 * (pipeline creation), then the median of --repeat timed runs of --n images each, and the process's CPU time.
 * Usage: bench_vqgan MODEL.gguf [--n N] [--repeat R] [--encode]
 * MODEL: a file with a vqgan.* section, e.g. from tools/make_random_vqgan.py. Env: DVK_DEVICE selects the device. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/vqgan.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double cpu_s(void) { /* this process, all threads (the driver's workers included) */
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  const char *path = NULL;
  int n = 1, repeat = 3, encode = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--n") && i + 1 < argc) n = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--repeat") && i + 1 < argc) repeat = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--encode")) encode = 1;
    else if (!path && argv[i][0] != '-') path = argv[i];
    else path = NULL, i = argc;
  }
  if (!path || n < 1 || repeat < 1 || repeat > 100) {
    fprintf(stderr, "usage: %s MODEL.gguf [--n N] [--repeat R (1..100)] [--encode]\n", argv[0]);
    return 2;
  }
  dvk_error err = {""};
  dvk_device *ctx = NULL;
  dvk_arena *weights = NULL, *scratch = NULL;
  gguf_file *f = NULL;
  dvk_vqgan_config cfg;
  dvk_vqgan v = {0};
  dvk_device_options o = {0};
  dvk_status s = dvk_device_create(&o, &ctx, &err);
  if (s == DVK_OK) s = gguf_open(path, &f, &err);
  if (s == DVK_OK) s = dvk_vqgan_config_read(f, &cfg, &err);
  if (s == DVK_OK && encode && !cfg.has_encoder) {
    snprintf(err.msg, sizeof err.msg, "%s: no encoder", path);
    s = DVK_ERR_INVALID_ARGUMENT;
  }
  if (s == DVK_OK) s = dvk_arena_create(ctx, 0, &weights);
  if (s == DVK_OK) s = dvk_arena_create(ctx, 0, &scratch);
  dvk_loader L = {.ctx = ctx, .arena = weights, .file = f, .err = &err};
  double t0 = now_s();
  if (s == DVK_OK) s = dvk_vqgan_load(&L, &cfg, &v);
  double load_s = now_s() - t0;
  if (s != DVK_OK) {
    fprintf(stderr, "bench_vqgan: %s\n", err.msg[0] ? err.msg : ctx ? ctx->error : "error");
  } else {
    const uint32_t G = v.grid, R = G << (cfg.n_levels - 1);
    printf("device: %s (%s)\n", ctx->props.deviceName, ctx->driver_info);
    printf("%s: %s, ch %u, %u levels, %u codes, %ux%u codes -> %ux%u px, weights %.1f MiB on the device, "
           "scratch %.1f MiB, loaded in %.2f s\n", path, cfg.gumbel ? "gumbel" : "vq", cfg.ch, cfg.n_levels,
           cfg.n_embed, G, G, R, R, L.bytes / 1048576.0, dvk_vqgan_scratch_bytes(&v) / 1048576.0, load_s);
    int32_t *codes = malloc((size_t)n * G * G * 4);
    uint8_t *rgb = malloc((size_t)n * R * R * 3);
    double *times = malloc(sizeof *times * (repeat + 1)), cpu = 0;
    uint64_t state = 12345;
    for (size_t i = 0; i < (size_t)n * G * G; i++) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      codes[i] = (int32_t)((state >> 33) % cfg.n_embed);
    }
    for (int r = 0; r <= repeat && s == DVK_OK; r++) { /* r == 0: warm-up */
      dvk_arena_reset(scratch);
      t0 = now_s();
      double c0 = cpu_s();
      for (int i = 0; i < n && s == DVK_OK; i++)
        s = encode ? dvk_vqgan_encode(ctx, scratch, &v, rgb + (size_t)i * R * R * 3, codes, NULL, NULL)
                   : dvk_vqgan_decode(ctx, scratch, &v, codes + (size_t)i * G * G, 1, rgb + (size_t)i * R * R * 3, NULL, NULL);
      times[r] = (now_s() - t0) / n;
      if (r) cpu += (cpu_s() - c0) / n / repeat;
    }
    if (s != DVK_OK) {
      fprintf(stderr, "bench_vqgan: %s\n", ctx->error);
    } else {
      qsort(times + 1, repeat, sizeof *times, cmp_double);
      printf("%s: %.0f ms per %ux%u image (median of %d runs of %d; min %.0f, max %.0f; warm-up %.0f); "
             "CPU %.1f s per image (mean, all threads)\n", encode ? "encode" : "decode", 1e3 * times[1 + repeat / 2],
             R, R, repeat, n, 1e3 * times[1], 1e3 * times[repeat], 1e3 * times[0], cpu);
    }
    free(codes), free(rgb), free(times);
  }
  dvk_vqgan_free(&v);
  dvk_arena_destroy(scratch);
  dvk_arena_destroy(weights);
  gguf_close(f);
  if (ctx) dvk_device_destroy(ctx);
  return s == DVK_OK ? 0 : 1;
}
