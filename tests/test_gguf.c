/* GGUF reader tests (no Vulkan needed):
 * - valid files of tests/data/gguf (made by tools/make_gguf_corpus.py): every value and tensor checked
 *   exactly, opened both by path (mmap) and from memory;
 * - every malformed file of manifest.txt is rejected with DVK_ERR_MODEL_FORMAT and its expected message
 *   substring (by path and from memory), and the shape/type/key checks listed there fail as expected;
 * - every proper prefix of a valid file is rejected; every single-byte corruption either is rejected
 *   or opens with all tensors inside the buffer (run under ASan to catch over-reads);
 * - I/O errors and error-buffer edge cases.
 * Data directory: argv[1], else env DVK_TEST_DATA, else tests/data. Exit status 0 only if all pass. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gguf.h"

static int g_failed, g_checks;
static volatile unsigned g_sink; /* keeps test reads from being optimised away */

#define CHECK(cond, ...)                                                                                    \
  do {                                                                                                      \
    g_checks++;                                                                                             \
    if (!(cond)) {                                                                                          \
      g_failed++;                                                                                           \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                                       \
      fprintf(stderr, __VA_ARGS__);                                                                         \
      fputc('\n', stderr);                                                                                  \
    }                                                                                                       \
  } while (0)

static char g_dir[1024]; /* .../tests/data/gguf */

static void path_of(char *buf, size_t len, const char *file) { snprintf(buf, len, "%s/%s", g_dir, file); }

