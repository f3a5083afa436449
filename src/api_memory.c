/* Public API: device memory, planned before allocating. A model's weights are counted from its file before any
 * upload, a generation's transformer state, image decoder and reranker scratch before they are allocated; both
 * fail early with what was needed, what the device has and what would fit (docs/design.md §6). */
#include <stdio.h>
#include <stdlib.h>

#include "api_internal.h"

#define MIB(x) ((double)(x) / (1 << 20))
#define Q8_ADVICE "a q8_0 model file holds the weights in about half the memory of f16 (tools/convert.py ... --type q8_0)"

uint64_t dvk_usable_device_bytes(const dvk_device *vk, uint64_t *heap_out) {
  uint64_t heap = 0;
  for (uint32_t i = 0; i < vk->mem_props.memoryHeapCount; i++)
    if ((vk->mem_props.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) && vk->mem_props.memoryHeaps[i].size > heap)
      heap = vk->mem_props.memoryHeaps[i].size;
  const char *env = getenv("DVK_DEVICE_MEMORY_MB");
  if (env && *env) heap = strtoull(env, NULL, 10) << 20;
  if (heap_out) *heap_out = heap;
  return heap / 5 * 4;
}

uint64_t dvk_file_weight_bytes(const gguf_file *f) {
  uint64_t b = 0;
  for (uint64_t i = 0; i < gguf_tensor_count(f); i++) b += (gguf_tensor_at(f, i)->nbytes + 255) / 256 * 256;
  return b;
}

dvk_status dvk_check_weight_memory(dvk_device *vk, const gguf_file *f, dvk_error *err) {
  uint64_t heap;
  const uint64_t usable = dvk_usable_device_bytes(vk, &heap), need = dvk_file_weight_bytes(f);
  if (need <= usable) return DVK_OK;
  dvk_error_note(err, "%s: out of device memory: the weights need %.0f MiB and %.0f MiB are usable (80%% of the "
                 "device's %.0f MiB); " Q8_ADVICE, gguf_name(f), MIB(need), MIB(usable), MIB(heap));
  return DVK_ERR_OUT_OF_DEVICE_MEMORY;
}

dvk_status dvk_weight_oom_advice(dvk_device *vk, const gguf_file *f, dvk_error *err, dvk_status s) {
  if (s != DVK_ERR_OUT_OF_DEVICE_MEMORY) return s;
  uint64_t heap;
  const uint64_t usable = dvk_usable_device_bytes(vk, &heap);
  char driver[sizeof err->msg];
  snprintf(driver, sizeof driver, "%s", err->msg);
  dvk_error_note(err, "%.700s (the weights need %.0f MiB, %.0f MiB of the device's %.0f MiB are usable; " Q8_ADVICE ")",
                 driver, MIB(dvk_file_weight_bytes(f)), MIB(usable), MIB(heap));
  return s;
}

/* Device bytes of one generation of n candidates in seqs transformer sequences, by owner. */
typedef struct generation_bytes {
  uint64_t state, reranker, decoder, total; /* total includes the weights */
} generation_bytes;

static generation_bytes generation_need(const dvk_model *m, uint32_t n, uint32_t seqs) {
  generation_bytes g = {.state = dvk_tf_state_bytes(&m->tf, seqs),
                        .reranker = m->cfg.reranker.present ? dvk_reranker_bytes(&m->rr, n) : 0,
                        .decoder = dvk_image_codec_decode_bytes(&m->codec)};
  g.total = m->weight_bytes + g.state + g.reranker + g.decoder;
  return g;
}

dvk_status dvk_check_generation_memory(const dvk_model *m, uint32_t n, uint32_t per) {
  uint64_t heap;
  const uint64_t usable = dvk_usable_device_bytes(m->ctx->vk, &heap);
  const generation_bytes g = generation_need(m, n, per * n);
  if (g.total <= usable) return DVK_OK;
  uint32_t fit = 0;
  while (fit < n && generation_need(m, fit + 1, per * (fit + 1)).total <= usable) fit++;
  char advice[96];
  if (fit) snprintf(advice, sizeof advice, "at most %u candidates fit (--candidates %u), or ", fit, fit);
  else snprintf(advice, sizeof advice, "not even one candidate fits; ");
  return dvk_fail(m->ctx->vk, DVK_ERR_OUT_OF_DEVICE_MEMORY,
                  "out of device memory: %u candidates need %.0f MiB (weights %.0f, transformer state of %u "
                  "sequences %.0f, image decoder %.0f, reranker %.0f) and %.0f MiB are usable (80%% of the device's "
                  "%.0f MiB); %s" Q8_ADVICE, n, MIB(g.total), MIB(m->weight_bytes), per * n, MIB(g.state),
                  MIB(g.decoder), MIB(g.reranker), MIB(usable), MIB(heap), advice);
}

dvk_status dvk_generation_oom_advice(dvk_model *m, uint32_t n, uint32_t per_seqs, dvk_status s) {
  if (s != DVK_ERR_OUT_OF_DEVICE_MEMORY) return s;
  char driver[sizeof m->ctx->vk->error];
  snprintf(driver, sizeof driver, "%s", m->ctx->vk->error);
  uint64_t per = dvk_tf_state_bytes(&m->tf, per_seqs);
  const uint32_t fewer = n > 1 ? n / 2 : 1;
  return dvk_fail(m->ctx->vk, s,
                  "out of device memory generating %u candidates at once (about %.0f MiB of KV cache and activations "
                  "per candidate); try %u (--candidates %u), or " Q8_ADVICE " (driver: %s)", n, MIB(per), fewer,
                  fewer, driver);
}
