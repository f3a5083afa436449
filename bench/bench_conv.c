/* conv2d throughput: GFLOP/s (2 * B * cout * cin * k * k * h * w per call) for register tilings given on
 * the command line, on the paper-like shapes of the small dVAE.
 * Usage: bench_conv [WG/TP/TC[/TEXEL] ...]   (default: the device's default tiling)
 * Env: DVK_DEVICE selects the device; BENCH_F16=1 benches f16 weights. */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/conv.h"
#include "vk/dispatch.h"
#include "vk/memory.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

typedef struct shape {
  uint32_t b, cin, cout, h, w, k;
} shape;

/* Times one shape with one tiling and prints a line. Errors: the DVK_ERR_* of the allocations and the op. */
static dvk_status bench(dvk_device *ctx, dvk_arena *arena, const shape *s, const dvk_conv2d_tile *t, int f16) {
  uint64_t nx = (uint64_t)s->b * s->cin * s->h * s->w, ny = (uint64_t)s->b * s->cout * s->h * s->w;
  dvk_tensor x, w, b, y;
  dvk_arena_reset(arena);
  DVK_TRY(dvk_arena_alloc(arena, nx * 4, &x));
  DVK_TRY(dvk_arena_alloc(arena, ny * 4, &y));
  DVK_TRY(dvk_arena_alloc(arena, dvk_conv2d_weight_bytes(s->cout, s->cin, s->k, f16), &w));
  DVK_TRY(dvk_arena_alloc(arena, s->cout * 4, &b));
  /* small finite values: 0x3c003c00 = two halves of 1.0, or f32 ~0.0078 */
  DVK_TRY(dvk_fill(ctx, x, 0x3c000000u, nx * 4));
  DVK_TRY(dvk_fill(ctx, w, f16 ? 0x20002000u : 0x3c000000u, w.size & ~(VkDeviceSize)3));
  DVK_TRY(dvk_fill(ctx, b, 0, s->cout * 4));
  dvk_conv2d_params p = {.batch = s->b, .cin = s->cin, .cout = s->cout, .h = s->h, .w = s->w, .k = s->k,
                         .weight_f16 = f16, .relu_input = 1, .tile = t};
  DVK_TRY(dvk_op_conv2d(ctx, &p, y, x, w, b, y)); /* warm-up, pipeline creation */
  DVK_TRY(dvk_flush(ctx));
  double flop = 2.0 * s->b * s->cout * s->cin * s->k * s->k * s->h * s->w, t0 = now_s(), el;
  int iters = 0;
  do {
    DVK_TRY(dvk_op_conv2d(ctx, &p, y, x, w, b, y));
    DVK_TRY(dvk_flush(ctx));
    iters++;
    el = now_s() - t0;
  } while (el < 1.0 && iters < 1000);
  printf("conv2d B=%u %ux%u cin=%u cout=%u k=%u %s tile %u/%u/%u/%u: %.2f ms, %.2f GFLOP/s\n", s->b, s->h, s->w,
         s->cin, s->cout, s->k, f16 ? "f16" : "f32", t->wg, t->tp, t->tc, t->texel, 1e3 * el / iters,
         flop * iters / el * 1e-9);
  return DVK_OK;
}

int main(int argc, char **argv) {
  dvk_device *ctx;
  dvk_arena *arena;
  dvk_error err = {""};
  dvk_device_options o = {0};
  if (dvk_device_create(&o, &ctx, &err)) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  if (dvk_arena_create(ctx, 0, &arena) != DVK_OK) {
    fprintf(stderr, "%s\n", ctx->error);
    dvk_device_destroy(ctx);
    return 1;
  }
  printf("device: %s (%s)\n", ctx->props.deviceName, ctx->driver_info);
  const shape shapes[] = {{1, 128, 128, 32, 32, 3}, {1, 64, 64, 64, 64, 3}, {1, 256, 64, 32, 32, 1}};
  int f16 = getenv("BENCH_F16") && atoi(getenv("BENCH_F16"));
  int rc = 0;
  for (int a = argc > 1 ? 1 : 0; a < argc && !rc; a++) {
    dvk_conv2d_params dp = {.w = 32};
    dvk_conv2d_tile t = dvk_conv2d_default_tile(ctx, &dp);
    if (argc > 1 && sscanf(argv[a], "%u/%u/%u/%u", &t.wg, &t.tp, &t.tc, &t.texel) < 3) {
      fprintf(stderr, "bad tiling '%s' (want WG/TP/TC[/TEXEL])\n", argv[a]);
      return 2;
    }
    for (size_t i = 0; i < sizeof shapes / sizeof *shapes && !rc; i++)
      rc = bench(ctx, arena, &shapes[i], &t, f16) != DVK_OK;
  }
  if (rc) fprintf(stderr, "failed: %s\n", ctx->error);
  dvk_arena_destroy(arena);
  dvk_device_destroy(ctx);
  return rc;
}
