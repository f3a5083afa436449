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
/* The message for an image prompt given to a model without an image encoder (codec name, model name). */
#define DVK_NO_ENCODER_FMT                                                                                            \
  "image prompts need a model with a %s encoder; %s has none (min-dalle's VQGAN ships without one; other "           \
  "files: convert or export them without --no-encoder)"

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

/* Device memory (api_memory.c). The usable bytes: 80% of the largest device-local heap; env
 * DVK_DEVICE_MEMORY_MB overrides the heap's size (to emulate a smaller device); *heap: that heap, bytes. */
uint64_t dvk_usable_device_bytes(const dvk_device *vk, uint64_t *heap);

/* Device bytes the file's tensors take as stored (each on a 256-byte boundary): its weights, before uploading. */
uint64_t dvk_file_weight_bytes(const gguf_file *f);

/* DVK_ERR_OUT_OF_DEVICE_MEMORY, the message (needed vs usable MiB, the q8_0 advice) in err, when the file's
 * weights exceed the usable device memory; else DVK_OK. */
dvk_status dvk_check_weight_memory(dvk_device *vk, const gguf_file *f, dvk_error *err);

/* Returns s; when it is DVK_ERR_OUT_OF_DEVICE_MEMORY (the device refused a weight block), appends to err's
 * message what the weights need, what is usable and the q8_0 advice. */
dvk_status dvk_weight_oom_advice(dvk_device *vk, const gguf_file *f, dvk_error *err, dvk_status s);

/* Fails (DVK_ERR_OUT_OF_DEVICE_MEMORY) before allocating when n candidates in per * n transformer sequences (per = 2
 * with guidance) need more than the usable device memory: weights + transformer state + image decoder + reranker;
 * the message gives each, the usable bytes, how many candidates fit, and the q8_0 advice. */
dvk_status dvk_check_generation_memory(const dvk_model *m, uint32_t n, uint32_t per);

/* Returns s; rewrites a DVK_ERR_OUT_OF_DEVICE_MEMORY the device reported while generating n candidates (per_seqs
 * sequences each) as advice: fewer candidates or a q8_0 file, with the driver's message. */
dvk_status dvk_generation_oom_advice(dvk_model *m, uint32_t n, uint32_t per_seqs, dvk_status s);

#endif
