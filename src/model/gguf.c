/* GGUF v3 reader: parse and validate everything, then hand out pointers into the file.
 * Order of the file: header, key/value pairs, tensor infos, padding, data. Parsing is one forward
 * pass with a bounds-checked cursor; cross-checks (alignment key, tensor ranges, overlaps,
 * duplicates) follow once everything is read. See gguf.h for the contract. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* madvise */
#include "model/gguf.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Smallest possible encodings, used to bound counts by the bytes left before allocating:
 * key/value = key length (8) + 1 key byte + value type (4) + 1 value byte;
 * tensor info = name length (8) + 1 name byte + n_dims (4) + 1 dim (8) + type (4) + offset (8). */
#define MIN_KV_BYTES 14u
#define MIN_TENSOR_INFO_BYTES 33u
#define HEADER_BYTES 24u
#define ARENA_BLOCK_BYTES 65536u

/* ---------------------------------------------------------------------------------------------- */
/* String arena: every string and string-array table the file owns, freed at once. */

typedef struct arena_block {
  struct arena_block *next;
  size_t cap, used;
  max_align_t data[]; /* cap bytes */
} arena_block;

static void *arena_alloc(arena_block **head, size_t n) {
  const size_t a = sizeof(max_align_t);
  if (n > SIZE_MAX - 2 * a - sizeof(arena_block)) return NULL;
  n = (n + a - 1) / a * a;
  arena_block *b = *head;
  if (!b || b->cap - b->used < n) {
    size_t cap = n > ARENA_BLOCK_BYTES ? n : ARENA_BLOCK_BYTES;
    b = malloc(sizeof(arena_block) + cap);
    if (!b) return NULL;
    b->cap = cap;
    b->used = 0;
    b->next = *head;
    *head = b;
  }
  void *p = (unsigned char *)b->data + b->used;
  b->used += n;
  return p;
}

static void arena_free(arena_block *b) {
  while (b) {
    arena_block *next = b->next;
    free(b);
    b = next;
  }
}

/* ---------------------------------------------------------------------------------------------- */

struct gguf_file {
  char *name;
  const uint8_t *base; /* size bytes: the mapping or the caller's buffer */
  size_t size;
  int mapped;          /* 1: base was mmap'ed by gguf_open */
  uint32_t version, alignment;
  uint64_t n_kv, n_tensors;
  gguf_kv *kvs;             /* [n_kv], file order */
  const gguf_kv **kv_by_key;  /* [n_kv], sorted by key */
  gguf_tensor *tensors;     /* [n_tensors], file order */
  const gguf_tensor **t_by_name; /* [n_tensors], sorted by name */
  uint64_t data_start;      /* byte offset of the data section */
  arena_block *arena;
};

/* Writes "NAME: message" into err (if any); returns st. */
static dvk_status vfail(dvk_error *err, const char *name, dvk_status st, const char *fmt, va_list ap) {
  if (!err) return st;
  const size_t len = sizeof err->msg;
  int n = snprintf(err->msg, len, "%s: ", name ? name : "<memory>");
  if (n >= 0 && (size_t)n < len) vsnprintf(err->msg + n, len - (size_t)n, fmt, ap);
  return st;
}

static dvk_status failf(dvk_error *err, const char *name, dvk_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(err, name, st, fmt, ap);
  va_end(ap);
  return st;
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | (unsigned)p[1] << 8); }
static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

const char *gguf_type_name(gguf_type t) {
  static const char *const names[GGUF_TYPE_COUNT] = {"uint8", "int8",   "uint16", "int16", "uint32",
                                                     "int32", "float32", "bool",  "string", "array",
                                                     "uint64", "int64", "float64"};
  return (unsigned)t < GGUF_TYPE_COUNT ? names[t] : "unknown";
}

/* Element size of a scalar metadata type; 0 for string and array. */
static size_t type_size(gguf_type t) {
  static const uint8_t sizes[GGUF_TYPE_COUNT] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
  return (unsigned)t < GGUF_TYPE_COUNT ? sizes[t] : 0;
}

const char *gguf_tensor_type_name(uint32_t t) {
  /* ggml ids, so that a quantized file is named in the message. */
  switch (t) {
  case 0: return "f32";
  case 1: return "f16";
  case 2: return "q4_0";
  case 3: return "q4_1";
  case 6: return "q5_0";
  case 7: return "q5_1";
  case 8: return "q8_0";
  case 9: return "q8_1";
  case 10: return "q2_K";
  case 11: return "q3_K";
  case 12: return "q4_K";
  case 13: return "q5_K";
  case 14: return "q6_K";
  case 15: return "q8_K";
  case 24: return "i8";
  case 25: return "i16";
  case 26: return "i32";
  case 27: return "i64";
  case 28: return "f64";
  case 30: return "bf16";
  default: return "unknown";
  }
}

