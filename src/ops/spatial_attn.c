/* Spatial attention host side. See spatial_attn.h. */
#include "ops/spatial_attn.h"

#include <math.h>

#include "ops/util.h"
#include "ops/window.h"
#include "vqgan_shared.h"

/* Window over the elements an operand touches: [off, off + (rows-1)*s_row + (cols-1)*s_col]. */
static dvk_status operand(dvk_device *ctx, const char *name, dvk_tensor t, uint64_t off, uint32_t rows, uint64_t s_row,
                          uint32_t cols, uint64_t s_col, dvk_window *w) {
  uint64_t n = (rows - 1) * s_row + (cols - 1) * s_col + 1;
  return dvk_window_of(ctx, "gemm_strided", name, t, off, n, 4, w);
}

dvk_status dvk_op_gemm_strided(dvk_device *ctx, const dvk_gemm_strided *g) {
  if (!g->m || !g->n || !g->k)
    return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "gemm_strided: empty shape m=%u n=%u k=%u", g->m, g->n, g->k);
  dvk_window wa = {0}, wb = {0}, wc = {0};
  DVK_TRY(operand(ctx, "a", g->a, g->a_off, g->m, g->a_si, g->k, g->a_sk, &wa));
  DVK_TRY(operand(ctx, "b", g->b, g->b_off, g->k, g->b_sk, g->n, g->b_sn, &wb));
  DVK_TRY(operand(ctx, "c", g->c, g->c_off, g->m, g->ldc, g->n, 1, &wc));
  dvk_pc_gemm_strided pc = {.m = g->m, .n = g->n, .k = g->k, .a_off = wa.off, .a_si = g->a_si, .a_sk = g->a_sk,
                            .b_off = wb.off, .b_sk = g->b_sk, .b_sn = g->b_sn, .c_off = wc.off, .ldc = g->ldc,
                            .alpha = g->alpha, .tiles_n = dvk_div_up(g->n, 4)};
  dvk_dispatch_desc d = {.shader = "gemm_strided", .n_bindings = 3, .push = &pc, .push_size = sizeof pc};
  d.bindings[0].t = wa.t;
  d.bindings[1].t = wb.t;
  d.bindings[2].t = wc.t;
  dvk_groups_1d(ctx, ((uint64_t)dvk_div_up(g->m, 4) * pc.tiles_n + 63) / 64, d.groups);
  return dvk_dispatch(ctx, &d);
}

dvk_status dvk_op_softmax_rows(dvk_device *ctx, dvk_tensor x, uint32_t rows, uint32_t n) {
  if (!rows || !n) return dvk_fail(ctx, DVK_ERR_INVALID_ARGUMENT, "softmax_rows: empty shape %u x %u", rows, n);
  dvk_window wx = {0};
  DVK_TRY(dvk_window_of(ctx, "softmax_rows", "x", x, 0, (uint64_t)rows * n, 4, &wx));
  dvk_pc_softmax_rows pc = {.rows = rows, .n = n, .off = wx.off};
  dvk_dispatch_desc d = {.n_bindings = 1, .push = &pc, .push_size = sizeof pc};
  dvk_pick_reduce_variant(ctx, &d, "softmax_rows_wg", "softmax_rows_sg");
  d.bindings[0].t = wx.t;
  dvk_groups_1d(ctx, rows, d.groups);
  return dvk_dispatch(ctx, &d);
}

dvk_status dvk_op_spatial_attention(dvk_device *ctx, dvk_tensor o, dvk_tensor qkv, dvk_tensor scores, uint32_t c,
                                    uint32_t npos) {
  const uint64_t cn = (uint64_t)c * npos;
  /* scores[i, j] = q[:, i] . k[:, j] / sqrt(c): a = q^T (a(i, ch) = q[ch * npos + i]), b = k */
  dvk_gemm_strided s = {.m = npos, .n = npos, .k = c, .a = qkv, .b = qkv, .c = scores, .a_off = 0, .a_si = 1,
                        .a_sk = npos, .b_off = cn, .b_sk = npos, .b_sn = 1, .ldc = npos,
                        .alpha = (float)(1.0 / sqrt((double)c))};
  DVK_TRY(dvk_op_gemm_strided(ctx, &s));
  DVK_TRY(dvk_op_softmax_rows(ctx, scores, npos, npos));
  /* o[ch, i] = sum_j v[ch, j] P[i, j]: a = v, b(j, i) = P[i * npos + j] */
  dvk_gemm_strided w = {.m = c, .n = npos, .k = npos, .a = qkv, .b = scores, .c = o, .a_off = 2 * cn,
                        .a_si = npos, .a_sk = 1, .b_off = 0, .b_sk = 1, .b_sn = npos, .ldc = npos, .alpha = 1.0f};
  return dvk_op_gemm_strided(ctx, &w);
}
