/* Element-wise ops against their C references. */
#include <stdlib.h>

#include "harness.h"
#include "ops/elementwise.h"

static void test_add(th_ctx *t, uint32_t n) {
  if (!th_case(t, "add n=%u", n)) return;
  float *a = malloc(n * 4), *b = malloc(n * 4), *ref = malloc(n * 4);
  th_fill_uniform(&t->rng, a, n, -2, 2);
  th_fill_uniform(&t->rng, b, n, -2, 2);
  for (uint32_t i = 0; i < n; i++) ref[i] = a[i] + b[i];
  th_buf da, db, dy;
  dvk_status s = th_alloc(t, n * 4, a, &da);
  if (s == DVK_OK) s = th_alloc(t, n * 4, b, &db);
  if (s == DVK_OK) s = th_alloc(t, n * 4, NULL, &dy);
  if (s == DVK_OK) s = dvk_op_add(t->ctx, dy.t, da.t, db.t, n);
  if (s != DVK_OK) th_case_error(t, "add", s);
  else th_check_f32(t, &dy, ref, n, 1e-6);
  free(a), free(b), free(ref);
}

int main(int argc, char **argv) {
  th_ctx t;
  int rc = th_init(&t, argc, argv);
  if (rc) return rc;
  const uint32_t sizes[] = {1, 7, 256, 1000, 65537, 300000};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) test_add(&t, sizes[i]);
  return th_finish(&t);
}
