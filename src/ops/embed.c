/* Embedding gathers. See embed.h. */
#include "ops/embed.h"

#include "ops/q8_0.h"
#include "ops/util.h"
#include "ops/window.h"
#include "transformer_shared.h"

/* Bytes of the unit the shaders index a table by: an element (f32, f16) or a 32-bit word (q8_0 rows). */
static VkDeviceSize elem_bytes(dvk_table_dtype t) { return t == DVK_TABLE_F16 ? 2 : 4; }

/* Bytes of one table row (q8_0: a whole number of words; f16 rows may end mid-word). */
static VkDeviceSize row_bytes_of(const dvk_embed_table *e) {
  return e->dtype == DVK_TABLE_Q8_0 ? dvk_q8_row_bytes(e->d) : (VkDeviceSize)e->d * elem_bytes(e->dtype);
}

/* Bytes of the first `rows` rows of a table, rounded up to whole 32-bit words. */
static VkDeviceSize table_bytes(const dvk_embed_table *e, uint32_t rows) {
  return ((VkDeviceSize)rows * row_bytes_of(e) + 3) & ~(VkDeviceSize)3;
}

static const char *variant_of(dvk_table_dtype t, const char *f32, const char *f16, const char *q8) {
  return t == DVK_TABLE_Q8_0 ? q8 : t == DVK_TABLE_F16 ? f16 : f32;
}

static dvk_status check_table(dvk_device *ctx, const char *name, const dvk_embed_table *e, uint32_t d,
                              dvk_table_dtype dtype, int whole_binding) {
  if (e->d != d || e->dtype != dtype || e->rows == 0 || (dtype == DVK_TABLE_Q8_0 && d % DVK_Q8_BLOCK))
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "embed: table %s is [%u, %u] dtype %d, needs d = %u dtype %d",
                    name, e->rows, e->d, (int)e->dtype, d, (int)dtype);
  DVK_TRY(dvk_need_bytes(ctx, "embed", name, e->t, table_bytes(e, e->rows)));
  if (whole_binding && table_bytes(e, e->rows) > ctx->limits.max_storage_range)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "embed: table %s exceeds maxStorageBufferRange", name);
  return DVK_OK;
}

/* Checks out and ids of a gather of batch x n tokens with rows of d floats. */
static dvk_status check_io(dvk_device *ctx, const dvk_embed_out *out, dvk_tensor ids, uint32_t batch, uint32_t n,
                           uint32_t d) {
  if (batch == 0 || n == 0 || d == 0 || (uint64_t)out->out_row0 + n > out->out_rows)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "embed: %u tokens at row %u do not fit %u rows per sequence", n,
                    out->out_row0, out->out_rows);
  VkDeviceSize out_bytes = (VkDeviceSize)batch * out->out_rows * d * 4;
  DVK_TRY(dvk_need_bytes(ctx, "embed", "out", out->t, out_bytes));
  DVK_TRY(dvk_need_bytes(ctx, "embed", "ids", ids, (VkDeviceSize)batch * n * 4));
  if (out_bytes > ctx->limits.max_storage_range || (VkDeviceSize)batch * n * 4 > ctx->limits.max_storage_range)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "embed: output or ids exceed maxStorageBufferRange");
  return DVK_OK;
}

/* Shared by text and image: one dispatch per chunk of tok rows. pc holds everything but the chunk. */
static dvk_status gather(dvk_device *ctx, const dvk_embed_out *out, dvk_tensor ids, const dvk_embed_table *tok,
                         dvk_tensor pos_a, dvk_tensor pos_b, dvk_pc_embed pc) {
  VkDeviceSize row_bytes = row_bytes_of(tok), row_units = row_bytes / elem_bytes(tok->dtype);
  uint32_t chunk = dvk_window_rows(ctx, row_bytes, tok->rows, ctx->limits.max_storage_range);
  if (chunk == 0) return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "embed: one table row exceeds the binding range");
  for (uint32_t v0 = 0; v0 < tok->rows; v0 += chunk) {
    uint32_t cnt = tok->rows - v0 < chunk ? tok->rows - v0 : chunk;
    pc.v0 = v0;
    pc.v_count = cnt;
    pc.first = v0 == 0;
    dvk_dispatch_desc d = {.shader = variant_of(tok->dtype, "embed_f32", "embed_f16", "embed_q8_0"),
                           .n_bindings = 5, .push = &pc, .push_size = sizeof pc};
    DVK_TRY(dvk_window_exact(ctx, "embed", "tok", tok->t, (uint64_t)v0 * row_units, (uint64_t)cnt * row_units,
                             (uint32_t)elem_bytes(tok->dtype), &d.bindings[0].t));
    d.bindings[1].t = dvk_bind_range(ids, (VkDeviceSize)pc.batch * pc.n * 4);
    d.bindings[2].t = pos_a;
    d.bindings[3].t = pos_b;
    d.bindings[4].t = dvk_bind_range(out->t, (VkDeviceSize)pc.batch * out->out_rows * pc.d * 4);
    dvk_groups_1d(ctx, dvk_div_up(pc.batch * pc.n * pc.d, 256), d.groups);
    DVK_TRY(dvk_dispatch(ctx, &d));
  }
  return DVK_OK;
}