size_t gguf_tensor_type_size(uint32_t t) {
  return t == GGUF_TENSOR_F32 ? 4 : t == GGUF_TENSOR_F16 ? 2 : t == GGUF_TENSOR_Q8_0 ? GGUF_Q8_0_BYTES : 0;
}

uint32_t gguf_tensor_type_block(uint32_t t) {
  return t == GGUF_TENSOR_F32 || t == GGUF_TENSOR_F16 ? 1 : t == GGUF_TENSOR_Q8_0 ? GGUF_Q8_0_BLOCK : 0;
}

size_t gguf_tensor_type_align(uint32_t t) {
  return t == GGUF_TENSOR_F32 ? 4 : t == GGUF_TENSOR_F16 || t == GGUF_TENSOR_Q8_0 ? 2 : 0;
}

/* ---------------------------------------------------------------------------------------------- */
/* Bounds-checked cursor. Every read names what it is reading, for the truncation message. */

typedef struct cursor {
  gguf_file *f;
  size_t pos;
  dvk_error *err;
  dvk_status status; /* first failure */
  char what[320];    /* what is being parsed, e.g. "key/value 3 ('dalle.grid')" */
} cursor;

static bool cfail(cursor *c, dvk_status st, const char *fmt, ...) {
  if (c->status != DVK_OK) return false;
  va_list ap;
  va_start(ap, fmt);
  c->status = vfail(c->err, c->f->name, st, fmt, ap);
  va_end(ap);
  return false;
}

static size_t left(const cursor *c) { return c->f->size - c->pos; }

/* Returns a pointer to the next n bytes and advances, or NULL after reporting truncation. */
static const uint8_t *take(cursor *c, uint64_t n) {
  if (n > left(c)) {
    cfail(c, DVK_ERR_MODEL_FORMAT, "truncated in %s: needs %" PRIu64 " bytes at offset %zu, file has %zu",
          c->what, n, c->pos, c->f->size);
    return NULL;
  }
  const uint8_t *p = c->f->base + c->pos;
  c->pos += (size_t)n;
  return p;
}

static bool take_u32(cursor *c, uint32_t *v) {
  const uint8_t *p = take(c, 4);
  if (p) *v = le32(p);
  return p != NULL;
}

static bool take_u64(cursor *c, uint64_t *v) {
  const uint8_t *p = take(c, 8);
  if (p) *v = le64(p);
  return p != NULL;
}

/* Reads a GGUF string (u64 length + bytes) into a NUL-terminated arena copy. With max_len != 0 the
 * string is an identifier (key or tensor name): 1..max_len printable ASCII bytes. */
static bool take_string(cursor *c, gguf_string *out, uint64_t max_len, const char *kind) {
  uint64_t len;
  if (!take_u64(c, &len)) return false;
  if (max_len && (len == 0 || len > max_len))
    return cfail(c, DVK_ERR_MODEL_FORMAT, "%s: %s length %" PRIu64 " out of range 1..%" PRIu64, c->what, kind,
                 len, max_len);
  if (len > left(c))
    return cfail(c, DVK_ERR_MODEL_FORMAT,
                 "%s: %s length %" PRIu64 " exceeds the %zu bytes left in the file", c->what, kind, len, left(c));
  const uint8_t *p = take(c, len);
  if (max_len) {
    for (uint64_t i = 0; i < len; i++)
      if (p[i] < 0x21 || p[i] > 0x7e)
        return cfail(c, DVK_ERR_MODEL_FORMAT, "%s: %s contains byte 0x%02x (must be printable ASCII)", c->what,
                     kind, p[i]);
  }
  char *s = arena_alloc(&c->f->arena, (size_t)len + 1);
  if (!s) return cfail(c, DVK_ERR_OUT_OF_HOST_MEMORY, "out of memory reading %s", c->what);
  memcpy(s, p, (size_t)len);
  s[len] = '\0';
  out->s = s;
  out->len = len;
  return true;
}

/* ---------------------------------------------------------------------------------------------- */
/* Key/value pairs. */

