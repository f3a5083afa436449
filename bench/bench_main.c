/* dalle-vk-bench: `dalle-vk-bench NAME [options]` runs one benchmark (no NAME: all of them). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bench.h"

static const struct {
  const char *name;
  bench_fn fn;
  const char *help;
} benches[] = {
  {"matmul", bench_matmul, "Y = X W^T vs OpenBLAS sgemm; options: --sweep (CPU kernel shapes), --runs N, --quick"},
  {"decode", bench_decode, "ms per decode step vs the weight-read bound; options: --model PATH, --d-model D,..., --batch N,..., --layers L, --steps S"},
};
#define N_BENCHES (sizeof benches / sizeof *benches)

double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double bench_cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    printf("usage: %s [NAME [options]]\n", argv[0]);
    for (size_t i = 0; i < N_BENCHES; i++) printf("  %-10s %s\n", benches[i].name, benches[i].help);
    return 0;
  }
  dvk_error err = {""};
  dvk_device_options o = {0};
  dvk_device *ctx;
  if (dvk_device_create(&o, &ctx, &err) != DVK_OK) {
    fprintf(stderr, "dalle-vk-bench: %s\n", err.msg);
    return 1;
  }
  printf("device: %s (%s)\n", ctx->props.deviceName, ctx->driver_info);
  int rc = 0, found = 0;
  for (size_t i = 0; i < N_BENCHES; i++)
    if (argc < 2 || strcmp(argv[1], benches[i].name) == 0) {
      found = 1;
      rc |= benches[i].fn(ctx, argc > 1 ? argc - 1 : 1, argc > 1 ? argv + 1 : (char *[]){(char *)benches[i].name, NULL});
    }
  if (!found) {
    fprintf(stderr, "dalle-vk-bench: unknown benchmark '%s' (--help lists them)\n", argv[1]);
    rc = 2;
  }
  dvk_device_destroy(ctx);
  return rc;
}
