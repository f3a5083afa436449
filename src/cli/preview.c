/* Progressive previews: see preview.h. */
#include "cli/preview.h"

#include <stdlib.h>
#include <string.h>

static void on_step(void *user, uint32_t step, const float *logits, const int32_t *codes) {
  (void)logits;
  preview *pv = user;
  const uint32_t G = pv->grid, gg = G * G;
  for (uint32_t b = 0; b < pv->n; b++) pv->codes[(size_t)b * gg + step] = codes[b];
  const uint32_t rows = (step + 1) / G;
  if ((step + 1) % G || rows % pv->every_rows || rows >= G || pv->status != DVK_OK) return;
  dvk_images *im = NULL;
  pv->status = dvk_decode_codes(pv->model, pv->codes, pv->n, &im);
  if (pv->status == DVK_OK) pv->fn(pv->user, im, rows);
  dvk_images_free(im);
}

static void on_prune(void *user, uint32_t step, const uint32_t *src) {
  preview *pv = user;
  const size_t gg = (size_t)pv->grid * pv->grid;
  for (uint32_t b = 0; b < pv->n; b++) /* sources are kept candidates, so copying in any order is safe */
    if (src[b] != b) memcpy(pv->codes + b * gg, pv->codes + src[b] * gg, (step + 1) * sizeof *pv->codes);
}

dvk_status preview_attach(preview *pv, dvk_model *model, dvk_generate_params *p, uint32_t candidates,
                          uint32_t every_rows, preview_fn fn, void *user) {
  dvk_model_info info;
  dvk_model_get_info(model, &info);
  const size_t count = (size_t)candidates * info.grid * info.grid;
  *pv = (preview){.model = model, .n = candidates, .grid = info.grid, .every_rows = every_rows ? every_rows : 1,
                  .codes = malloc(count * sizeof *pv->codes), .fn = fn, .user = user};
  if (!pv->codes) return DVK_ERR_OUT_OF_HOST_MEMORY;
  for (size_t i = 0; i < count; i++) pv->codes[i] = -1;
  p->on_step = on_step;
  p->on_step_user = pv;
  p->on_prune = on_prune;
  p->on_prune_user = pv;
  return DVK_OK;
}

void preview_free(preview *pv) {
  free(pv->codes);
  pv->codes = NULL;
}
