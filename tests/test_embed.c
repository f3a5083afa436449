/* Embedding gathers (text, image, start-of-image row) against plain C references, f32, f16 and q8_0 tables
 * (q8_0 quantised by the tests' own ggml rule, th_q8_quantize, and repacked by dvk_q8_pack),
 * out-of-range ids, and a token table larger than maxStorageBufferRange (bound in row chunks). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "ops/embed.h"
#include "ops/q8_0.h"

/* Checks out against ref: elements whose ref holds the sentinel bits (rows the op must not write) must
 * still hold them; the others by relative error (NaN/Inf fail); plus the guard region. Ends the case. */
static void check_out(th_ctx *t, const th_buf *b, const float *ref, size_t n) {
  float *out = malloc(n * 4), *o2 = malloc(n * 4), *r2 = malloc(n * 4);
  dvk_status s = th_read(t, b, out);
  if (s != DVK_OK) {
    th_case_error(t, "download", s);
  } else {
    size_t m = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
      uint32_t rb, ob;
      memcpy(&rb, &ref[i], 4);
      memcpy(&ob, &out[i], 4);
      if (rb == TH_SENTINEL) bad += ob != TH_SENTINEL;
      else o2[m] = out[i], r2[m++] = ref[i];
    }
    if (bad) printf("     %zu elements outside the written rows changed\n", bad);
    double err = th_rel_err(o2, r2, m);
    th_case_done(t, th_guard_ok(t, b) && !bad && err <= 1e-6, err, 1e-6);
  }
  free(out), free(o2), free(r2);
}

/* A random table: host values (already rounded through f16 for f16 tables, decoded d * q for q8_0) and its
 * device copy. */
typedef struct table {
  float *val;
  dvk_embed_table e;
  th_buf buf;
} table;

static dvk_status make_table(th_ctx *t, table *tb, uint32_t rows, uint32_t d, dvk_table_dtype dtype) {
  size_t n = (size_t)rows * d;
  tb->val = malloc(n * 4);
  th_fill_uniform(&t->rng, tb->val, n, -1, 1);
  dvk_status s;
  if (dtype == DVK_TABLE_F16) {
    uint16_t *h = calloc(n + 1, 2); /* padded to whole 32-bit words */
    for (size_t i = 0; i < n; i++) {
      h[i] = th_f32_to_f16(tb->val[i]);
      tb->val[i] = th_f16_to_f32(h[i]);
    }
    s = th_alloc(t, (n * 2 + 3) & ~(size_t)3, h, &tb->buf);
    free(h);
  } else if (dtype == DVK_TABLE_Q8_0) {
    uint8_t *blocks = malloc(n / 32 * 34);
    size_t bytes = (size_t)rows * dvk_q8_row_bytes(d);
    void *dev = malloc(bytes);
    th_q8_quantize(tb->val, n, blocks, tb->val);
    dvk_q8_pack(rows, d, blocks, dev);
    s = th_alloc(t, bytes, dev, &tb->buf);
    free(blocks), free(dev);
  } else {
    s = th_alloc(t, n * 4, tb->val, &tb->buf);
  }
  tb->e = (dvk_embed_table){.t = tb->buf.t, .rows = rows, .d = d, .dtype = dtype};
  return s;
}

static const char *dtype_name(dvk_table_dtype d) {
  return d == DVK_TABLE_Q8_0 ? "q8_0" : d == DVK_TABLE_F16 ? "f16" : "f32";
}

/* Ids for B x n tokens: mostly in [0, V), some out of range on either side, some at the ends. */
static int32_t *make_ids(th_ctx *t, size_t count, uint32_t V) {
  int32_t *ids = malloc(count * 4);
  for (size_t i = 0; i < count; i++) {
    uint64_t r = th_rng_u64(&t->rng);
    ids[i] = (int32_t)(r % V);
    if (i % 7 == 3) ids[i] = (i / 7) % 2 ? -1 - (int32_t)(r % 5) : (int32_t)V + (int32_t)(r % 3);
    if (i % 11 == 5) ids[i] = (int32_t)V - 1;
  }
  return ids;
}

/* Text (image == 0): out[b, row0 + j] = tok[id] + pos[p0 + j]; image: tok[code] + rowe[(p0+j)/G] + cole[(p0+j)%G]. */
static void test_gather(th_ctx *t, int image, dvk_table_dtype dtype, uint32_t B, uint32_t n, uint32_t p0, uint32_t d,
                        uint32_t V, uint32_t npos_or_grid, uint32_t out_rows, uint32_t row0, VkDeviceSize range) {
  if (!th_case(t, "embed_%s %s B=%u n=%u p0=%u d=%u V=%u %s=%u rows=%u@%u range=%llu", image ? "image" : "text",
               dtype_name(dtype), B, n, p0, d, V, image ? "G" : "T", npos_or_grid, out_rows, row0,
               (unsigned long long)range))
    return;
  uint32_t G = npos_or_grid;
  table tok = {0}, pa = {0}, pb = {0};
  int32_t *ids = make_ids(t, (size_t)B * n, V);
  size_t out_n = (size_t)B * out_rows * d;
  float *ref = malloc(out_n * 4);
  th_buf dids, dout;
  dvk_status s = make_table(t, &tok, V, d, dtype);
  if (s == DVK_OK) s = make_table(t, &pa, npos_or_grid, d, dtype);
  if (s == DVK_OK && image) s = make_table(t, &pb, G, d, dtype);
  if (s == DVK_OK) s = th_alloc(t, (size_t)B * n * 4, ids, &dids);
  if (s == DVK_OK) s = th_alloc(t, out_n * 4, NULL, &dout);
  if (s == DVK_OK) {
    /* rows the op does not write keep the sentinel: read them back as the reference for those rows */
    s = th_read(t, &dout, ref);
    for (uint32_t b = 0; b < B; b++)
      for (uint32_t j = 0; j < n; j++)
        for (uint32_t c = 0; c < d; c++) {
          int32_t id = ids[b * n + j];
          uint32_t p = p0 + j;
          double v = id >= 0 && (uint32_t)id < V ? tok.val[(size_t)id * d + c] : 0.0;
          v += image ? (double)pa.val[(size_t)(p / G) * d + c] + pb.val[(size_t)(p % G) * d + c]
                     : pa.val[(size_t)p * d + c];
          ref[((size_t)b * out_rows + row0 + j) * d + c] = (float)v;
        }
  }
  dvk_embed_out out = {.t = dout.t, .out_rows = out_rows, .out_row0 = row0};
  if (s == DVK_OK)
    TH_WITH_RANGE(t, range, image ? dvk_op_embed_image(t->ctx, &out, dids.t, B, n, p0, G, &tok.e, &pa.e, &pb.e)
                                  : dvk_op_embed_text(t->ctx, &out, dids.t, B, n, p0, &tok.e, &pa.e));
  if (s != DVK_OK) th_case_error(t, "embed", s);
  else check_out(t, &dout, ref, out_n);
  free(tok.val), free(pa.val), free(pb.val), free(ids), free(ref);
}