static bool read_scalar(cursor *c, gguf_type t, gguf_kv *kv) {
  const uint8_t *p = take(c, type_size(t));
  if (!p) return false;
  switch (t) {
  case GGUF_TYPE_UINT8: kv->v.u = p[0]; break;
  case GGUF_TYPE_INT8: kv->v.i = (int8_t)p[0]; break;
  case GGUF_TYPE_UINT16: kv->v.u = le16(p); break;
  case GGUF_TYPE_INT16: kv->v.i = (int16_t)le16(p); break;
  case GGUF_TYPE_UINT32: kv->v.u = le32(p); break;
  case GGUF_TYPE_INT32: kv->v.i = (int32_t)le32(p); break;
  case GGUF_TYPE_UINT64: kv->v.u = le64(p); break;
  case GGUF_TYPE_INT64: kv->v.i = (int64_t)le64(p); break;
  case GGUF_TYPE_FLOAT32: {
    uint32_t bits = le32(p);
    float x;
    memcpy(&x, &bits, 4);
    kv->v.f = x;
    break;
  }
  case GGUF_TYPE_FLOAT64: {
    uint64_t bits = le64(p);
    memcpy(&kv->v.f, &bits, 8);
    break;
  }
  case GGUF_TYPE_BOOL:
    if (p[0] > 1) return cfail(c, DVK_ERR_MODEL_FORMAT, "%s: bool value %u is not 0 or 1", c->what, p[0]);
    kv->v.b = p[0] != 0;
    break;
  default: assert(0 && "not a scalar type"); return false;
  }
  return true;
}

static bool read_array(cursor *c, gguf_array *a) {
  uint32_t et;
  uint64_t count;
  if (!take_u32(c, &et)) return false;
  if (et >= GGUF_TYPE_COUNT) return cfail(c, DVK_ERR_MODEL_FORMAT, "%s: bad array element type %" PRIu32, c->what, et);
  if (et == GGUF_TYPE_ARRAY) return cfail(c, DVK_ERR_MODEL_FORMAT, "%s: nested arrays are not supported", c->what);
  if (!take_u64(c, &count)) return false;
  a->type = (gguf_type)et;
  a->count = count;
  size_t es = type_size(a->type);
  size_t min_bytes = es ? es : 8; /* a string element takes at least its 8-byte length */
  if (count > left(c) / min_bytes)
    return cfail(c, DVK_ERR_MODEL_FORMAT, "%s: array count %" PRIu64 " of %s exceeds the %zu bytes left in the file",
                 c->what, count, gguf_type_name(a->type), left(c));
  if (es) {
    const uint8_t *p = take(c, count * es);
    a->data = p;
    if (a->type == GGUF_TYPE_BOOL)
      for (uint64_t i = 0; i < count; i++)
        if (p[i] > 1)
          return cfail(c, DVK_ERR_MODEL_FORMAT, "%s: bool element %" PRIu64 " is %u, not 0 or 1", c->what, i, p[i]);
    return true;
  }
  if (count > SIZE_MAX / sizeof(gguf_string))
    return cfail(c, DVK_ERR_OUT_OF_HOST_MEMORY, "%s: array too large", c->what);
  gguf_string *strs = arena_alloc(&c->f->arena, (size_t)count * sizeof(gguf_string));
  if (!strs && count) return cfail(c, DVK_ERR_OUT_OF_HOST_MEMORY, "out of memory reading %s", c->what);
  a->data = strs;
  for (uint64_t i = 0; i < count; i++)
    if (!take_string(c, &strs[i], 0, "string")) return false;
  return true;
}

static bool read_kv(cursor *c, uint64_t index, gguf_kv *kv) {
  snprintf(c->what, sizeof c->what, "key/value %" PRIu64, index);
  gguf_string key;
  if (!take_string(c, &key, GGUF_MAX_KEY_LEN, "key")) return false;
  kv->key = key.s;
  snprintf(c->what, sizeof c->what, "key/value %" PRIu64 " ('%.200s')", index, key.s);
  uint32_t t;
  if (!take_u32(c, &t)) return false;
  if (t >= GGUF_TYPE_COUNT) return cfail(c, DVK_ERR_MODEL_FORMAT, "%s: bad value type %" PRIu32, c->what, t);
  kv->type = (gguf_type)t;
  if (t == GGUF_TYPE_STRING) return take_string(c, &kv->v.str, 0, "string");
  if (t == GGUF_TYPE_ARRAY) return read_array(c, &kv->v.arr);
  return read_scalar(c, kv->type, kv);
}

/* ---------------------------------------------------------------------------------------------- */
/* Tensor infos. */

