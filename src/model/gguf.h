/* GGUF v3 reader (the model file format of llama.cpp / whisper.cpp, used by dalle-vk; schema in
 * docs/model-format.md).
 *
 * A model file is untrusted input. gguf_open / gguf_open_memory validate the whole structure before
 * returning: magic, version, every count against the bytes left, string lengths, value and array
 * element types, tensor ranks, dims, element-count overflow, tensor types (F32, F16, Q8_0 with dims[0] a
 * multiple of its 32-value block), offset alignment, each tensor's data aligned in memory to its element
 * size (Q8_0: 2 bytes, its f16 scales), every tensor inside the file, no two tensors overlapping, no
 * duplicate keys or tensor names. After a successful open every pointer handed out is safe to read for the
 * stated length (tensor data as float / uint16_t arrays, or Q8_0 blocks).
 *
 * Layout reminder (little-endian): "GGUF", u32 version, u64 tensor_count, u64 kv_count, KV pairs,
 * tensor infos, padding to general.alignment (default 32), data section. Tensor dims are in ggml
 * order: dims[0] varies fastest, i.e. the reverse of the PyTorch shape. The shape helpers below
 * take and print shapes PyTorch-style (outermost first), like docs/model-format.md.
 *
 * Error reporting: functions taking (err) write one line naming the file and the problem,
 * e.g. "model.gguf: tensor 'blk.3.attn.qkv.w' has shape [256, 768], expected [256, 96]"; err may be
 * NULL (no message; error.h). Messages are truncated to the dvk_error's buffer, always NUL-terminated.
 * The reader assumes a little-endian host for tensor data (metadata is decoded byte by byte). */
#ifndef DVK_MODEL_GGUF_H
#define DVK_MODEL_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dallevk_status.h"
#include "error.h"

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32u
#define GGUF_MAX_KEY_LEN 65535u /* bytes, as in the GGUF spec */
#define GGUF_MAX_NAME_LEN 255u  /* bytes of a tensor name */

/* Metadata value types (GGUF ids). */
typedef enum gguf_type {
  GGUF_TYPE_UINT8 = 0,
  GGUF_TYPE_INT8 = 1,
  GGUF_TYPE_UINT16 = 2,
  GGUF_TYPE_INT16 = 3,
  GGUF_TYPE_UINT32 = 4,
  GGUF_TYPE_INT32 = 5,
  GGUF_TYPE_FLOAT32 = 6,
  GGUF_TYPE_BOOL = 7,
  GGUF_TYPE_STRING = 8,
  GGUF_TYPE_ARRAY = 9,
  GGUF_TYPE_UINT64 = 10,
  GGUF_TYPE_INT64 = 11,
  GGUF_TYPE_FLOAT64 = 12,
  GGUF_TYPE_COUNT
} gguf_type;

/* Tensor element types the engine accepts (ggml ids); every other ggml type is rejected at open.
 * Q8_0 (ggml's layout): blocks of GGUF_Q8_0_BLOCK values along dims[0], each an f16 scale d then 32 int8 q
 * (value = d * q), GGUF_Q8_0_BYTES bytes per block. */
typedef enum gguf_tensor_type { GGUF_TENSOR_F32 = 0, GGUF_TENSOR_F16 = 1, GGUF_TENSOR_Q8_0 = 8 } gguf_tensor_type;
#define GGUF_Q8_0_BLOCK 32u
#define GGUF_Q8_0_BYTES 34u

/* Bit masks of gguf_tensor_type for gguf_require_tensor. */
#define GGUF_ALLOW_F32 (1u << GGUF_TENSOR_F32)
#define GGUF_ALLOW_F16 (1u << GGUF_TENSOR_F16)
#define GGUF_ALLOW_Q8_0 (1u << GGUF_TENSOR_Q8_0)
#define GGUF_ALLOW_FLOAT (GGUF_ALLOW_F32 | GGUF_ALLOW_F16)
/* What a 2-D weight (matmul weight, embedding table) may be stored as (docs/model-format.md §3). */
#define GGUF_ALLOW_MATRIX (GGUF_ALLOW_FLOAT | GGUF_ALLOW_Q8_0)

