/* Test harness for dalle-vk op tests, in the spirit of ggml's test-backend-ops:
 * - every case has a printable name; `--filter SUBSTR` runs only matching cases;
 * - inputs are fresh seeded random data: the base seed (argument `--seed N`, env DVK_TEST_SEED, else
 *   time) is printed, each case derives its own seed from the base seed and its name, and a failure
 *   prints the command that reruns exactly that case;
 * - device outputs get a guard region after them that must stay untouched;
 * - NaN/Inf never pass; results are compared by relative error ||out - ref|| / ||ref||;
 * - the context requires the Khronos validation layer when DVK_VALIDATION=1 (ctest sets it), and any
 *   validation warning or error fails the run. */
#ifndef DVK_TEST_HARNESS_H
#define DVK_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "vk/dispatch.h"
#include "vk/memory.h"

typedef struct th_rng {
  uint64_t s;
} th_rng;

uint64_t th_rng_u64(th_rng *r);                   /* splitmix64 */
float th_rng_uniform(th_rng *r, float lo, float hi);
float th_rng_normal(th_rng *r);                   /* N(0, 1), Box-Muller */
void th_fill_uniform(th_rng *r, float *x, size_t n, float lo, float hi);

typedef struct th_ctx {
  dvk_device *ctx;
  dvk_arena *arena;
  uint64_t seed;           /* base seed */
  const char *filter;
  const char *argv0;
  int passed, failed, skipped;
  th_rng rng;              /* the current case's generator (th_case seeds it) */
  char case_name[256];
} th_ctx;

/* Parses --seed/--filter, creates the Vulkan context (validation when DVK_VALIDATION=1) and an arena.
 * Returns 0 on success; on failure prints why and returns non-zero (the test should exit with it). */
int th_init(th_ctx *t, int argc, char **argv);

/* Starts a case named by printf-style arguments. Returns 0 when the filter excludes it. Seeds t->rng
 * from the base seed and the name, drops any unsubmitted recording (dvk_discard) and resets the arena. */
int th_case(th_ctx *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Ends the current case: prints PASS/FAIL with the error and tolerance; on failure also the seed
 * and the command line that reruns the case. ok: the case's verdict. */
void th_case_done(th_ctx *t, int ok, double err, double tol);

/* Reports a failed Vulkan/engine call inside the current case (status + ctx error) and marks it failed. */
void th_case_error(th_ctx *t, const char *what, dvk_status s);

/* Prints "N passed, N failed", checks the validation-message count, frees everything.
 * Returns the process exit code (0 only when nothing failed). */
int th_finish(th_ctx *t);

/* For tests of plain conditions (no th_ctx cases): a failed cond counts in th_check_failures and prints the place
 * and the printf-style message. */
extern int th_check_failures;
#define TH_CHECK(cond, ...)                         \
  do {                                              \
    if (!(cond)) {                                  \
      th_check_failures++;                          \
      printf("FAIL %s:%d: ", __FILE__, __LINE__);   \
      printf(__VA_ARGS__);                          \
      printf("\n");                                 \
    }                                               \
  } while (0)

/* A device tensor of `bytes` followed by a guard region filled with a sentinel pattern. */
typedef struct th_buf {
  dvk_tensor t;     /* the tensor proper, `bytes` long */
  dvk_tensor whole; /* tensor + guard */
  size_t bytes;
} th_buf;

#define TH_GUARD_BYTES 1024
#define TH_SENTINEL 0x7fbadf00u /* a NaN pattern: a stray read of it also shows up */

/* Allocates and fills: tensor part with `init` (may be NULL: sentinel), guard with the sentinel.
 * Returns a status (failure also recorded via th_case_error by the caller). */
dvk_status th_alloc(th_ctx *t, size_t bytes, const void *init, th_buf *out);

/* Downloads the tensor part into host memory. */
dvk_status th_read(th_ctx *t, const th_buf *b, void *host);

/* 1 when the guard region still holds the sentinel everywhere; prints the first bad offset otherwise. */
int th_guard_ok(th_ctx *t, const th_buf *b);

/* Relative error ||out - ref||_2 / ||ref||_2 (absolute L2 when ref is all zero);
 * INFINITY when out holds a NaN or Inf anywhere. */
double th_rel_err(const float *out, const float *ref, size_t n);

/* Convenience for the usual case: downloads b (n floats), checks guard + rel error against ref with
 * tolerance tol, and ends the case. */
void th_check_f32(th_ctx *t, const th_buf *b, const float *ref, size_t n, double tol);

/* Runs `call` (assigning its status to a dvk_status s in scope) with the context's maxStorageBufferRange
 * lowered to range (0: unchanged), then flushes when it succeeded: forces an op to split its operands. */
#define TH_WITH_RANGE(t, range, call)                                 \
  do {                                                                \
    VkDeviceSize saved_ = (t)->ctx->limits.max_storage_range;        \
    if (range) (t)->ctx->limits.max_storage_range = (range);         \
    s = (call);                                                       \
    if (s == DVK_OK) s = dvk_flush((t)->ctx);                         \
    (t)->ctx->limits.max_storage_range = saved_;                      \
  } while (0)

/* IEEE half <-> float conversions (round to nearest even), for f16 weight tests. */
uint16_t th_f32_to_f16(float f);
float th_f16_to_f32(uint16_t h);

/* ggml's q8_0 quantisation, the tests' own reference: n floats (n a multiple of 32) become n / 32 blocks of
 * 34 bytes at blocks (the f16 scale d = max|x| / 127 of the block, then 32 int8 q = roundf(x / d), ties away
 * from zero), and decoded[i] receives d * q as the kernels must see it (decoded may be x). */
void th_q8_quantize(const float *x, size_t n, uint8_t *blocks, float *decoded);

/* For public-API tests: creates a context (validation when DVK_VALIDATION=1) and loads the test model
 * $DVK_TEST_DATA/parity/<file> (default tests/data). Returns 0, or prints why and returns 1 (nothing left open). */
#include "dallevk.h"
int th_open_model(const char *file, dvk_context **ctx, dvk_model **model);

#endif