static bool read_tensor_info(cursor *c, uint64_t index, gguf_tensor *t) {
  snprintf(c->what, sizeof c->what, "tensor info %" PRIu64, index);
  gguf_string name;
  if (!take_string(c, &name, GGUF_MAX_NAME_LEN, "tensor name")) return false;
  t->name = name.s;
  snprintf(c->what, sizeof c->what, "tensor info %" PRIu64 " ('%.255s')", index, name.s);
  if (!take_u32(c, &t->n_dims)) return false;
  if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
    return cfail(c, DVK_ERR_MODEL_FORMAT, "%s: n_dims %" PRIu32 " out of range 1..%d", c->what, t->n_dims,
                 GGUF_MAX_DIMS);
  uint64_t n = 1;
  for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
    t->dims[d] = 1;
    if (d >= t->n_dims) continue;
    if (!take_u64(c, &t->dims[d])) return false;
    if (t->dims[d] == 0) return cfail(c, DVK_ERR_MODEL_FORMAT, "%s: dimension %" PRIu32 " is 0", c->what, d);
    if (t->dims[d] > (uint64_t)INT64_MAX / n)
      return cfail(c, DVK_ERR_MODEL_FORMAT, "%s: element count overflows", c->what);
    n *= t->dims[d];
  }
  t->n_elements = n;
  uint32_t type;
  if (!take_u32(c, &type)) return false;
  size_t es = gguf_tensor_type_size(type);
  uint32_t block = gguf_tensor_type_block(type);
  if (!es)
    return cfail(c, DVK_ERR_MODEL_FORMAT, "%s: unsupported tensor type %" PRIu32 " (%s); supported: f32, f16, q8_0",
                 c->what, type, gguf_tensor_type_name(type));
  t->type = (gguf_tensor_type)type;
  if (t->dims[0] % block)
    return cfail(c, DVK_ERR_MODEL_FORMAT, "%s: type %s needs dims[0] a multiple of %" PRIu32 ", got %" PRIu64,
                 c->what, gguf_tensor_type_name(type), block, t->dims[0]);
  if (n / block > (uint64_t)INT64_MAX / es) return cfail(c, DVK_ERR_MODEL_FORMAT, "%s: byte size overflows", c->what);
  t->nbytes = n / block * es;
  return take_u64(c, &t->offset);
}

/* ---------------------------------------------------------------------------------------------- */
/* Cross-checks after parsing. */

static int cmp_kv(const void *a, const void *b) {
  return strcmp((*(const gguf_kv *const *)a)->key, (*(const gguf_kv *const *)b)->key);
}
static int cmp_tensor_name(const void *a, const void *b) {
  return strcmp((*(const gguf_tensor *const *)a)->name, (*(const gguf_tensor *const *)b)->name);
}
static int cmp_tensor_offset(const void *a, const void *b) {
  uint64_t x = (*(const gguf_tensor *const *)a)->offset, y = (*(const gguf_tensor *const *)b)->offset;
  return x < y ? -1 : x > y;
}

static bool check_alignment_key(cursor *c) {
  gguf_file *f = c->f;
  f->alignment = GGUF_DEFAULT_ALIGNMENT;
  const gguf_kv *kv = gguf_find_key(f, "general.alignment");
  if (!kv) return true;
  if (kv->type != GGUF_TYPE_UINT32)
    return cfail(c, DVK_ERR_MODEL_FORMAT, "key 'general.alignment' has type %s, expected uint32",
                 gguf_type_name(kv->type));
  if (kv->v.u == 0 || (kv->v.u & (kv->v.u - 1)))
    return cfail(c, DVK_ERR_MODEL_FORMAT, "general.alignment %" PRIu64 " is not a power of two", kv->v.u);
  f->alignment = (uint32_t)kv->v.u;
  return true;
}

