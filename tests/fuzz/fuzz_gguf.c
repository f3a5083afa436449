/* libFuzzer harness for the GGUF reader (src/model/gguf.c). Build and run: docs/model-format.md.
 * Each input is opened from memory (an exactly-sized buffer, so ASan sees any over-read). When it
 * opens, every accessor a loader would use is exercised: each key by type (array elements, strings),
 * each tensor's bytes, lookups by name, and the shape-require helper. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "model/gguf.h"

static volatile unsigned g_sink; /* keeps reads from being optimised away */

static void touch_kv(const gguf_file *f, const gguf_kv *kv) {
  dvk_error err = {""};
  g_sink += gguf_find_key(f, kv->key) == kv;
  switch (kv->type) {
  case GGUF_TYPE_STRING: g_sink += (unsigned)strlen(kv->v.str.s) + (unsigned)kv->v.str.len; break;
  case GGUF_TYPE_ARRAY: {
    const gguf_array *a = &kv->v.arr;
    const gguf_array *b = NULL;
    g_sink += gguf_get_array(f, kv->key, a->type, &b, &err) == DVK_OK && b == a;
    for (uint64_t i = 0; i < a->count; i++) {
      switch (a->type) {
      case GGUF_TYPE_UINT32: g_sink += gguf_arr_u32(a, i); break;
      case GGUF_TYPE_INT32: g_sink += (unsigned)gguf_arr_i32(a, i); break;
      case GGUF_TYPE_FLOAT32: g_sink += gguf_arr_f32(a, i) > 0; break;
      case GGUF_TYPE_STRING: {
        const gguf_string *s = gguf_arr_str(a, i);
        g_sink += (unsigned)s->len + (s->len ? (unsigned char)s->s[s->len - 1] : 0) + (unsigned char)s->s[s->len];
        break;
      }
      default: g_sink += ((const unsigned char *)a->data)[i * (a->type >= GGUF_TYPE_UINT64 ? 8 : 1)]; break;
      }
    }
    break;
  }
  default: {
    uint32_t u;
    float x;
    bool b;
    g_sink += gguf_get_u32(f, kv->key, &u, &err) == DVK_OK;
    g_sink += gguf_get_f32(f, kv->key, &x, &err) == DVK_OK;
    g_sink += gguf_get_bool(f, kv->key, &b, &err) == DVK_OK;
  }
  }
}

static void touch_tensor(const gguf_file *f, const gguf_tensor *t, const uint8_t *buf, size_t size) {
  dvk_error err = {""};
  const uint8_t *p = t->data;
  if (p < buf || t->nbytes > size || p > buf + size - t->nbytes) __builtin_trap(); /* outside the input */
  if (t->nbytes) g_sink += p[0] + p[t->nbytes - 1];
  g_sink += gguf_find_tensor(f, t->name) == t;
  uint64_t shape[GGUF_MAX_DIMS];
  for (uint32_t k = 0; k < t->n_dims; k++) shape[k] = t->dims[t->n_dims - 1 - k];
  if (gguf_require_tensor(f, t->name, t->n_dims, shape, GGUF_ALLOW_MATRIX, NULL, &err) != DVK_OK) /* every type */
    __builtin_trap(); /* a tensor must match its own shape */
  shape[0] ^= 1;
  g_sink += gguf_require_tensor(f, t->name, t->n_dims, shape, GGUF_ALLOW_F32, NULL, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  gguf_file *f = NULL;
  dvk_error err = {""};
  dvk_status st = gguf_open_memory(data, size, "fuzz.gguf", &f, &err);
  if (st != DVK_OK) {
    if (f || err.msg[0] == '\0' || (st != DVK_ERR_MODEL_FORMAT && st != DVK_ERR_OUT_OF_HOST_MEMORY))
      __builtin_trap(); /* failures must be reported, with a message, and leave no object */
    return 0;
  }
  for (uint64_t i = 0; i < gguf_kv_count(f); i++) touch_kv(f, gguf_kv_at(f, i));
  for (uint64_t i = 0; i < gguf_tensor_count(f); i++) touch_tensor(f, gguf_tensor_at(f, i), data, size);
  gguf_close(f);
  return 0;
}
