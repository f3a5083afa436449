/* Test harness implementation. See harness.h. */
#include "harness.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

uint64_t th_rng_u64(th_rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

float th_rng_uniform(th_rng *r, float lo, float hi) {
  double u = (double)(th_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
  return (float)(lo + (hi - lo) * u);
}

float th_rng_normal(th_rng *r) {
  double u1 = ((double)(th_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
  double u2 = (double)(th_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

void th_fill_uniform(th_rng *r, float *x, size_t n, float lo, float hi) {
  for (size_t i = 0; i < n; i++) x[i] = th_rng_uniform(r, lo, hi);
}

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

int th_check_failures;

int th_init(th_ctx *t, int argc, char **argv) {
  memset(t, 0, sizeof *t);
  t->argv0 = argv[0];
  const char *env_seed = getenv("DVK_TEST_SEED");
  t->seed = env_seed ? strtoull(env_seed, NULL, 10) : ((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 16)) % 1000000007ull;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) t->seed = strtoull(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--filter") == 0 && i + 1 < argc) t->filter = argv[++i];
    else {
      fprintf(stderr, "usage: %s [--seed N] [--filter SUBSTRING]\n", argv[0]);
      return 2;
    }
  }
  dvk_error err = {""};
  dvk_device_options o = {0};
  dvk_status s = dvk_device_create(&o, &t->ctx, &err);
  if (s != DVK_OK) {
    fprintf(stderr, "cannot create a Vulkan context: %s\n", err.msg);
    return 1;
  }
  s = dvk_arena_create(t->ctx, 0, &t->arena);
  if (s != DVK_OK) {
    fprintf(stderr, "cannot create an arena: %s\n", t->ctx->error);
    return 1;
  }
  printf("device: %s (%s); base seed %llu\n", t->ctx->props.deviceName, t->ctx->driver_info,
         (unsigned long long)t->seed);
  return 0;
}

int th_case(th_ctx *t, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(t->case_name, sizeof t->case_name, fmt, ap);
  va_end(ap);
  if (t->filter && !strstr(t->case_name, t->filter)) {
    t->skipped++;
    return 0;
  }
  t->rng.s = t->seed ^ hash_str(t->case_name);
  dvk_discard(t->ctx); /* a case that failed part-way may have left commands on the tensors reset below */
  dvk_arena_reset(t->arena);
  return 1;
}

void th_case_done(th_ctx *t, int ok, double err, double tol) {
  if (ok) {
    t->passed++;
    printf("PASS %-60s err %.3g (tol %.1g)\n", t->case_name, err, tol);
  } else {
    t->failed++;
    printf("FAIL %-60s err %.3g (tol %.1g)\n     seed %llu; rerun: DVK_VALIDATION=1 %s --seed %llu --filter '%s'\n",
           t->case_name, err, tol, (unsigned long long)t->seed, t->argv0, (unsigned long long)t->seed, t->case_name);
  }
  fflush(stdout);
}

void th_case_error(th_ctx *t, const char *what, dvk_status s) {
  t->failed++;
  printf("FAIL %-60s %s: %s: %s\n     seed %llu\n", t->case_name, what, dvk_status_str(s), t->ctx->error,
         (unsigned long long)t->seed);
  fflush(stdout);
}

int th_finish(th_ctx *t) {
  if (t->ctx) {
    dvk_flush(t->ctx);
    if (t->ctx->validation_messages) {
      printf("FAIL validation layer reported %u warning(s)/error(s)\n", t->ctx->validation_messages);
      t->failed++;
    }
  }
  dvk_arena_destroy(t->arena);
  dvk_device_destroy(t->ctx);
  printf("%d passed, %d failed\n", t->passed, t->failed);
  return t->failed ? 1 : 0;
}

dvk_status th_alloc(th_ctx *t, size_t bytes, const void *init, th_buf *out) {
  memset(out, 0, sizeof *out);
  size_t padded = (bytes + 3) & ~(size_t)3;
  DVK_TRY(dvk_arena_alloc(t->arena, padded + TH_GUARD_BYTES, &out->whole));
  out->bytes = bytes;
  out->t = dvk_tensor_slice(out->whole, 0, bytes);
  DVK_TRY(dvk_fill(t->ctx, out->whole, TH_SENTINEL, padded + TH_GUARD_BYTES));
  if (init) DVK_TRY(dvk_upload(t->ctx, out->t, init, bytes));
  return DVK_OK;
}

dvk_status th_read(th_ctx *t, const th_buf *b, void *host) { return dvk_download(t->ctx, host, b->t, b->bytes); }

int th_guard_ok(th_ctx *t, const th_buf *b) {
  size_t padded = (b->bytes + 3) & ~(size_t)3;
  uint32_t guard[TH_GUARD_BYTES / 4];
  dvk_tensor g = dvk_tensor_slice(b->whole, padded, TH_GUARD_BYTES);
  if (dvk_download(t->ctx, guard, g, TH_GUARD_BYTES) != DVK_OK) return 0;
  for (size_t i = 0; i < TH_GUARD_BYTES / 4; i++)
    if (guard[i] != TH_SENTINEL) {
      printf("     guard region overwritten at byte %zu after the output\n", i * 4);
      return 0;
    }
  return 1;
}

double th_rel_err(const float *out, const float *ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    if (!isfinite(out[i])) return INFINITY;
    double d = (double)out[i] - (double)ref[i];
    num += d * d;
    den += (double)ref[i] * (double)ref[i];
  }
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

void th_check_f32(th_ctx *t, const th_buf *b, const float *ref, size_t n, double tol) {
  float *out = malloc(n * sizeof *out);
  if (!out) {
    th_case_error(t, "malloc", DVK_ERR_OUT_OF_HOST_MEMORY);
    return;
  }
  dvk_status s = dvk_download(t->ctx, out, b->t, n * sizeof *out);
  if (s != DVK_OK) {
    free(out);
    th_case_error(t, "download", s);
    return;
  }
  double err = th_rel_err(out, ref, n);
  int guard = th_guard_ok(t, b);
  free(out);
  th_case_done(t, guard && err <= tol, err, tol);
}

uint16_t th_f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u;
  int32_t exp = (int32_t)((x >> 23) & 0xff) - 127 + 15;
  uint32_t mant = x & 0x7fffffu;
  if (((x >> 23) & 0xff) == 0xff) return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u : 0));
  if (exp >= 31) return (uint16_t)(sign | 0x7c00u);
  if (exp <= 0) {
    if (exp < -10) return (uint16_t)sign;
    mant |= 0x800000u;
    uint32_t shift = (uint32_t)(14 - exp);
    uint32_t h = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (h & 1))) h++;
    return (uint16_t)(sign | h);
  }
  uint32_t h = sign | ((uint32_t)exp << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
  return (uint16_t)h;
}

float th_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1f, mant = h & 0x3ffu, x;
  if (exp == 0) {
    if (mant == 0) x = sign;
    else {
      exp = 127 - 15 + 1;
      while (!(mant & 0x400u)) { mant <<= 1; exp--; }
      x = sign | (exp << 23) | ((mant & 0x3ffu) << 13);
    }
  } else if (exp == 31) x = sign | 0x7f800000u | (mant << 13);
  else x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  float f;
  memcpy(&f, &x, 4);
  return f;
}

