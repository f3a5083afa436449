/* Definitions behind the public API's opaque handles, shared by the src/api_*.c files. */
#ifndef DVK_API_INTERNAL_H
#define DVK_API_INTERNAL_H

#include "dallevk.h"
#include "model/config.h"
#include "model/image_codec.h"
#include "model/reranker.h"
#include "model/text_tokenizer.h"
#include "model/transformer.h"
#include "vk/context.h"

/* Candidates sampled by default on a model with a reranker whose file names no count (clip.candidates). */
#define DVK_DEFAULT_CANDIDATES 32u

struct dvk_context {
  dvk_device *vk;            /* device, queue, error message */
  int verbose;
  char device_name[1024];
};

struct dvk_model {
  dvk_context *ctx;
  dvk_model_config cfg;
  dvk_tokenizer *tokenizer; /* prompt -> text ids */
  dvk_transformer tf;
  dvk_image_codec codec; /* the image decoder (dVAE or VQGAN) and its encoder when the file has one */
  dvk_reranker rr;      /* loaded when cfg.reranker.present */
  dvk_arena *weights;
  uint64_t weight_bytes;
};

/* The model's recommended candidate count: clip.candidates, DVK_DEFAULT_CANDIDATES when the file has a
 * reranker and names none, 0 without a reranker. */
uint32_t dvk_model_candidates(const dvk_model *m);

#endif
