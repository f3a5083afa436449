/* GGUF tensor upload. See weights.h. */
#include "model/weights.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/q8_0.h"

dvk_status dvk_loader_device_error(dvk_loader *L, const char *name, dvk_status s) {
  return dvk_error_set(L->err, s, "%s: loading tensor '%s': %s", gguf_name(L->file), name, L->ctx->error);
}

static dvk_status upload_bytes(dvk_loader *L, const char *name, const void *data, uint64_t nbytes, dvk_tensor *out) {
  uint64_t padded = (nbytes + 3) & ~(uint64_t)3;
  dvk_status s = dvk_arena_alloc(L->arena, padded, out);
  if (s == DVK_OK && padded != nbytes) { /* zero the tail word first, then the payload */
    uint32_t zero = 0;
    s = dvk_upload(L->ctx, dvk_tensor_slice(*out, padded - 4, 4), &zero, 4);
  }
  if (s == DVK_OK) s = dvk_upload(L->ctx, *out, data, nbytes);
  if (s != DVK_OK) return dvk_loader_device_error(L, name, s);
  L->bytes += padded;
  return DVK_OK;
}

/* A q8_0 tensor's n values decoded to f32 and uploaded (for ops that read only f32 / f16). */
static dvk_status upload_dequantized(dvk_loader *L, const gguf_tensor *t, dvk_tensor *out) {
  float *v = malloc((size_t)t->n_elements * sizeof *v);
  if (!v)
    return dvk_error_set(L->err, DVK_ERR_OUT_OF_HOST_MEMORY, "%s: tensor '%s': out of host memory (%" PRIu64 " values)",
                         gguf_name(L->file), t->name, t->n_elements);
  dvk_q8_dequantize(t->n_elements, t->data, v);
  dvk_status s = upload_bytes(L, t->name, v, t->n_elements * sizeof *v, out);
  free(v);
  return s;
}

/* A q8_0 tensor [rows, k] repacked into the device rows of shaders/q8_shared.h. */
static dvk_status upload_q8_rows(dvk_loader *L, const gguf_tensor *t, uint32_t rows, uint32_t k, dvk_tensor *out) {
  const uint64_t nbytes = (uint64_t)rows * dvk_q8_row_bytes(k);
  void *v = malloc((size_t)nbytes);
  if (!v)
    return dvk_error_set(L->err, DVK_ERR_OUT_OF_HOST_MEMORY, "%s: tensor '%s': out of host memory (%" PRIu64 " bytes)",
                         gguf_name(L->file), t->name, nbytes);
  dvk_q8_pack(rows, k, t->data, v);
  dvk_status s = upload_bytes(L, t->name, v, nbytes, out);
  free(v);
  return s;
}

/* A file tensor's bytes, on the device now: out of host memory (on unified-memory devices such as lavapipe
 * the device copy is host memory too, so loading must not keep the file's pages as well). */
static dvk_status uploaded(dvk_loader *L, const gguf_tensor *t, dvk_status s) {
  if (s == DVK_OK) gguf_release(L->file, t->data, t->nbytes);
  return s;
}

dvk_status dvk_load_raw(dvk_loader *L, const char *name, uint32_t n_dims, const uint64_t *shape, dvk_tensor *out,
                        int *is_f16) {
  const gguf_tensor *t;
  DVK_TRY(gguf_require_tensor(L->file, name, n_dims, shape, n_dims == 2 ? GGUF_ALLOW_MATRIX : GGUF_ALLOW_FLOAT, &t,
                              L->err));
  if (is_f16) *is_f16 = t->type == GGUF_TENSOR_F16;
  if (t->type == GGUF_TENSOR_Q8_0) return uploaded(L, t, upload_dequantized(L, t, out));
  return uploaded(L, t, upload_bytes(L, name, t->data, t->nbytes, out));
}

dvk_status dvk_load_vector(dvk_loader *L, const char *name, uint64_t n, dvk_tensor *out) {
  const gguf_tensor *t;
  DVK_TRY(gguf_require_tensor(L->file, name, 1, &n, GGUF_ALLOW_F32, &t, L->err));
  return uploaded(L, t, upload_bytes(L, name, t->data, t->nbytes, out));
}

dvk_status dvk_load_linear(dvk_loader *L, const char *name, uint32_t n, uint32_t k, dvk_matmul_weight *out) {
  const gguf_tensor *t;
  const uint64_t shape[2] = {n, k};
  DVK_TRY(gguf_require_tensor(L->file, name, 2, shape, GGUF_ALLOW_MATRIX, &t, L->err));
  dvk_matmul_wtype type = t->type == GGUF_TENSOR_Q8_0 ? DVK_MATMUL_Q8_0
                          : t->type == GGUF_TENSOR_F16 ? DVK_MATMUL_F16 : DVK_MATMUL_F32;
  dvk_status s = dvk_matmul_weight_upload(L->ctx, L->arena, type, n, k, t->data, type, out);
  if (s != DVK_OK) return dvk_loader_device_error(L, name, s);
  L->bytes += dvk_matmul_weight_bytes(type, n, k);
  return uploaded(L, t, DVK_OK);
}

dvk_status dvk_load_table(dvk_loader *L, const char *name, uint32_t rows, uint32_t d, dvk_embed_table *out) {
  const gguf_tensor *t;
  const uint64_t shape[2] = {rows, d};
  DVK_TRY(gguf_require_tensor(L->file, name, 2, shape, GGUF_ALLOW_MATRIX, &t, L->err));
  out->rows = rows;
  out->d = d;
  out->dtype = t->type == GGUF_TENSOR_Q8_0 ? DVK_TABLE_Q8_0 : t->type == GGUF_TENSOR_F16 ? DVK_TABLE_F16 : DVK_TABLE_F32;
  if (t->type == GGUF_TENSOR_Q8_0) return uploaded(L, t, upload_q8_rows(L, t, rows, d, &out->t));
  return uploaded(L, t, upload_bytes(L, name, t->data, t->nbytes, &out->t));
}

dvk_status dvk_load_host(dvk_loader *L, const char *name, const void *data, uint64_t nbytes, dvk_tensor *out) {
  return upload_bytes(L, name, data, nbytes, out);
}