/* Every tensor aligned, inside the data section, not overlapping another; data pointers set. */
static bool check_tensor_ranges(cursor *c) {
  gguf_file *f = c->f;
  if (f->n_tensors == 0) return true;
  uint64_t a = f->alignment;
  f->data_start = ((uint64_t)c->pos + a - 1) / a * a;
  if (f->data_start > f->size)
    return cfail(c, DVK_ERR_MODEL_FORMAT, "truncated before the data section (starts at %" PRIu64 ", file has %zu)",
                 f->data_start, f->size);
  uint64_t data_size = f->size - f->data_start;
  for (uint64_t i = 0; i < f->n_tensors; i++) {
    gguf_tensor *t = &f->tensors[i];
    if (t->offset % a)
      return cfail(c, DVK_ERR_MODEL_FORMAT,
                   "tensor '%s': offset %" PRIu64 " is not a multiple of the alignment %" PRIu64, t->name,
                   t->offset, a);
    if (t->offset > data_size || t->nbytes > data_size - t->offset)
      return cfail(c, DVK_ERR_MODEL_FORMAT,
                   "tensor '%s' (%" PRIu64 " bytes at data offset %" PRIu64 ") extends past the end of the file "
                   "(data section has %" PRIu64 " bytes)",
                   t->name, t->nbytes, t->offset, data_size);
    t->data = f->base + f->data_start + t->offset;
    /* readers use the data as float / uint16_t arrays: with general.alignment 1 or 2 it could be misaligned */
    if ((uintptr_t)t->data % gguf_tensor_type_align(t->type))
      return cfail(c, DVK_ERR_MODEL_FORMAT,
                   "tensor '%s': data at file offset %" PRIu64 " is not aligned to its %zu-byte elements "
                   "(general.alignment %" PRIu64 ")",
                   t->name, f->data_start + t->offset, gguf_tensor_type_align(t->type), a);
  }
  /* Overlap check: sort by offset (reusing the name index array as scratch), compare neighbours. */
  const gguf_tensor **v = f->t_by_name;
  for (uint64_t i = 0; i < f->n_tensors; i++) v[i] = &f->tensors[i];
  qsort(v, (size_t)f->n_tensors, sizeof *v, cmp_tensor_offset);
  for (uint64_t i = 1; i < f->n_tensors; i++)
    if (v[i]->offset < v[i - 1]->offset + v[i - 1]->nbytes)
      return cfail(c, DVK_ERR_MODEL_FORMAT, "tensors '%s' and '%s' overlap", v[i - 1]->name, v[i]->name);
  return true;
}

/* Sorted key index for gguf_find_key; fails on a duplicate key. */
static bool index_keys(cursor *c) {
  gguf_file *f = c->f;
  for (uint64_t i = 0; i < f->n_kv; i++) f->kv_by_key[i] = &f->kvs[i];
  qsort(f->kv_by_key, (size_t)f->n_kv, sizeof *f->kv_by_key, cmp_kv);
  for (uint64_t i = 1; i < f->n_kv; i++)
    if (strcmp(f->kv_by_key[i]->key, f->kv_by_key[i - 1]->key) == 0)
      return cfail(c, DVK_ERR_MODEL_FORMAT, "duplicate key '%s'", f->kv_by_key[i]->key);
  return true;
}

/* Sorted tensor index for gguf_find_tensor; fails on a duplicate name. */
static bool index_tensors(cursor *c) {
  gguf_file *f = c->f;
  for (uint64_t i = 0; i < f->n_tensors; i++) f->t_by_name[i] = &f->tensors[i];
  qsort(f->t_by_name, (size_t)f->n_tensors, sizeof *f->t_by_name, cmp_tensor_name);
  for (uint64_t i = 1; i < f->n_tensors; i++)
    if (strcmp(f->t_by_name[i]->name, f->t_by_name[i - 1]->name) == 0)
      return cfail(c, DVK_ERR_MODEL_FORMAT, "duplicate tensor name '%s'", f->t_by_name[i]->name);
  return true;
}

/* ---------------------------------------------------------------------------------------------- */

static bool read_header(cursor *c) {
  gguf_file *f = c->f;
  snprintf(c->what, sizeof c->what, "header");
  if (f->size < HEADER_BYTES)
    return cfail(c, DVK_ERR_MODEL_FORMAT, "truncated header: %zu bytes, a GGUF header has %u", f->size, HEADER_BYTES);
  const uint8_t *m = take(c, 4);
  if (memcmp(m, "GGUF", 4) != 0)
    return cfail(c, DVK_ERR_MODEL_FORMAT, "not a GGUF file (magic %02x %02x %02x %02x; tools/convert.py converts public checkpoints)", m[0], m[1], m[2], m[3]);
  take_u32(c, &f->version);
  if (f->version != 2 && f->version != 3)
    return cfail(c, DVK_ERR_MODEL_FORMAT, "unsupported GGUF version %" PRIu32 " (supported: 2, 3)%s", f->version,
                 f->version == 0x03000000u ? "; a big-endian file?" : "");
  take_u64(c, &f->n_tensors);
  take_u64(c, &f->n_kv);
  /* Bound the counts by the bytes left before allocating anything from them. */
  if (f->n_kv > left(c) / MIN_KV_BYTES)
    return cfail(c, DVK_ERR_MODEL_FORMAT, "kv_count %" PRIu64 " does not fit in the %zu bytes left", f->n_kv, left(c));
  if (f->n_tensors > left(c) / MIN_TENSOR_INFO_BYTES)
    return cfail(c, DVK_ERR_MODEL_FORMAT, "tensor_count %" PRIu64 " does not fit in the %zu bytes left", f->n_tensors,
                 left(c));
  if (f->n_kv * MIN_KV_BYTES + f->n_tensors * MIN_TENSOR_INFO_BYTES > left(c))
    return cfail(c, DVK_ERR_MODEL_FORMAT,
                 "kv_count %" PRIu64 " and tensor_count %" PRIu64 " do not fit in the %zu bytes left", f->n_kv,
                 f->n_tensors, left(c));
  return true;
}