/* Reads a whole corpus file into an exactly-sized malloc block (so ASan sees over-reads). */
static unsigned char *slurp(const char *file, size_t *size) {
  char p[1200];
  path_of(p, sizeof p, file);
  FILE *fp = fopen(p, "rb");
  if (!fp) return NULL;
  fseek(fp, 0, SEEK_END);
  long n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
  if (b && n > 0 && fread(b, 1, (size_t)n, fp) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(fp);
  *size = (size_t)n;
  return b;
}

static float half_to_float(uint16_t h) {
  int e = (h >> 10) & 31, m = h & 1023;
  float v = e == 0 ? ldexpf((float)m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexpf((float)(m | 1024), e - 25);
  return (h & 0x8000) ? -v : v;
}

static float f32_at(const gguf_tensor *t, uint64_t i) {
  float x;
  memcpy(&x, (const unsigned char *)t->data + 4 * i, 4);
  return x;
}

static float f16_at(const gguf_tensor *t, uint64_t i) {
  uint16_t h;
  memcpy(&h, (const unsigned char *)t->data + 2 * i, 2);
  return half_to_float(h);
}

/* ---------------------------------------------------------------------------------------------- */
/* valid_small.gguf: values written by valid_small() in tools/make_gguf_corpus.py. */

static void check_kv_scalars(gguf_file *f) {
  dvk_error err = {""};
  uint32_t u32 = 0;
  int32_t i32 = 0;
  uint64_t u64 = 0;
  float f32 = 0;
  bool b = false;
  CHECK(gguf_get_u32(f, "t.u32", &u32, &err) == DVK_OK && u32 == 4000000000u, "%s", err.msg);
  CHECK(gguf_get_i32(f, "t.i32", &i32, &err) == DVK_OK && i32 == -2000000000, "%s", err.msg);
  CHECK(gguf_get_u64(f, "t.u64", &u64, &err) == DVK_OK && u64 == (1ull << 63) + 5, "%s", err.msg);
  CHECK(gguf_get_f32(f, "t.f32", &f32, &err) == DVK_OK && f32 == 0.15625f, "%s", err.msg);
  CHECK(gguf_get_bool(f, "t.bool", &b, &err) == DVK_OK && b, "%s", err.msg);
  const gguf_kv *kv;
  CHECK((kv = gguf_find_key(f, "t.u8")) && kv->type == GGUF_TYPE_UINT8 && kv->v.u == 200, "t.u8");
  CHECK((kv = gguf_find_key(f, "t.i8")) && kv->type == GGUF_TYPE_INT8 && kv->v.i == -100, "t.i8");
  CHECK((kv = gguf_find_key(f, "t.u16")) && kv->type == GGUF_TYPE_UINT16 && kv->v.u == 60000, "t.u16");
  CHECK((kv = gguf_find_key(f, "t.i16")) && kv->type == GGUF_TYPE_INT16 && kv->v.i == -30000, "t.i16");
  CHECK((kv = gguf_find_key(f, "t.i64")) && kv->type == GGUF_TYPE_INT64 && kv->v.i == -(INT64_C(1) << 62) - 7,
        "t.i64");
  CHECK((kv = gguf_find_key(f, "t.f64")) && kv->type == GGUF_TYPE_FLOAT64 && kv->v.f == -2.5e-300, "t.f64");
  CHECK(gguf_find_key(f, "t.missing") == NULL, "missing key found");
  CHECK(gguf_find_key(f, "") == NULL, "empty key found");
}

static void check_kv_strings_arrays(gguf_file *f) {
  dvk_error err = {""};
  const gguf_string *s = NULL;
  CHECK(gguf_get_string(f, "general.architecture", &s, &err) == DVK_OK && s->len == 5 &&
            strcmp(s->s, "dalle") == 0,
        "%s", err.msg);
  CHECK(gguf_get_string(f, "t.str", &s, &err) == DVK_OK && s->len == 13 &&
            strcmp(s->s, "h\xc3\xa9llo w\xc3\xb6rld") == 0,
        "%s", err.msg);
  CHECK(gguf_get_string(f, "t.empty_str", &s, &err) == DVK_OK && s->len == 0 && s->s[0] == 0, "%s", err.msg);
  const gguf_array *a = NULL;
  CHECK(gguf_get_array(f, "t.arr_u32", GGUF_TYPE_UINT32, &a, &err) == DVK_OK && a->count == 4, "%s", err.msg);
  if (a && a->type == GGUF_TYPE_UINT32 && a->count == 4)
    CHECK(gguf_arr_u32(a, 0) == 1 && gguf_arr_u32(a, 2) == 3 && gguf_arr_u32(a, 3) == 4294967295u, "arr_u32");
  a = NULL;
  CHECK(gguf_get_array(f, "t.arr_i32", GGUF_TYPE_INT32, &a, &err) == DVK_OK && a->count == 3, "%s", err.msg);
  if (a && a->count == 3) CHECK(gguf_arr_i32(a, 0) == -1 && gguf_arr_i32(a, 1) == 0 && gguf_arr_i32(a, 2) == 7, "i32");
  a = NULL;
  CHECK(gguf_get_array(f, "t.arr_f32", GGUF_TYPE_FLOAT32, &a, &err) == DVK_OK && a->count == 2, "%s", err.msg);
  if (a && a->count == 2) CHECK(gguf_arr_f32(a, 0) == 0.5f && gguf_arr_f32(a, 1) == -1.25f, "arr_f32");
  a = NULL;
  CHECK(gguf_get_array(f, "t.arr_str", GGUF_TYPE_STRING, &a, &err) == DVK_OK && a->count == 3, "%s", err.msg);
  if (a && a->count == 3)
    CHECK(strcmp(gguf_arr_str(a, 0)->s, "a") == 0 && gguf_arr_str(a, 1)->len == 0 &&
              strcmp(gguf_arr_str(a, 2)->s, "bc d") == 0 && gguf_arr_str(a, 2)->len == 4,
          "arr_str");
  a = NULL;
  CHECK(gguf_get_array(f, "t.arr_bool", GGUF_TYPE_COUNT, &a, &err) == DVK_OK, "%s", err.msg);
  if (a)
    CHECK(a->type == GGUF_TYPE_BOOL && a->count == 3 && !memcmp(a->data, "\1\0\1", 3), "arr_bool");
  a = NULL;
  CHECK(gguf_get_array(f, "t.arr_empty", GGUF_TYPE_UINT32, &a, &err) == DVK_OK && a->count == 0, "%s",
        err.msg);
}

static void check_small_tensors(gguf_file *f, int mapped) {
  dvk_error err = {""};
  CHECK(gguf_tensor_count(f) == 4, "%" PRIu64 " tensors", gguf_tensor_count(f));
  static const char *const order[] = {"w", "b", "h", "k"};
  static const uint64_t offsets[] = {0, 64, 96, 128};
  for (uint64_t i = 0; i < 4 && i < gguf_tensor_count(f); i++) {
    const gguf_tensor *t = gguf_tensor_at(f, i);
    CHECK(strcmp(t->name, order[i]) == 0 && t->offset == offsets[i], "tensor %" PRIu64 ": %s @%" PRIu64, i, t->name,
          t->offset);
    if (mapped) CHECK((uintptr_t)t->data % 32 == 0, "tensor %s data not 32-aligned", t->name);
  }
  CHECK(gguf_tensor_at(f, 4) == NULL, "tensor_at past the end");
  const gguf_tensor *t = NULL;
  CHECK(gguf_require_tensor(f, "w", 2, (const uint64_t[]){3, 5}, GGUF_ALLOW_F32, &t, &err) == DVK_OK,
        "%s", err.msg);
  if (t) {
    CHECK(t->n_dims == 2 && t->dims[0] == 5 && t->dims[1] == 3 && t->dims[2] == 1 && t->dims[3] == 1, "w dims");
    CHECK(t->type == GGUF_TENSOR_F32 && t->n_elements == 15 && t->nbytes == 60, "w size");
    for (uint64_t i = 0; i < 15; i++) CHECK(f32_at(t, i) == (float)i * 0.5f - 2.0f, "w[%" PRIu64 "]", i);
  }
  t = NULL;
  CHECK(gguf_require_tensor(f, "b", 1, (const uint64_t[]){3}, GGUF_ALLOW_FLOAT, &t, &err) == DVK_OK, "%s",
        err.msg);
  if (t) CHECK(f32_at(t, 0) == 1.0f && f32_at(t, 1) == -2.0f && f32_at(t, 2) == 3.5f, "b values");
  t = NULL;
  CHECK(gguf_require_tensor(f, "h", 2, (const uint64_t[]){2, 3}, GGUF_ALLOW_F16, &t, &err) == DVK_OK, "%s",
        err.msg);
  if (t) {
    static const float want[6] = {0.5f, -1, 2, 65504, -0.25f, 0};
    CHECK(t->type == GGUF_TENSOR_F16 && t->nbytes == 12 && t->dims[0] == 3 && t->dims[1] == 2, "h meta");
    for (int i = 0; i < 6; i++) CHECK(f16_at(t, (uint64_t)i) == want[i], "h[%d] = %g", i, f16_at(t, (uint64_t)i));
  }
  t = NULL;
  CHECK(gguf_require_tensor(f, "k", 4, (const uint64_t[]){2, 1, 3, 2}, GGUF_ALLOW_F32, &t, &err) == DVK_OK,
        "%s", err.msg);
  if (t) {
    CHECK(t->dims[0] == 2 && t->dims[1] == 3 && t->dims[2] == 1 && t->dims[3] == 2, "k dims");
    for (uint64_t i = 0; i < 12; i++) CHECK(f32_at(t, i) == (float)i, "k[%" PRIu64 "]", i);
  }
  CHECK(gguf_find_tensor(f, "nope") == NULL && gguf_find_tensor(f, "") == NULL, "missing tensor found");
  CHECK(gguf_find_tensor(f, "k") == gguf_tensor_at(f, 3), "find_tensor k");
}

static void check_valid_small(gguf_file *f, int mapped) {
  CHECK(gguf_version(f) == 3 && gguf_alignment(f) == 32, "version %u alignment %u", gguf_version(f),
        gguf_alignment(f));
  CHECK(gguf_kv_count(f) == 21, "%" PRIu64 " kvs", gguf_kv_count(f));
  CHECK(gguf_kv_at(f, 0) && strcmp(gguf_kv_at(f, 0)->key, "general.architecture") == 0, "kv order");
  CHECK(gguf_kv_at(f, 20) && strcmp(gguf_kv_at(f, 20)->key, "t.arr_empty") == 0, "kv order (last)");
  CHECK(gguf_kv_at(f, 21) == NULL, "kv_at past the end");
  check_kv_scalars(f);
  check_kv_strings_arrays(f);
  check_small_tensors(f, mapped);
}

static void check_valid_align64(gguf_file *f, int mapped) {
  dvk_error err = {""};
  CHECK(gguf_alignment(f) == 64 && gguf_kv_count(f) == 2 && gguf_tensor_count(f) == 3, "align64 meta");
  const gguf_tensor *x = NULL, *y = NULL, *z = NULL;
  CHECK(gguf_require_tensor(f, "x", 1, (const uint64_t[]){3}, GGUF_ALLOW_F16, &x, &err) == DVK_OK, "%s",
        err.msg);
  CHECK(gguf_require_tensor(f, "y", 1, (const uint64_t[]){1}, GGUF_ALLOW_F32, &y, &err) == DVK_OK, "%s",
        err.msg);
  CHECK(gguf_require_tensor(f, "z", 2, (const uint64_t[]){5, 7}, GGUF_ALLOW_F16, &z, &err) == DVK_OK, "%s",
        err.msg);
  if (!x || !y || !z) return;
  CHECK(x->offset == 0 && y->offset == 64 && z->offset == 128, "offsets %" PRIu64 " %" PRIu64 " %" PRIu64, x->offset,
        y->offset, z->offset);
  if (mapped)
    CHECK((uintptr_t)x->data % 64 == 0 && (uintptr_t)y->data % 64 == 0 && (uintptr_t)z->data % 64 == 0, "align64");
  CHECK(f16_at(x, 0) == 1 && f16_at(x, 1) == 2 && f16_at(x, 2) == 3, "x values");
  CHECK(f32_at(y, 0) == 7, "y value");
  for (uint64_t i = 0; i < 35; i++) CHECK(f16_at(z, i) == (float)i, "z[%" PRIu64 "]", i);
}

static void check_valid_v2(gguf_file *f, int mapped) {
  (void)mapped;
  const gguf_tensor *t = gguf_find_tensor(f, "a");
  CHECK(gguf_version(f) == 2 && t && t->nbytes == 16 && f32_at(t, 3) == 3.0f, "v2");
}

/* valid_q8_0.gguf (valid_q8_0() of tools/make_gguf_corpus.py): q8_0 [2, 64] and [32], decoded here by ggml's
 * definition (f16 d, then 32 int8 q; value d * q) against the values the generator wrote. */
static float q8_at(const gguf_tensor *t, uint64_t i) {
  const unsigned char *blk = (const unsigned char *)t->data + i / 32 * 34;
  return half_to_float((uint16_t)(blk[0] | blk[1] << 8)) * (float)(int8_t)blk[2 + i % 32];
}

static void check_valid_q8_0(gguf_file *f, int mapped) {
  dvk_error err = {""};
  const gguf_tensor *q = NULL, *v = NULL;
  CHECK(gguf_require_tensor(f, "q", 2, (const uint64_t[]){2, 64}, GGUF_ALLOW_MATRIX, &q, &err) == DVK_OK, "%s",
        err.msg);
  CHECK(gguf_require_tensor(f, "v", 1, (const uint64_t[]){32}, GGUF_ALLOW_Q8_0, &v, &err) == DVK_OK, "%s", err.msg);
  if (!q || !v) return;
  CHECK(q->type == GGUF_TENSOR_Q8_0 && q->n_elements == 128 && q->nbytes == 4 * 34 && v->nbytes == 34, "q8_0 sizes");
  int ok = 1;
  for (int i = 0; i < 32; i++) {
    ok &= fabsf(q8_at(q, i) - (float)(-127 + 8 * i) / 127) <= 0x1p-11f * fabsf((float)(-127 + 8 * i) / 127); /* f16 d */
    ok &= q8_at(q, 32 + i) == (float)(i - 16) / 32 && q8_at(q, 64 + i) == 0 && q8_at(q, 96 + i) == 2.0f * (31 - i);
    ok &= q8_at(v, i) == 0.5f * i;
  }
  CHECK(ok, "q8_0 values (%s)", mapped ? "mapped" : "memory");
}

static void check_header_only(gguf_file *f, int mapped) {
  (void)mapped;
  CHECK(gguf_kv_count(f) == 0 && gguf_tensor_count(f) == 0 && gguf_find_key(f, "x") == NULL &&
            gguf_find_tensor(f, "x") == NULL,
        "header only");
}

/* valid_model_tiny.gguf: the documented schema (docs/model-format.md), read the way a loader does. */
static void check_model_tiny(gguf_file *f, int mapped) {
  (void)mapped;
  dvk_error err = {""};
  uint32_t T = 0, Vt = 0, G = 0, Vi = 0, d = 0, H = 0, L = 0, dff = 0, k = 0;
  float eps = 0;
  bool wrap = false;
  dvk_status st = DVK_OK;
  const char *const keys[] = {"dalle.text_len", "dalle.text_vocab", "dalle.grid", "dalle.image_vocab",
                              "dalle.d_model", "dalle.n_heads", "dalle.n_layers", "dalle.d_ff", "dalle.conv_kernel"};
  uint32_t *vals[] = {&T, &Vt, &G, &Vi, &d, &H, &L, &dff, &k};
  for (int i = 0; i < 9 && st == DVK_OK; i++) st = gguf_get_u32(f, keys[i], vals[i], &err);
  if (st == DVK_OK) st = gguf_get_f32(f, "dalle.ln_eps", &eps, &err);
  if (st == DVK_OK) st = gguf_get_bool(f, "dalle.conv_wrap", &wrap, &err);
  CHECK(st == DVK_OK, "%s", err.msg);
  CHECK(T == 4 && Vt == 260 && G == 2 && Vi == 8 && d == 8 && H == 2 && L == 2 && dff == 16 && k == 3 && wrap &&
            eps == 1e-5f,
        "hyperparameters");
  const gguf_array *a = NULL;
  CHECK(gguf_get_array(f, "dalle.attn_types", GGUF_TYPE_STRING, &a, &err) == DVK_OK && a->count == L,
        "%s", err.msg);
  if (a && a->count == 2)
    CHECK(!strcmp(gguf_arr_str(a, 0)->s, "row") && !strcmp(gguf_arr_str(a, 1)->s, "conv"), "attn_types");
  a = NULL;
  CHECK(gguf_get_array(f, "tokenizer.bpe.merges", GGUF_TYPE_UINT32, &a, &err) == DVK_OK && a->count == 6,
        "%s", err.msg);
  if (a && a->count == 6) CHECK(gguf_arr_u32(a, 2) == 256 && gguf_arr_u32(a, 3) == 33, "merges");
  /* Transformer tensors: 2-D may be f16, 1-D are f32. */
  struct {
    const char *name;
    uint32_t n;
    uint64_t s0, s1;
  } top[] = {{"text_emb", 2, Vt + T, d}, {"text_pos_emb", 2, T, d},     {"image_start", 1, d, 0},
             {"image_emb", 2, Vi, d},    {"image_row_emb", 2, G, d},    {"image_col_emb", 2, G, d},
             {"ln_f.w", 1, d, 0},        {"ln_f.b", 1, d, 0},           {"image_logits.w", 2, Vi, d},
             {"image_logits.b", 1, Vi, 0}};
  for (size_t i = 0; i < sizeof top / sizeof top[0]; i++) {
    uint64_t shape[2] = {top[i].s0, top[i].s1};
    unsigned types = top[i].n == 2 ? GGUF_ALLOW_FLOAT : GGUF_ALLOW_F32;
    CHECK(gguf_require_tensor(f, top[i].name, top[i].n, shape, types, NULL, &err) == DVK_OK, "%s", err.msg);
  }
  for (uint32_t l = 0; l < L; l++) {
    struct {
      const char *suffix;
      uint32_t n;
      uint64_t s0, s1;
    } blk[] = {{"ln1.w", 1, d, 0},           {"ln1.b", 1, d, 0},          {"attn.qkv.w", 2, 3 * d, d},
               {"attn.qkv.b", 1, 3 * d, 0},  {"attn.out.w", 2, d, d},     {"attn.out.b", 1, d, 0},
               {"ln2.w", 1, d, 0},           {"ln2.b", 1, d, 0},          {"mlp.fc1.w", 2, dff, d},
               {"mlp.fc1.b", 1, dff, 0},     {"mlp.fc2.w", 2, d, dff},    {"mlp.fc2.b", 1, d, 0}};
    for (size_t i = 0; i < sizeof blk / sizeof blk[0]; i++) {
      char name[64];
      snprintf(name, sizeof name, "blk.%u.%s", l, blk[i].suffix);
      uint64_t shape[2] = {blk[i].s0, blk[i].s1};
      unsigned types = blk[i].n == 2 ? GGUF_ALLOW_FLOAT : GGUF_ALLOW_F32;
      CHECK(gguf_require_tensor(f, name, blk[i].n, shape, types, NULL, &err) == DVK_OK, "%s", err.msg);
    }
  }
  /* dVAE decoder: the input conv is stored as a [vocab, n_init] gather table. */
  uint32_t vocab = 0, n_init = 0, n_hid = 0;
  CHECK(gguf_get_u32(f, "dvae.vocab_size", &vocab, &err) == DVK_OK &&
            gguf_get_u32(f, "dvae.n_init", &n_init, &err) == DVK_OK &&
            gguf_get_u32(f, "dvae.n_hid", &n_hid, &err) == DVK_OK,
        "%s", err.msg);
  CHECK(gguf_require_tensor(f, "dvae.dec.blocks.input.w", 2, (const uint64_t[]){vocab, n_init}, GGUF_ALLOW_FLOAT, NULL,
                            &err) == DVK_OK,
        "%s", err.msg);
  CHECK(gguf_require_tensor(f, "dvae.dec.blocks.output.conv.w", 4, (const uint64_t[]){6, n_hid, 1, 1},
                            GGUF_ALLOW_FLOAT, NULL, &err) == DVK_OK,
        "%s", err.msg);
  CHECK(gguf_require_tensor(f, "dvae.dec.blocks.group_1.block_1.res_path.conv_2.w", 4,
                            (const uint64_t[]){n_hid / 2, n_hid / 2, 3, 3}, GGUF_ALLOW_FLOAT, NULL, &err) == DVK_OK,
        "%s", err.msg);
  CHECK(gguf_find_tensor(f, "text_logits.w") == NULL, "text_logits exported");
}

/* Opens file by path and from memory and runs check on both. */
static void test_valid(const char *file, void (*check)(gguf_file *, int)) {
  char p[1200];
  dvk_error err = {""};
  path_of(p, sizeof p, file);
  gguf_file *f = NULL;
  dvk_status st = gguf_open(p, &f, &err);
  CHECK(st == DVK_OK && f, "%s: %s", file, err.msg);
  if (f) {
    CHECK(strcmp(gguf_name(f), p) == 0, "name");
    check(f, 1);
    gguf_close(f);
  }
  size_t n;
  unsigned char *b = slurp(file, &n);
  CHECK(b != NULL, "cannot read %s", p);
  if (!b) return;
  f = NULL;
  st = gguf_open_memory(b, n, file, &f, &err);
  CHECK(st == DVK_OK && f, "%s (memory): %s", file, err.msg);
  if (f) check(f, 0);
  gguf_close(f);
  free(b);
}

/* ---------------------------------------------------------------------------------------------- */
/* Manifest of malformed files and failing checks. */

static unsigned parse_types(const char *s) {
  unsigned m = 0;
  if (strstr(s, "f32")) m |= GGUF_ALLOW_F32;
  if (strstr(s, "f16")) m |= GGUF_ALLOW_F16;
  if (strstr(s, "q8_0")) m |= GGUF_ALLOW_Q8_0;
  return m;
}

static gguf_type parse_type_name(const char *s) {
  for (int t = 0; t < GGUF_TYPE_COUNT; t++)
    if (strcmp(gguf_type_name((gguf_type)t), s) == 0) return (gguf_type)t;
  return GGUF_TYPE_COUNT;
}

/* Runs one check spec ("tensor NAME TYPES 5x3", "u32 KEY", ...) that is expected to fail. */
static dvk_status run_check(gguf_file *f, char *spec, dvk_error *err) {
  char *save = NULL;
  const char *op = strtok_r(spec, " ", &save), *a1 = strtok_r(NULL, " ", &save), *a2 = strtok_r(NULL, " ", &save),
             *a3 = strtok_r(NULL, " ", &save);
  if (!op || !a1) return DVK_ERR_INVALID_ARGUMENT;
  union {
    uint32_t u;
    int32_t i;
    float x;
    bool b;
    const gguf_string *s;
    const gguf_array *a;
  } v;
  if (!strcmp(op, "tensor") && a2 && a3) {
    uint64_t shape[8];
    uint32_t n = 0;
    for (char *d = (char *)a3; *d && n < 8; d++) {
      shape[n++] = strtoull(d, &d, 10);
      if (*d != 'x') break;
    }
    return gguf_require_tensor(f, a1, n, shape, parse_types(a2), NULL, err);
  }
  if (!strcmp(op, "u32")) return gguf_get_u32(f, a1, &v.u, err);
  if (!strcmp(op, "i32")) return gguf_get_i32(f, a1, &v.i, err);
  if (!strcmp(op, "f32")) return gguf_get_f32(f, a1, &v.x, err);
  if (!strcmp(op, "bool")) return gguf_get_bool(f, a1, &v.b, err);
  if (!strcmp(op, "string")) return gguf_get_string(f, a1, &v.s, err);
  if (!strcmp(op, "array") && a2) return gguf_get_array(f, a1, parse_type_name(a2), &v.a, err);
  return DVK_ERR_INVALID_ARGUMENT;
}

/* One manifest line: the file must fail to open (or the check must fail) with the expected text. */
static void test_manifest_entry(const char *file, const char *expect, char *check) {
  char p[1200];
  dvk_error err = {""}, err2 = {""};
  path_of(p, sizeof p, file);
  gguf_file *f = (gguf_file *)&g_failed; /* must be reset to NULL on failure */
  dvk_status st = gguf_open(p, &f, &err);
  if (check) {
    CHECK(st == DVK_OK, "%s should open: %s", file, err.msg);
    if (st != DVK_OK) return;
    char spec[256];
    snprintf(spec, sizeof spec, "%s", check);
    st = run_check(f, spec, &err);
    gguf_close(f);
    CHECK(st == DVK_ERR_MODEL_FORMAT && strstr(err.msg, expect) && strncmp(err.msg, p, strlen(p)) == 0,
          "%s [%s]: status %s, message '%s', expected '%s'", file, check, dvk_status_str(st), err.msg, expect);
    return;
  }
  CHECK(st == DVK_ERR_MODEL_FORMAT && f == NULL, "%s: status %s (%s)", file, dvk_status_str(st), err.msg);
  CHECK(strstr(err.msg, expect) != NULL, "%s: message '%s' lacks '%s'", file, err.msg, expect);
  CHECK(strncmp(err.msg, p, strlen(p)) == 0 && err.msg[strlen(p)] == ':', "%s: message does not start with the path: %s",
        file, err.msg);
  if (st == DVK_OK) gguf_close(f);
  /* The same bytes from memory: same status and message (with the same name). */
  size_t n;
  unsigned char *b = slurp(file, &n);
  CHECK(b != NULL, "cannot read %s", p);
  if (!b) return;
  f = NULL;
  st = gguf_open_memory(b, n, p, &f, &err2);
  CHECK(st == DVK_ERR_MODEL_FORMAT && f == NULL && strcmp(err.msg, err2.msg) == 0, "%s (memory): '%s' vs '%s'", file, err2.msg,
        err.msg);
  if (st == DVK_OK) gguf_close(f);
  free(b);
}

static int manifest_lists(const char *manifest, const char *file) {
  size_t n = strlen(file);
  for (const char *p = manifest; (p = strstr(p, file)); p += n)
    if ((p == manifest || p[-1] == '\n') && p[n] == '\t') return 1;
  return 0;
}

static void test_manifest(void) {
  size_t n;
  char *text = (char *)slurp("manifest.txt", &n);
  CHECK(text != NULL, "cannot read %s/manifest.txt", g_dir);
  if (!text) return;
  text = realloc(text, n + 1);
  text[n] = '\0';
  char *copy = strdup(text);
  int entries = 0;
  char *save = NULL;
  for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    if (line[0] == '#' || line[0] == '\0') continue;
    char *tab1 = strchr(line, '\t');
    CHECK(tab1 != NULL, "bad manifest line '%s'", line);
    if (!tab1) continue;
    *tab1 = '\0';
    char *expect = tab1 + 1, *check = strchr(expect, '\t');
    if (check) *check++ = '\0';
    test_manifest_entry(line, expect, check);
    entries++;
  }
  CHECK(entries >= 40, "only %d manifest entries", entries);
  /* Every bad_* file in the directory must be listed (the corpus and the manifest stay in sync). */
  DIR *d = opendir(g_dir);
  CHECK(d != NULL, "cannot list %s", g_dir);
  for (struct dirent *e; d && (e = readdir(d));)
    if (strncmp(e->d_name, "bad_", 4) == 0) CHECK(manifest_lists(text, e->d_name), "%s not in manifest", e->d_name);
  if (d) closedir(d);
  free(copy);
  free(text);
}

/* ---------------------------------------------------------------------------------------------- */

/* Every proper prefix of a valid file is rejected, in an exactly-sized buffer. */
static void test_prefixes(const char *file) {
  size_t n;
  unsigned char *b = slurp(file, &n);
  CHECK(b != NULL, "cannot read %s", file);
  if (!b) return;
  for (size_t len = 0; len < n; len++) {
    unsigned char *c = malloc(len ? len : 1);
    memcpy(c, b, len);
    gguf_file *f = NULL;
    dvk_error err = {""};
    dvk_status st = gguf_open_memory(len ? c : NULL, len, file, &f, &err);
    CHECK(st == DVK_ERR_MODEL_FORMAT && f == NULL && err.msg[0], "%s prefix %zu: %s '%s'", file, len, dvk_status_str(st),
          err.msg);
    gguf_close(f);
    free(c);
  }
  free(b);
}

/* Every single-byte corruption (three patterns) is rejected or yields in-bounds tensors. */
static void test_corruptions(const char *file) {
  size_t n;
  unsigned char *b = slurp(file, &n);
  CHECK(b != NULL, "cannot read %s", file);
  if (!b) return;
  static const unsigned char pattern[] = {0xff, 0x00, 0x80};
  unsigned rejected = 0, opened = 0;
  for (size_t i = 0; i < n; i++)
    for (size_t k = 0; k < sizeof pattern; k++) {
      unsigned char *c = malloc(n);
      memcpy(c, b, n);
      c[i] ^= pattern[k] ? pattern[k] : c[i] ? c[i] : 1;
      gguf_file *f = NULL;
      dvk_error err = {""};
      dvk_status st = gguf_open_memory(c, n, file, &f, &err);
      if (st == DVK_OK) {
        opened++;
        unsigned sum = 0; /* reads every tensor byte, so ASan sees an out-of-buffer tensor */
        for (uint64_t t = 0; t < gguf_tensor_count(f); t++) {
          const gguf_tensor *ti = gguf_tensor_at(f, t);
          const unsigned char *p = ti->data;
          CHECK(p >= c && p + ti->nbytes <= c + n, "%s byte %zu: tensor outside the buffer", file, i);
          for (uint64_t j = 0; j < ti->nbytes; j++) sum += p[j];
        }
        g_sink += sum;
        gguf_close(f);
      } else {
        rejected++;
        CHECK(st == DVK_ERR_MODEL_FORMAT && err.msg[0] && f == NULL, "%s byte %zu: %s", file, i, dvk_status_str(st));
      }
      free(c);
    }
  CHECK(rejected > 0 && opened > 0, "%s corruptions: %u rejected, %u opened", file, rejected, opened);
  free(b);
}

/* Appends little-endian integers / a GGUF string to a byte buffer. */
static size_t put_le(unsigned char *b, size_t pos, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; i++) b[pos + i] = (unsigned char)(v >> (8 * i));
  return pos + (size_t)bytes;
}
static size_t put_str(unsigned char *b, size_t pos, const char *s) {
  size_t n = strlen(s);
  pos = put_le(b, pos, n, 8);
  memcpy(b + pos, s, n);
  return pos + n;
}