static void test_row(th_ctx *t, dvk_table_dtype dtype, uint32_t B, uint32_t d, uint32_t rows, uint32_t src_row,
                     uint32_t out_rows, uint32_t row0) {
  if (!th_case(t, "embed_row %s B=%u d=%u src_row=%u/%u rows=%u@%u", dtype_name(dtype), B, d,
               src_row, rows, out_rows, row0))
    return;
  table src = {0};
  size_t out_n = (size_t)B * out_rows * d;
  float *ref = malloc(out_n * 4);
  th_buf dout;
  dvk_status s = make_table(t, &src, rows, d, dtype);
  if (s == DVK_OK) s = th_alloc(t, out_n * 4, NULL, &dout);
  if (s == DVK_OK) s = th_read(t, &dout, ref);
  for (uint32_t b = 0; s == DVK_OK && b < B; b++)
    memcpy(ref + ((size_t)b * out_rows + row0) * d, src.val + (size_t)src_row * d, d * 4);
  dvk_embed_out out = {.t = dout.t, .out_rows = out_rows, .out_row0 = row0};
  if (s == DVK_OK) s = dvk_op_embed_row(t->ctx, &out, B, &src.e, src_row);
  if (s != DVK_OK) th_case_error(t, "embed_row", s);
  else check_out(t, &dout, ref, out_n);
  free(src.val), free(ref);
}

int main(int argc, char **argv) {
  th_ctx t;
  int rc = th_init(&t, argc, argv);
  if (rc) return rc;
  /* text prefill into a sequence buffer of T + 1 + image rows */
  test_gather(&t, 0, DVK_TABLE_F32, 1, 7, 0, 24, 30, 7, 7 + 1 + 24, 0, 0);
  test_gather(&t, 0, DVK_TABLE_F16, 3, 7, 0, 13, 40, 7, 12, 0, 0);
  test_gather(&t, 0, DVK_TABLE_F32, 2, 3, 4, 33, 9, 7, 5, 2, 0);
  /* image tokens: a prefill run and single decode steps (first and last image index) */
  test_gather(&t, 1, DVK_TABLE_F32, 2, 7, 3, 24, 50, 5, 7 + 1 + 24, 7 + 1 + 3, 0);
  test_gather(&t, 1, DVK_TABLE_F16, 2, 24, 0, 19, 64, 5, 24, 0, 0);
  test_gather(&t, 1, DVK_TABLE_F32, 4, 1, 0, 40, 16, 5, 1, 0, 0);
  test_gather(&t, 1, DVK_TABLE_F16, 4, 1, 23, 40, 16, 5, 1, 0, 0);
  /* q8_0 tables (d a multiple of 32) */
  test_gather(&t, 0, DVK_TABLE_Q8_0, 3, 7, 2, 64, 40, 9, 12, 1, 0);
  test_gather(&t, 1, DVK_TABLE_Q8_0, 2, 24, 0, 32, 64, 5, 24, 0, 0);
  test_gather(&t, 1, DVK_TABLE_Q8_0, 4, 1, 23, 96, 16, 5, 1, 0, 0);
  /* a token table bound in row chunks (maxStorageBufferRange lowered to 8 KiB) */
  test_gather(&t, 0, DVK_TABLE_Q8_0, 2, 8, 0, 64, 300, 9, 8, 0, 8192);
  test_gather(&t, 0, DVK_TABLE_F16, 2, 8, 0, 64, 300, 9, 8, 0, 8192);
  /* start-of-image row */
  test_row(&t, DVK_TABLE_F32, 1, 24, 1, 0, 32, 7);
  test_row(&t, DVK_TABLE_F32, 3, 37, 5, 3, 9, 4);
  test_row(&t, DVK_TABLE_F16, 2, 13, 6, 5, 3, 2);
  test_row(&t, DVK_TABLE_Q8_0, 2, 96, 6, 5, 3, 2);
  /* a token table over maxStorageBufferRange on lavapipe (128 MiB): 33000 x 1024 f32 = 135 MB */
  if (t.ctx->limits.max_storage_range <= 33000ull * 1024 * 4)
    test_gather(&t, 0, DVK_TABLE_F32, 2, 64, 0, 1024, 33000, 64, 64, 0, 0);
  return th_finish(&t);
}
