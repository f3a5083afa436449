/* GGUF tensor upload. See weights.h. */
#include "model/weights.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* A file tensor's bytes, on the device now: out of host memory (on unified-memory devices such as lavapipe
 * the device copy is host memory too, so loading must not keep the file's pages as well). */
static dvk_status uploaded(dvk_loader *L, const gguf_tensor *t, dvk_status s) {
  if (s == DVK_OK) gguf_release(L->file, t->data, t->nbytes);
  return s;
}

dvk_status dvk_load_raw(dvk_loader *L, const char *name, uint32_t n_dims, const uint64_t *shape, dvk_tensor *out,
                        int *is_f16) {
  const gguf_tensor *t;
  DVK_TRY(gguf_require_tensor(L->file, name, n_dims, shape, GGUF_ALLOW_FLOAT, &t, L->err));
  if (is_f16) *is_f16 = t->type == GGUF_TENSOR_F16;
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
  DVK_TRY(gguf_require_tensor(L->file, name, 2, shape, GGUF_ALLOW_FLOAT, &t, L->err));
  dvk_matmul_wtype type = t->type == GGUF_TENSOR_F16 ? DVK_MATMUL_F16 : DVK_MATMUL_F32;
  dvk_status s = dvk_matmul_weight_upload(L->ctx, L->arena, type, n, k, t->data, type, out);
  if (s != DVK_OK) return dvk_loader_device_error(L, name, s);
  L->bytes += dvk_matmul_weight_bytes(type, n, k);
  return uploaded(L, t, DVK_OK);
}

dvk_status dvk_load_table(dvk_loader *L, const char *name, uint32_t rows, uint32_t d, dvk_embed_table *out) {
  int f16 = 0;
  const uint64_t shape[2] = {rows, d};
  DVK_TRY(dvk_load_raw(L, name, 2, shape, &out->t, &f16));
  out->rows = rows;
  out->d = d;
  out->dtype = f16 ? DVK_TABLE_F16 : DVK_TABLE_F32;
  return DVK_OK;
}

dvk_status dvk_load_host(dvk_loader *L, const char *name, const void *data, uint64_t nbytes, dvk_tensor *out) {
  return upload_bytes(L, name, data, nbytes, out);
}