/* general.alignment 1 puts the data section right after the tensor info, at byte 90: a 2-byte f16 element
 * may start there, a 4-byte f32 may not (the engine reads tensor data as float / uint16_t arrays). A q8_0
 * tensor (2-byte f16 scales) may start there too, but not at byte 91 (a two-letter name). */
static void test_data_alignment(void) {
  static const struct {
    uint32_t type;
    const char *name;
    int ok;
  } cases[] = {{GGUF_TENSOR_F32, "t", 0}, {GGUF_TENSOR_F16, "t", 1}, {GGUF_TENSOR_Q8_0, "t", 1},
               {GGUF_TENSOR_Q8_0, "tq", 0}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const uint32_t type = cases[i].type;
    unsigned char *b = calloc(1, 192); /* malloc'ed: aligned for any type */
    size_t pos = 0;
    memcpy(b, "GGUF", 4);
    pos = put_le(b, 4, 3, 4);              /* version */
    pos = put_le(b, pos, 1, 8);            /* tensor_count */
    pos = put_le(b, pos, 1, 8);            /* kv_count */
    pos = put_str(b, pos, "general.alignment");
    pos = put_le(b, pos, GGUF_TYPE_UINT32, 4);
    pos = put_le(b, pos, 1, 4);
    pos = put_str(b, pos, cases[i].name);
    pos = put_le(b, pos, 1, 4);            /* n_dims */
    pos = put_le(b, pos, type == GGUF_TENSOR_Q8_0 ? 32 : 2, 8); /* dims[0] */
    pos = put_le(b, pos, (uint64_t)type, 4);
    pos = put_le(b, pos, 0, 8);            /* offset */
    size_t size = pos + (type == GGUF_TENSOR_Q8_0 ? 34 : 8);
    gguf_file *f = NULL;
    dvk_error err = {""};
    dvk_status st = gguf_open_memory(b, size, "align1.gguf", &f, &err);
    char want[64];
    snprintf(want, sizeof want, "not aligned to its %zu-byte elements", gguf_tensor_type_align(type));
    if (!cases[i].ok)
      CHECK(pos == 89 + strlen(cases[i].name) && st == DVK_ERR_MODEL_FORMAT && strstr(err.msg, want),
            "%s at byte %zu: status %d, '%s'", gguf_tensor_type_name(type), pos, (int)st, err.msg);
    else
      CHECK(st == DVK_OK && f && gguf_find_tensor(f, cases[i].name), "%s at byte %zu: status %d, '%s'",
            gguf_tensor_type_name(type), pos, (int)st, err.msg);
    gguf_close(f);
    free(b);
  }
}