static bool alloc_tables(cursor *c) {
  gguf_file *f = c->f;
  /* Counts are bounded by the file size, so the products below cannot overflow a 64-bit size_t;
   * the explicit checks keep 32-bit hosts safe. */
  if (f->n_kv > SIZE_MAX / sizeof(gguf_kv) || f->n_tensors > SIZE_MAX / sizeof(gguf_tensor))
    return cfail(c, DVK_ERR_OUT_OF_HOST_MEMORY, "too many entries for this host");
  f->kvs = calloc((size_t)f->n_kv + 1, sizeof *f->kvs);
  f->kv_by_key = calloc((size_t)f->n_kv + 1, sizeof *f->kv_by_key);
  f->tensors = calloc((size_t)f->n_tensors + 1, sizeof *f->tensors);
  f->t_by_name = calloc((size_t)f->n_tensors + 1, sizeof *f->t_by_name);
  if (!f->kvs || !f->kv_by_key || !f->tensors || !f->t_by_name)
    return cfail(c, DVK_ERR_OUT_OF_HOST_MEMORY, "out of memory for %" PRIu64 " keys and %" PRIu64 " tensors", f->n_kv,
                 f->n_tensors);
  return true;
}

static dvk_status parse(gguf_file *f, dvk_error *err) {
  cursor c = {.f = f, .err = err, .status = DVK_OK};
  if (!read_header(&c) || !alloc_tables(&c)) return c.status;
  for (uint64_t i = 0; i < f->n_kv; i++)
    if (!read_kv(&c, i, &f->kvs[i])) return c.status;
  /* Keys must be indexed (and unique) before general.alignment is looked up. */
  if (!index_keys(&c) || !check_alignment_key(&c)) return c.status;
  for (uint64_t i = 0; i < f->n_tensors; i++)
    if (!read_tensor_info(&c, i, &f->tensors[i])) return c.status;
  if (!check_tensor_ranges(&c) || !index_tensors(&c)) return c.status;
  return DVK_OK;
}

static gguf_file *new_file(const char *name) {
  gguf_file *f = calloc(1, sizeof *f);
  if (!f) return NULL;
  size_t n = strlen(name);
  f->name = malloc(n + 1);
  if (!f->name) {
    free(f);
    return NULL;
  }
  memcpy(f->name, name, n + 1);
  return f;
}

dvk_status gguf_open_memory(const void *data, size_t size, const char *name, gguf_file **out, dvk_error *err) {
  if (!name) name = "<memory>";
  if (err) err->msg[0] = '\0';
  if (!out || (!data && size))
    return failf(err, name, DVK_ERR_INVALID_ARGUMENT, "gguf_open_memory: invalid argument");
  *out = NULL;
  gguf_file *f = new_file(name);
  if (!f) return failf(err, name, DVK_ERR_OUT_OF_HOST_MEMORY, "out of memory");
  f->base = data;
  f->size = size;
  dvk_status st = parse(f, err);
  if (st != DVK_OK) {
    gguf_close(f);
    return st;
  }
  *out = f;
  return DVK_OK;
}

dvk_status gguf_open(const char *path, gguf_file **out, dvk_error *err) {
  if (err) err->msg[0] = '\0';
  if (!out || !path) return failf(err, path, DVK_ERR_INVALID_ARGUMENT, "gguf_open: invalid argument");
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return failf(err, path, DVK_ERR_IO, "cannot open: %s", strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return failf(err, path, DVK_ERR_IO, "cannot stat: %s", strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return failf(err, path, DVK_ERR_IO, "not a regular file");
  }
  if ((uint64_t)st.st_size > SIZE_MAX) {
    close(fd);
    return failf(err, path, DVK_ERR_IO, "file too large for this host");
  }
  size_t size = (size_t)st.st_size;
  void *map = NULL;
  if (size > 0) {
    map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
      int e = errno;
      close(fd);
      return failf(err, path, e == ENOMEM ? DVK_ERR_OUT_OF_HOST_MEMORY : DVK_ERR_IO, "cannot map: %s",
                   strerror(e));
    }
  }
  close(fd);
  gguf_file *f = new_file(path);
  if (!f) {
    if (map) munmap(map, size);
    return failf(err, path, DVK_ERR_OUT_OF_HOST_MEMORY, "out of memory");
  }
  f->base = map;
  f->size = size;
  f->mapped = map != NULL;
  dvk_status s = parse(f, err);
  if (s != DVK_OK) {
    gguf_close(f);
    return s;
  }
  *out = f;
  return DVK_OK;
}