/* A string value. s is a NUL-terminated copy owned by the gguf_file; len excludes the NUL. A GGUF
 * string may itself contain NUL bytes: use len, not strlen, when that matters. */
typedef struct gguf_string {
  const char *s;
  uint64_t len;
} gguf_string;

/* An array value. type is the element type (never GGUF_TYPE_ARRAY: nested arrays are rejected).
 * For numeric and bool elements data points at count packed little-endian elements inside the
 * file (possibly unaligned: read them with the gguf_arr_* accessors); for strings data points at
 * count gguf_string owned by the gguf_file. */
typedef struct gguf_array {
  gguf_type type;
  uint64_t count;
  const void *data;
} gguf_array;

/* One key/value pair. Which union member holds the value depends on type:
 * UINT8/16/32/64 -> u (zero-extended), INT8/16/32/64 -> i (sign-extended), FLOAT32/FLOAT64 -> f
 * (float32 widened exactly), BOOL -> b, STRING -> str, ARRAY -> arr. */
typedef struct gguf_kv {
  const char *key; /* NUL-terminated, owned by the gguf_file, no embedded NUL */
  gguf_type type;
  union {
    uint64_t u;
    int64_t i;
    double f;
    bool b;
    gguf_string str;
    gguf_array arr;
  } v;
} gguf_kv;

/* One tensor. dims are in ggml order (dims[0] fastest); dims[n_dims..3] are 1. data points into
 * the file; it is aligned to the file's general.alignment when the file was opened by path (the
 * mapping is page-aligned) and otherwise as aligned as the buffer given to gguf_open_memory. */
typedef struct gguf_tensor {
  const char *name; /* NUL-terminated, owned by the gguf_file */
  gguf_tensor_type type;
  uint32_t n_dims;  /* 1..GGUF_MAX_DIMS */
  uint64_t dims[GGUF_MAX_DIMS];
  uint64_t n_elements; /* product of dims */
  uint64_t nbytes;     /* n_elements * element size (Q8_0: n_elements / 32 * 34) */
  uint64_t offset;     /* from the start of the data section, a multiple of the alignment */
  const void *data;
} gguf_tensor;

typedef struct gguf_file gguf_file; /* opaque */

/* Opens and validates the GGUF file at path (mapped read-only with mmap). On success stores a new
 * gguf_file in *out (release with gguf_close) and returns DVK_OK. On failure *out is NULL and the
 * result is DVK_ERR_IO (cannot open, stat or map; not a regular file), DVK_ERR_MODEL_FORMAT
 * (malformed or unsupported content) or DVK_ERR_OUT_OF_HOST_MEMORY, with a message in err.
 * The file must not be truncated by someone else while it is open (that would raise SIGBUS). */
dvk_status gguf_open(const char *path, gguf_file **out, dvk_error *err);

/* Like gguf_open, on size bytes at data. The buffer is borrowed, not copied: it must stay valid
 * and unchanged until gguf_close. name (e.g. a file name; NULL: "<memory>") is copied and used in
 * messages. Never returns DVK_ERR_IO. */
dvk_status gguf_open_memory(const void *data, size_t size, const char *name, gguf_file **out, dvk_error *err);

/* Drops the pages of the mapping that hold [data, data + nbytes) (a tensor's bytes, already copied to the device)
 * from this process's resident memory, so that loading a model holds at most one copy of it (the device's).
 * The bytes stay readable (a later read faults them in from the file again). A no-op for gguf_open_memory files
 * and for ranges outside the mapping. */
void gguf_release(const gguf_file *f, const void *data, uint64_t nbytes);

/* Releases everything the file owns (the mapping, every string, kv and tensor). NULL is a no-op.
 * All pointers obtained from f become invalid. */
void gguf_close(gguf_file *f);

/* The name used in messages (the path, or gguf_open_memory's name). Owned by f. */
const char *gguf_name(const gguf_file *f);
/* GGUF version (2 or 3; both share one layout). */
uint32_t gguf_version(const gguf_file *f);
/* general.alignment of the file (GGUF_DEFAULT_ALIGNMENT when the key is absent). */
uint32_t gguf_alignment(const gguf_file *f);

