/* Progressive previews during dvk_generate: follows every candidate's codes through the on_step and on_prune
 * callbacks (a pruned candidate takes over its source's codes) and, every `every_rows` image rows, decodes the
 * codes sampled so far (dvk_decode_codes: unsampled cells gray) and hands the images to a callback. Used by the
 * CLI's --preview and by the server's job previews. */
#ifndef DVK_CLI_PREVIEW_H
#define DVK_CLI_PREVIEW_H

#include "dallevk.h"

/* Receives n_images partial images after image row rows_done - 1 (1-based count of complete rows); the images are
 * valid during the call only. */
typedef void (*preview_fn)(void *user, const dvk_images *im, uint32_t rows_done);

typedef struct preview {
  dvk_model *model;
  uint32_t n, grid, every_rows;
  int32_t *codes;    /* [n, G*G], -1 = not sampled yet */
  preview_fn fn;
  void *user;
  dvk_status status; /* the first failed decode (DVK_OK when none); previews stop after one */
} preview;

/* Prepares previews of the `candidates` sampled candidates (dvk_settings.candidates) every every_rows (>= 1) rows and
 * sets p's on_step / on_prune (the rows after the last one are not previewed: the result follows).
 * Errors: DVK_ERR_OUT_OF_HOST_MEMORY. */
dvk_status preview_attach(preview *pv, dvk_model *model, dvk_generate_params *p, uint32_t candidates,
                          uint32_t every_rows, preview_fn fn, void *user);
void preview_free(preview *pv);

#endif