void th_q8_quantize(const float *x, size_t n, uint8_t *blocks, float *decoded) {
  for (size_t i = 0; i < n; i += 32, blocks += 34) {
    float amax = 0;
    for (size_t j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[i + j]));
    const float d = amax / 127.0f, inv = d != 0 ? 1.0f / d : 0.0f;
    const uint16_t dh = th_f32_to_f16(d);
    const float dr = th_f16_to_f32(dh);
    blocks[0] = (uint8_t)(dh & 0xff), blocks[1] = (uint8_t)(dh >> 8);
    for (size_t j = 0; j < 32; j++) {
      const int8_t q = (int8_t)roundf(x[i + j] * inv);
      blocks[2 + j] = (uint8_t)q;
      decoded[i + j] = dr * (float)q;
    }
  }
}

int th_open_model(const char *file, dvk_context **ctx, dvk_model **model) {
  const char *data = getenv("DVK_TEST_DATA");
  char path[1024];
  snprintf(path, sizeof path, "%s/parity/%s", data ? data : "tests/data", file);
  dvk_context_options co = dvk_context_defaults();
  *model = NULL;
  char why[512];
  if (dvk_context_create(&co, ctx, why, sizeof why) != DVK_OK) {
    printf("cannot create a context: %s\n", why);
    return 1;
  }
  if (dvk_model_load(*ctx, path, model) != DVK_OK) {
    printf("cannot load %s: %s\n", path, dvk_last_error(*ctx));
    dvk_context_destroy(*ctx);
    *ctx = NULL;
    return 1;
  }
  return 0;
}
