/* Push constants of the matmul family (matmul_cpu.comp, matmul_gpu.comp, matmul_vec.comp), shared by
 * src/ops/matmul.c and the shaders. Y[m, n0 + j] (+)= epilogue(X[m, :] . W[j, :] + b[n0 + j]) for
 * m < M, j < n (one dispatch covers the W chunk of n rows that starts at output column n0). */
#ifndef DVK_MATMUL_SHARED_H
#define DVK_MATMUL_SHARED_H

#include "dvk_shared.h"
#include "q8_shared.h"

/* dvk_pc_matmul.flags */
#define DVK_MM_BIAS 1u       /* add b[n0 + j] */
#define DVK_MM_GELU 2u       /* apply GELU (erf form) after the bias */
#define DVK_MM_ACCUMULATE 4u /* Y += result instead of Y = result */
#define DVK_MM_KV 8u         /* QKV projection: also store columns kv_d .. 3 kv_d - 1 into the KV cache */
#define DVK_MM_GELU_TANH 16u /* apply GELU (tanh form) after the bias */
#define DVK_MM_CLAMP 32u     /* clamp to [-clamp, clamp] after the bias and GELU, before accumulating */
#define DVK_MM_MULTIPLY 64u  /* Y *= result instead of Y = result (a GLU; not with DVK_MM_ACCUMULATE) */

DVK_STRUCT(dvk_pc_matmul) {
  DVK_U32 m;         /* rows of X and Y */
  DVK_U32 n;         /* W rows in this dispatch (output columns n0 .. n0 + n - 1) */
  DVK_U32 k;         /* reduction length (columns of X that are used) */
  DVK_U32 kw;        /* W row stride in elements (k rounded up to DVK_MM_K_ALIGN; rows are zero-padded);
                        q8_0: in 32-bit words (DVK_Q8_ROW_WORDS(k), shaders/q8_shared.h) */
  DVK_U32 ldx;       /* X row stride in floats (>= k) */
  DVK_U32 ldy;       /* Y row stride in floats (>= n0 + n) */
  DVK_U32 n0;        /* first output column of this dispatch (index into Y rows and b) */
  DVK_U32 flags;     /* DVK_MM_* */
  DVK_U32 m_tiles;   /* workgroup tiles along M (the workgroup index splits as n_tile * m_tiles + m_tile) */
  DVK_U32 n_groups;  /* total workgroups; DVK_GROUP_INDEX >= n_groups returns */
  DVK_U32 x0;        /* element index of X[0, 0] in the X binding (bound from an aligned-down offset) */
  DVK_U32 y0;        /* element index of Y[0, 0] in the Y binding (likewise) */
  /* DVK_MM_KV: Y[m, kv_d + c] goes to cache_k, Y[m, 2 kv_d + c] to cache_v, both f32
   * [batch, kv_heads, kv_smax, kv_dh], at head c / kv_dh, position kv_p0 + m % kv_nq of sequence m / kv_nq */
  DVK_U32 kv_d;      /* d = kv_heads * kv_dh */
  DVK_U32 kv_dh;
  DVK_U32 kv_heads;
  DVK_U32 kv_smax;
  DVK_U32 kv_p0;
  DVK_U32 kv_nq;
  DVK_F32 clamp_c;   /* DVK_MM_CLAMP: the bound c > 0 */
};
DVK_PUSH_CHECK(dvk_pc_matmul, 19)

/* W rows are padded with zeros to a multiple of this many elements (f32 or f16; q8_0 rows are whole
 * 16-byte texels by their own layout, and k is a multiple of 32 there), so that a row is a
 * whole number of 16-byte texels / vec4 loads in both dtypes, and the CPU kernel may unroll K by 2
 * steps of 8 without a tail. */
#define DVK_MM_K_ALIGN 16u

/* The epilogue reads the old Y[m, n] (accumulating or multiplying). */
#define DVK_MM_READS_Y (DVK_MM_ACCUMULATE | DVK_MM_MULTIPLY)

#ifndef __STDC__ /* GLSL: the epilogue every matmul kernel applies to one output element */
#include "gelu.glsl"

/* v = acc (+ bias) (-> GELU erf or tanh, gelu.glsl) (-> clamp to [-c, c]) (+ old Y when accumulating,
 * * old Y when multiplying). */
float dvk_mm_epilogue(float acc, float bias_v, float y_old, uint flags, float c) {
  float v = acc;
  if ((flags & DVK_MM_BIAS) != 0u) v += bias_v;
  if ((flags & DVK_MM_GELU) != 0u) v = dvk_gelu(v);
  if ((flags & DVK_MM_GELU_TANH) != 0u) v = dvk_gelu_tanh(v);
  if ((flags & DVK_MM_CLAMP) != 0u) v = clamp(v, -c, c);
  if ((flags & DVK_MM_ACCUMULATE) != 0u) v += y_old;
  if ((flags & DVK_MM_MULTIPLY) != 0u) v *= y_old;
  return v;
}

/* DVK_MM_KV: the element of cache_k (is_v false) or cache_v that output (m, col) also goes to; ~0u when
 * it goes to neither (the flag is off, or col is a q column). */
uint dvk_mm_kv_index(dvk_pc_matmul q, uint m, uint col, out bool is_v) {
  is_v = col >= 2u * q.kv_d;
  if ((q.flags & DVK_MM_KV) == 0u || col < q.kv_d) return ~0u;
  uint c = col - (is_v ? 2u : 1u) * q.kv_d, seq = m / q.kv_nq;
  return ((seq * q.kv_heads + c / q.kv_dh) * q.kv_smax + q.kv_p0 + m % q.kv_nq) * q.kv_dh + c % q.kv_dh;
}

/* Stores v at (m, col)'s cache element, if any; the shader declares buffers ck[] and cv[] (bindings 4, 5). */
#define DVK_MM_STORE_KV(m, col, v)                    \
  {                                                   \
    bool is_v_;                                       \
    uint e_ = dvk_mm_kv_index(p, m, col, is_v_);      \
    if (e_ != ~0u) {                                  \
      if (is_v_) cv[e_] = v;                          \
      else ck[e_] = v;                                \
    }                                                 \
  }
#endif

#endif