/* Number of key/value pairs and the i-th in file order (i < gguf_kv_count, else NULL). */
uint64_t gguf_kv_count(const gguf_file *f);
const gguf_kv *gguf_kv_at(const gguf_file *f, uint64_t i);
/* The pair with this key, or NULL if absent (binary search; keys are unique). */
const gguf_kv *gguf_find_key(const gguf_file *f, const char *key);

/* Typed getters. Each returns DVK_OK and stores the value when key exists with exactly the named
 * type; otherwise returns DVK_ERR_MODEL_FORMAT with "FILE: key 'K' is missing" or "FILE: key 'K' has
 * type int32, expected uint32" and leaves *out untouched. No conversions between types. */
dvk_status gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, dvk_error *err);
dvk_status gguf_get_i32(const gguf_file *f, const char *key, int32_t *out, dvk_error *err);
dvk_status gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, dvk_error *err);
dvk_status gguf_get_f32(const gguf_file *f, const char *key, float *out, dvk_error *err);
dvk_status gguf_get_bool(const gguf_file *f, const char *key, bool *out, dvk_error *err);
/* *out points at the string owned by f. */
dvk_status gguf_get_string(const gguf_file *f, const char *key, const gguf_string **out, dvk_error *err);
/* An array whose elements have type elem_type (GGUF_TYPE_COUNT: any element type). *out is owned
 * by f. Errors also when the element type differs: "key 'K' is an array of string, expected an
 * array of uint32". */
dvk_status gguf_get_array(const gguf_file *f, const char *key, gguf_type elem_type, const gguf_array **out,
                          dvk_error *err);

/* Element i of an array (precondition: i < a->count and the element type named below; violating it
 * is a programming error, caught by assert). u32: UINT32; i32: INT32; f32: FLOAT32; str: STRING. */
uint32_t gguf_arr_u32(const gguf_array *a, uint64_t i);
int32_t gguf_arr_i32(const gguf_array *a, uint64_t i);
float gguf_arr_f32(const gguf_array *a, uint64_t i);
const gguf_string *gguf_arr_str(const gguf_array *a, uint64_t i);

/* Number of tensors and the i-th in file order (i < gguf_tensor_count, else NULL). */
uint64_t gguf_tensor_count(const gguf_file *f);
const gguf_tensor *gguf_tensor_at(const gguf_file *f, uint64_t i);
/* The tensor with this name, or NULL if absent (binary search; names are unique). */
const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name);

/* Finds tensor name and checks it: n_dims equal, shape equal (shape[0] outermost, PyTorch order,
 * i.e. shape[k] == dims[n_dims - 1 - k]), type in the mask allowed (GGUF_ALLOW_*). On success
 * stores the tensor in *out (owned by f; out may be NULL) and returns DVK_OK; otherwise returns
 * DVK_ERR_MODEL_FORMAT with one of
 *   "FILE: required tensor 'N' is missing"
 *   "FILE: tensor 'N' has shape [256, 768], expected [256, 96]"
 *   "FILE: tensor 'N' has type f16, expected f32" (or "f32 or f16 or q8_0", per the mask). */
dvk_status gguf_require_tensor(const gguf_file *f, const char *name, uint32_t n_dims, const uint64_t *shape,
                               unsigned allowed, const gguf_tensor **out, dvk_error *err);

/* Names for messages: "uint32", "string", ... / "f32", "f16", "q8_0"; "unknown" for other values. */
const char *gguf_type_name(gguf_type t);
const char *gguf_tensor_type_name(uint32_t t);
/* Bytes of one block of a supported tensor type (f32: 4, f16: 2, one value per block; q8_0: 34 per 32 values),
 * 0 for unsupported types. */
size_t gguf_tensor_type_size(uint32_t t);
/* Values per block of a supported tensor type (1, or GGUF_Q8_0_BLOCK), 0 for unsupported types. dims[0] must be a
 * multiple of it. */
uint32_t gguf_tensor_type_block(uint32_t t);
/* Alignment in bytes the tensor's data must have in memory (4 f32, 2 f16 and q8_0), 0 for unsupported types. */
size_t gguf_tensor_type_align(uint32_t t);

#endif
