/* Push-constant layouts of the VQGAN ops (GroupNorm, row softmax, strided matmul of activations), shared
 * by their host files (src/ops/groupnorm.c, src/ops/spatial_attn.c) and their shaders. Same conventions
 * as dvk_shared.h: 32-bit scalar members only, sizes checked on the C side. The `*_off` members give the
 * element offset of the dispatch's first element inside its bound window (src/ops/window.h). */
#ifndef DVK_VQGAN_SHARED_H
#define DVK_VQGAN_SHARED_H

#include "dvk_shared.h"

/* groupnorm.comp: one workgroup per (image, group); a group is cpg consecutive channels of hw pixels. */
DVK_STRUCT(dvk_pc_groupnorm) {
  DVK_U32 n_groups;     /* groups in this dispatch (whole images: a multiple of `groups`) */
  DVK_U32 groups;       /* groups per image */
  DVK_U32 cpg, hw;      /* channels per group, pixels per channel */
  DVK_F32 eps;
  DVK_U32 swish;        /* 1: y = v * sigmoid(v) after the affine map */
  DVK_U32 x_off, y_off;
};
DVK_PUSH_CHECK(dvk_pc_groupnorm, 8)

/* softmax_rows.comp: in place, x[r, :] = softmax(x[r, :]) over n columns, one workgroup per row. */
DVK_STRUCT(dvk_pc_softmax_rows) {
  DVK_U32 rows, n, off;
};
DVK_PUSH_CHECK(dvk_pc_softmax_rows, 3)

/* gemm_strided.comp: c[c_off + i * ldc + j] = alpha * sum_k a[a_off + i * a_si + k * a_sk] *
 * b[b_off + k * b_sk + j * b_sn], i < m, j < n. a and b may be the same buffer (binding 0 and 1). */
DVK_STRUCT(dvk_pc_gemm_strided) {
  DVK_U32 m, n, k;
  DVK_U32 a_off, a_si, a_sk;
  DVK_U32 b_off, b_sk, b_sn;
  DVK_U32 c_off, ldc;
  DVK_F32 alpha;
  DVK_U32 tiles_n;      /* ceil(n / 4) */
};
DVK_PUSH_CHECK(dvk_pc_gemm_strided, 13)

#endif
