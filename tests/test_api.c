/* Public API error paths: a generation that fails part-way through recording a step must leave the context
 * usable. The failure is forced by lowering the context's maxStorageBufferRange so that the first decode step
 * records the image embedding and a LayerNorm, then fails at the qkv matmul (its output no longer fits one
 * binding); the next dvk_generate on the same context must give the same pixels as before, with the
 * validation layer silent (no stale commands on freed buffers submitted). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_internal.h" /* the context's limits (to force the failure) and its validation-message count */
#include "dallevk.h"

static int g_failed;

#define CHECK(cond, ...)                               \
  do {                                                 \
    if (!(cond)) {                                     \
      g_failed++;                                      \
      printf("FAIL %s:%d: ", __FILE__, __LINE__);      \
      printf(__VA_ARGS__);                             \
      printf("\n");                                    \
    }                                                  \
  } while (0)

static dvk_status generate(dvk_model *m, uint32_t n, dvk_images **out) {
  dvk_generate_params p = dvk_generate_defaults();
  p.prompt = "red heart";
  p.n_images = n;
  p.seed = 5;
  return dvk_generate(m, &p, out);
}

int main(void) {
  const char *data = getenv("DVK_TEST_DATA");
  char path[1024];
  /* g5: T 7, d 48, G 5, 4 heads: one sequence's KV cache is (7 + 25) * 48 * 4 = 6144 bytes */
  snprintf(path, sizeof path, "%s/parity/g5-row-col-convwrap-f32.gguf", data ? data : "tests/data");
  dvk_context_options co = dvk_context_defaults();
  dvk_context *ctx = NULL;
  dvk_model *m = NULL;
  if (dvk_context_create(&co, &ctx) != DVK_OK) {
    printf("cannot create a context: %s\n", dvk_last_error(NULL));
    return 1;
  }
  if (dvk_model_load(ctx, path, &m) != DVK_OK) {
    printf("cannot load %s: %s\n", path, dvk_last_error(ctx));
    dvk_context_destroy(ctx);
    return 1;
  }

  dvk_images *ref = NULL, *again = NULL, *bad = NULL;
  dvk_status s = generate(m, 2, &ref);
  CHECK(s == DVK_OK, "reference generation: %s", dvk_last_error(ctx));

  /* 16 KiB bindings: the prefill fits (qkv 8 x 144 floats, 2 sequences of cache per chunk); with 64
   * candidates the decode step's embedding (64 x 48 floats = 12 KiB) fits, its qkv (36 KiB) does not. */
  dvk_ctx *vk = ctx->vk;
  const VkDeviceSize saved = vk->limits.max_storage_range;
  vk->limits.max_storage_range = 16384;
  s = generate(m, 64, &bad);
  vk->limits.max_storage_range = saved;
  CHECK(s == DVK_ERR_INVALID_ARGUMENT && bad == NULL && strstr(dvk_last_error(ctx), "matmul"),
        "forced failure: status %d, message '%s'", (int)s, dvk_last_error(ctx));

  s = generate(m, 2, &again);
  CHECK(s == DVK_OK, "generation after a failed one: %s", dvk_last_error(ctx));
  if (ref && again) {
    size_t bytes = (size_t)ref->height * ref->stride;
    int same = ref->count == again->count;
    for (uint32_t i = 0; same && i < ref->count; i++) same = memcmp(ref->pixels[i], again->pixels[i], bytes) == 0;
    CHECK(same, "the generation after a failed one differs from the reference");
  }
  CHECK(vk->validation_messages == 0, "the validation layer reported %u message(s)", vk->validation_messages);

  dvk_images_free(ref);
  dvk_images_free(again);
  dvk_model_free(m);
  dvk_context_destroy(ctx);
  printf("test_api: %s\n", g_failed ? "FAILED" : "passed");
  return g_failed ? 1 : 0;
}