void gguf_release(const gguf_file *f, const void *data, uint64_t nbytes) {
  const uintptr_t base = (uintptr_t)f->base, p = (uintptr_t)data;
  if (!f->mapped || p < base || nbytes > f->size || p - base > f->size - nbytes) return;
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  /* whole pages, rounded outwards: a private read-only file mapping re-reads any page it dropped */
  uintptr_t lo = p / page * page, hi = (p + nbytes + page - 1) / page * page;
  if (lo < base) lo = base; /* the mapping starts on a page boundary; only its tail page may be partial */
  if (hi > lo) madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

void gguf_close(gguf_file *f) {
  if (!f) return;
  if (f->mapped) munmap((void *)f->base, f->size);
  arena_free(f->arena);
  free(f->kvs);
  free(f->kv_by_key);
  free(f->tensors);
  free(f->t_by_name);
  free(f->name);
  free(f);
}

const char *gguf_name(const gguf_file *f) { return f->name; }
uint32_t gguf_version(const gguf_file *f) { return f->version; }
uint32_t gguf_alignment(const gguf_file *f) { return f->alignment; }
uint64_t gguf_kv_count(const gguf_file *f) { return f->n_kv; }
uint64_t gguf_tensor_count(const gguf_file *f) { return f->n_tensors; }

const gguf_kv *gguf_kv_at(const gguf_file *f, uint64_t i) { return i < f->n_kv ? &f->kvs[i] : NULL; }
const gguf_tensor *gguf_tensor_at(const gguf_file *f, uint64_t i) {
  return i < f->n_tensors ? &f->tensors[i] : NULL;
}

const gguf_kv *gguf_find_key(const gguf_file *f, const char *key) {
  gguf_kv probe = {.key = key};
  const gguf_kv *pp = &probe;
  const gguf_kv **hit = bsearch(&pp, f->kv_by_key, (size_t)f->n_kv, sizeof *f->kv_by_key, cmp_kv);
  return hit ? *hit : NULL;
}

const gguf_tensor *gguf_find_tensor(const gguf_file *f, const char *name) {
  gguf_tensor probe = {.name = name};
  const gguf_tensor *pp = &probe;
  const gguf_tensor **hit =
      bsearch(&pp, f->t_by_name, (size_t)f->n_tensors, sizeof *f->t_by_name, cmp_tensor_name);
  return hit ? *hit : NULL;
}

/* ---------------------------------------------------------------------------------------------- */
/* Typed getters. */

static dvk_status get_typed(const gguf_file *f, const char *key, gguf_type t, const gguf_kv **kv, dvk_error *err) {
  *kv = gguf_find_key(f, key);
  if (!*kv) return failf(err, f->name, DVK_ERR_MODEL_FORMAT, "key '%s' is missing", key);
  if ((*kv)->type != t)
    return failf(err, f->name, DVK_ERR_MODEL_FORMAT, "key '%s' has type %s, expected %s", key,
                 gguf_type_name((*kv)->type), gguf_type_name(t));
  return DVK_OK;
}

dvk_status gguf_get_u32(const gguf_file *f, const char *key, uint32_t *out, dvk_error *err) {
  const gguf_kv *kv;
  dvk_status st = get_typed(f, key, GGUF_TYPE_UINT32, &kv, err);
  if (st == DVK_OK) *out = (uint32_t)kv->v.u;
  return st;
}

dvk_status gguf_get_i32(const gguf_file *f, const char *key, int32_t *out, dvk_error *err) {
  const gguf_kv *kv;
  dvk_status st = get_typed(f, key, GGUF_TYPE_INT32, &kv, err);
  if (st == DVK_OK) *out = (int32_t)kv->v.i;
  return st;
}

dvk_status gguf_get_u64(const gguf_file *f, const char *key, uint64_t *out, dvk_error *err) {
  const gguf_kv *kv;
  dvk_status st = get_typed(f, key, GGUF_TYPE_UINT64, &kv, err);
  if (st == DVK_OK) *out = kv->v.u;
  return st;
}

dvk_status gguf_get_f32(const gguf_file *f, const char *key, float *out, dvk_error *err) {
  const gguf_kv *kv;
  dvk_status st = get_typed(f, key, GGUF_TYPE_FLOAT32, &kv, err);
  if (st == DVK_OK) *out = (float)kv->v.f;
  return st;
}

dvk_status gguf_get_bool(const gguf_file *f, const char *key, bool *out, dvk_error *err) {
  const gguf_kv *kv;
  dvk_status st = get_typed(f, key, GGUF_TYPE_BOOL, &kv, err);
  if (st == DVK_OK) *out = kv->v.b;
  return st;
}

dvk_status gguf_get_string(const gguf_file *f, const char *key, const gguf_string **out, dvk_error *err) {
  const gguf_kv *kv;
  dvk_status st = get_typed(f, key, GGUF_TYPE_STRING, &kv, err);
  if (st == DVK_OK) *out = &kv->v.str;
  return st;
}

dvk_status gguf_get_array(const gguf_file *f, const char *key, gguf_type elem_type, const gguf_array **out,
                          dvk_error *err) {
  const gguf_kv *kv;
  dvk_status st = get_typed(f, key, GGUF_TYPE_ARRAY, &kv, err);
  if (st != DVK_OK) return st;
  if (elem_type != GGUF_TYPE_COUNT && kv->v.arr.type != elem_type)
    return failf(err, f->name, DVK_ERR_MODEL_FORMAT, "key '%s' is an array of %s, expected an array of %s",
                 key, gguf_type_name(kv->v.arr.type), gguf_type_name(elem_type));
  *out = &kv->v.arr;
  return DVK_OK;
}

uint32_t gguf_arr_u32(const gguf_array *a, uint64_t i) {
  assert(a->type == GGUF_TYPE_UINT32 && i < a->count);
  return le32((const uint8_t *)a->data + 4 * i);
}

int32_t gguf_arr_i32(const gguf_array *a, uint64_t i) {
  assert(a->type == GGUF_TYPE_INT32 && i < a->count);
  return (int32_t)le32((const uint8_t *)a->data + 4 * i);
}

float gguf_arr_f32(const gguf_array *a, uint64_t i) {
  assert(a->type == GGUF_TYPE_FLOAT32 && i < a->count);
  uint32_t bits = le32((const uint8_t *)a->data + 4 * i);
  float x;
  memcpy(&x, &bits, 4);
  return x;
}

const gguf_string *gguf_arr_str(const gguf_array *a, uint64_t i) {
  assert(a->type == GGUF_TYPE_STRING && i < a->count);
  return (const gguf_string *)a->data + i;
}

/* ---------------------------------------------------------------------------------------------- */

/* Prints n dims PyTorch-style, outermost first ("[256, 96]"); reversed: v is in ggml order. */
static void format_shape(char *buf, size_t len, uint32_t n, const uint64_t *v, bool reversed) {
  size_t pos = 0;
  int w = snprintf(buf, len, "[");
  for (uint32_t k = 0; k < n && w >= 0 && (pos += (size_t)w) < len; k++)
    w = snprintf(buf + pos, len - pos, "%s%" PRIu64, k ? ", " : "", reversed ? v[n - 1 - k] : v[k]);
  if (w >= 0 && (pos += (size_t)w) < len) snprintf(buf + pos, len - pos, "]");
}

dvk_status gguf_require_tensor(const gguf_file *f, const char *name, uint32_t n_dims, const uint64_t *shape,
                               unsigned allowed, const gguf_tensor **out, dvk_error *err) {
  const gguf_tensor *t = gguf_find_tensor(f, name);
  if (!t) return failf(err, f->name, DVK_ERR_MODEL_FORMAT, "required tensor '%s' is missing", name);
  bool same = t->n_dims == n_dims;
  for (uint32_t k = 0; same && k < n_dims; k++) same = t->dims[n_dims - 1 - k] == shape[k];
  if (!same) {
    char have[128], want[128];
    format_shape(have, sizeof have, t->n_dims, t->dims, true);
    format_shape(want, sizeof want, n_dims, shape, false);
    return failf(err, f->name, DVK_ERR_MODEL_FORMAT, "tensor '%s' has shape %s, expected %s", name, have,
                 want);
  }
  if (!(allowed & (1u << t->type))) {
    char want[32] = "";
    if (allowed & GGUF_ALLOW_F32) strcat(want, "f32");
    if (allowed & GGUF_ALLOW_F16) strcat(want, want[0] ? " or f16" : "f16");
    if (allowed & GGUF_ALLOW_Q8_0) strcat(want, want[0] ? " or q8_0" : "q8_0");
    return failf(err, f->name, DVK_ERR_MODEL_FORMAT, "tensor '%s' has type %s, expected %s", name,
                 gguf_tensor_type_name(t->type), want[0] ? want : "nothing");
  }
  if (out) *out = t;
  return DVK_OK;
}
