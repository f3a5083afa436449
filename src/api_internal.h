/* Definitions behind the public API's opaque handles. */
#ifndef DVK_API_INTERNAL_H
#define DVK_API_INTERNAL_H

#include "dallevk.h"
#include "model/config.h"
#include "model/dvae.h"
#include "model/dvae_enc.h"
#include "model/rerank.h"
#include "model/tokenizer.h"
#include "model/transformer.h"
#include "vk/context.h"

struct dvk_context {
  dvk_ctx *vk;            /* device, queue, error message */
  int verbose;
  char device_name[1024];
};

struct dvk_model {
  dvk_context *ctx;
  dvk_model_config cfg;
  dvk_bpe *bpe;
  dvk_transformer tf;
  dvk_dvae dvae;
  dvk_dvae_encoder enc; /* loaded when cfg.dvae.has_encoder */
  dvk_reranker rr; /* loaded when cfg.clip.present */
  dvk_arena *weights;
  uint64_t weight_bytes;
};

#endif