static void test_io_and_args(void) {
  char p[1200];
  dvk_error err = {""};
  gguf_file *f = (gguf_file *)&g_failed;
  CHECK(gguf_open("/nonexistent/dir/model.gguf", &f, &err) == DVK_ERR_IO && f == NULL &&
            strstr(err.msg, "/nonexistent/dir/model.gguf: cannot open"),
        "%s", err.msg);
  CHECK(gguf_open(g_dir, &f, &err) == DVK_ERR_IO && strstr(err.msg, "not a regular file"), "%s", err.msg);
  path_of(p, sizeof p, "bad_magic.gguf");
  CHECK(gguf_open(p, &f, NULL) == DVK_ERR_MODEL_FORMAT, "NULL dvk_error");
  CHECK(gguf_open_memory(NULL, 5, "x", &f, &err) == DVK_ERR_INVALID_ARGUMENT, "NULL data");
  CHECK(gguf_open_memory("GGUF", 4, NULL, &f, &err) == DVK_ERR_MODEL_FORMAT && strstr(err.msg, "<memory>: "),
        "%s", err.msg);
  gguf_close(NULL);
  CHECK(strcmp(gguf_tensor_type_name(1), "f16") == 0 && gguf_tensor_type_size(1) == 2 &&
            gguf_tensor_type_size(8) == 34 && gguf_tensor_type_block(8) == 32 && gguf_tensor_type_size(2) == 0 &&
            gguf_tensor_type_block(2) == 0 && strcmp(gguf_type_name(GGUF_TYPE_COUNT), "unknown") == 0,
        "type names");
}

int main(int argc, char **argv) {
  const char *data = argc > 1 ? argv[1] : getenv("DVK_TEST_DATA");
  snprintf(g_dir, sizeof g_dir, "%s/gguf", data ? data : "tests/data");
  test_valid("valid_small.gguf", check_valid_small);
  test_valid("valid_align64.gguf", check_valid_align64);
  test_valid("valid_v2.gguf", check_valid_v2);
  test_valid("valid_header_only.gguf", check_header_only);
  test_valid("valid_model_tiny.gguf", check_model_tiny);
  test_valid("valid_q8_0.gguf", check_valid_q8_0);
  test_manifest();
  test_prefixes("valid_small.gguf");
  test_prefixes("valid_align64.gguf");
  test_corruptions("valid_small.gguf");
  test_data_alignment();
  test_io_and_args();
  printf("test_gguf: %d checks, %d failed\n", g_checks, g_failed);
  return g_failed ? 1 : 0;
}
