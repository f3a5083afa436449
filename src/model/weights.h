/* Uploading GGUF tensors to the device in the layouts the ops want. */
#ifndef DVK_MODEL_WEIGHTS_H
#define DVK_MODEL_WEIGHTS_H

#include "model/gguf.h"
#include "ops/embed.h"
#include "ops/matmul.h"
#include "vk/memory.h"

/* Loader state shared by the transformer and dVAE loaders: the open file, the device arena the
 * weights go to, and where a failure message goes. */
typedef struct dvk_loader {
  dvk_device *ctx;
  dvk_arena *arena;
  const gguf_file *file;
  dvk_error *err; /* where a loading failure's message goes (NULL: dropped) */
  uint64_t bytes; /* device bytes uploaded so far */
} dvk_loader;

/* A 1-D f32 tensor [n] (biases, LayerNorm parameters). */
dvk_status dvk_load_vector(dvk_loader *L, const char *name, uint64_t n, dvk_tensor *out);

/* A linear weight W [n, k] (PyTorch order), f32, f16 or q8_0 as stored, into the matmul device layout. */
dvk_status dvk_load_linear(dvk_loader *L, const char *name, uint32_t n, uint32_t k, dvk_matmul_weight *out);

/* An embedding table [rows, d], f32, f16 or q8_0 as stored (f16 padded to whole 32-bit words; q8_0 repacked
 * into the rows of shaders/q8_shared.h). */
dvk_status dvk_load_table(dvk_loader *L, const char *name, uint32_t rows, uint32_t d, dvk_embed_table *out);

/* A tensor of the given PyTorch-order shape, f32 or f16 uploaded byte for byte (rounded up to 4 bytes); a 2-D
 * tensor may also be q8_0, uploaded decoded to f32 (for ops without a q8_0 kernel: gathers of the image
 * decoders). *is_f16 receives whether it was uploaded as f16. */
dvk_status dvk_load_raw(dvk_loader *L, const char *name, uint32_t n_dims, const uint64_t *shape, dvk_tensor *out,
                        int *is_f16);

/* Host bytes built from file tensors (e.g. concatenated), uploaded as one tensor (rounded up to 4 bytes, the tail
 * zeroed); name is for messages. */
dvk_status dvk_load_host(dvk_loader *L, const char *name, const void *data, uint64_t nbytes, dvk_tensor *out);

/* Records a failure in the loader's dvk_error with the context's message appended. */
dvk_status dvk_loader_device_error(dvk_loader *L, const char *name, dvk_status s);

#endif