dvk_status dvk_op_embed_text(dvk_device *ctx, const dvk_embed_out *out, dvk_tensor ids, uint32_t batch, uint32_t n,
                             uint32_t p0, const dvk_embed_table *tok, const dvk_embed_table *pos) {
  uint32_t d = tok->d;
  DVK_TRY(check_io(ctx, out, ids, batch, n, d));
  DVK_TRY(check_table(ctx, "tok", tok, d, tok->dtype, 0));
  DVK_TRY(check_table(ctx, "pos", pos, d, tok->dtype, 1));
  if ((uint64_t)p0 + n > pos->rows)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "embed_text: positions %u..%u past the %u-row position table",
                    p0, p0 + n - 1, pos->rows);
  dvk_tensor pa = dvk_bind_range(pos->t, table_bytes(pos, pos->rows));
  dvk_pc_embed pc = {.batch = batch, .n = n, .d = d, .vocab = tok->rows, .pos_mode = DVK_EMBED_POS_TEXT,
                     .p0 = p0, .grid = 1, .pos_rows = pos->rows, .out_rows = out->out_rows,
                     .out_row0 = out->out_row0};
  return gather(ctx, out, ids, tok, pa, pa, pc);
}

dvk_status dvk_op_embed_image(dvk_device *ctx, const dvk_embed_out *out, dvk_tensor codes, uint32_t batch, uint32_t n,
                              uint32_t i0, uint32_t grid, const dvk_embed_table *tok, const dvk_embed_table *row_emb,
                              const dvk_embed_table *col_emb) {
  uint32_t d = tok->d;
  DVK_TRY(check_io(ctx, out, codes, batch, n, d));
  DVK_TRY(check_table(ctx, "tok", tok, d, tok->dtype, 0));
  DVK_TRY(check_table(ctx, "row_emb", row_emb, d, tok->dtype, 1));
  DVK_TRY(check_table(ctx, "col_emb", col_emb, d, tok->dtype, 1));
  if (grid == 0 || row_emb->rows < grid || col_emb->rows < grid || (uint64_t)i0 + n > (uint64_t)grid * grid)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT,
                    "embed_image: image indices %u..%u on a %u x %u grid (row table %u rows, column table %u rows)",
                    i0, i0 + n - 1, grid, grid, row_emb->rows, col_emb->rows);
  dvk_pc_embed pc = {.batch = batch, .n = n, .d = d, .vocab = tok->rows, .pos_mode = DVK_EMBED_POS_IMAGE,
                     .p0 = i0, .grid = grid, .pos_rows = grid, .out_rows = out->out_rows,
                     .out_row0 = out->out_row0};
  return gather(ctx, out, codes, tok, dvk_bind_range(row_emb->t, table_bytes(row_emb, grid)),
                dvk_bind_range(col_emb->t, table_bytes(col_emb, grid)), pc);
}

dvk_status dvk_op_embed_row(dvk_device *ctx, const dvk_embed_out *out, uint32_t batch, const dvk_embed_table *src,
                            uint32_t src_row) {
  uint32_t d = src->d;
  if (batch == 0 || d == 0 || src_row >= src->rows || out->out_row0 >= out->out_rows)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "embed_row: row %u of a %u-row table into row %u of %u",
                    src_row, src->rows, out->out_row0, out->out_rows);
  VkDeviceSize out_bytes = (VkDeviceSize)batch * out->out_rows * d * 4;
  DVK_TRY(dvk_need_bytes(ctx, "embed_row", "out", out->t, out_bytes));
  DVK_TRY(check_table(ctx, "src", src, d, src->dtype, 0));
  if (out_bytes > ctx->limits.max_storage_range)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "embed_row: output exceeds maxStorageBufferRange");
  dvk_window row = {0}; /* the shader indexes from src_off elements (q8_0: words) into the window */
  const VkDeviceSize units = row_bytes_of(src) / elem_bytes(src->dtype); /* per row; f16 rows: d */
  DVK_TRY(dvk_window_of(ctx, "embed_row", "src", src->t, (uint64_t)src_row * units, units,
                        (uint32_t)elem_bytes(src->dtype), &row));
  dvk_pc_embed_row pc = {.batch = batch, .d = d, .out_rows = out->out_rows, .row = out->out_row0, .src_off = row.off};
  dvk_dispatch_desc desc = {.shader = variant_of(src->dtype, "embed_row_f32", "embed_row_f16", "embed_row_q8_0"),
                            .n_bindings = 2, .push = &pc, .push_size = sizeof pc};
  desc.bindings[0].t = row.t;
  desc.bindings[1].t = dvk_bind_range(out->t, out_bytes);
  dvk_groups_1d(ctx, dvk_div_up(batch * d, 256), desc.groups);
  return dvk_dispatch(ctx, &desc);
}
