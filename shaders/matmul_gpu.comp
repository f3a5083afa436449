#version 450
// Matmul for GPUs: Y[m, n0+j] (+)= epi(X[m,:] . W[j,:] + b[n0+j]), the classic shared-memory tiling.
// A workgroup of 16 x 16 invocations computes a 64 x 64 tile of Y; per K block of 16 it stages the
// X and W sub-tiles in shared memory (8 KiB), and each invocation accumulates a 4 x 4 register tile
// (rows ty + 16 i, columns tx + 16 j: neighbouring invocations read neighbouring shared words).
// No subgroup operations, so any subgroup width works. W is a storage buffer in the matmul device
// layout (rows zero-padded to kw elements; f16: two halves per uint, the lower k in the low bits;
// q8_0: shaders/q8_shared.h rows of kw words, dequantised as they are staged).
// variants: f32 f16=WEIGHT_F16 q8_0=WEIGHT_Q8_0
#extension GL_GOOGLE_include_directive : require
#include "matmul_shared.h"

#define BM 64u
#define BN 64u
#define BK 16u
layout(local_size_x = 16, local_size_y = 16) in;

layout(std430, binding = 0) readonly buffer Xb { float x[]; };
#if defined(WEIGHT_F16) || defined(WEIGHT_Q8_0)
layout(std430, binding = 1) readonly buffer Wb { uint w[]; };
#else
layout(std430, binding = 1) readonly buffer Wb { float w[]; };
#endif
layout(std430, binding = 2) readonly buffer Bb { float bias[]; };
layout(std430, binding = 3) buffer Yb { float y[]; };
layout(std430, binding = 4) writeonly buffer CKb { float ck[]; }; // DVK_MM_KV: the KV cache (else unused)
layout(std430, binding = 5) writeonly buffer CVb { float cv[]; };
layout(push_constant) uniform PC { dvk_pc_matmul p; };

shared float xs[BK][BM];
shared float ws[BK][BN];

float load_w(uint j, uint k) {
#ifdef WEIGHT_F16
  uint e = j * p.kw + k;
  vec2 h = unpackHalf2x16(w[e >> 1]);
  return (e & 1u) != 0u ? h.y : h.x;
#elif defined(WEIGHT_Q8_0)
  return DVK_Q8_AT(w, j * p.kw, p.k, k);
#else
  return w[j * p.kw + k];
#endif
}

void main() {
  uint g = DVK_GROUP_INDEX;
  if (g >= p.n_groups) return; // uniform per workgroup: no invocation reaches the barriers
  uint m0 = (g % p.m_tiles) * BM, j0 = (g / p.m_tiles) * BN;
  uint tx = gl_LocalInvocationID.x, ty = gl_LocalInvocationID.y, tid = ty * 16u + tx;
  float acc[4][4];
  for (uint i = 0; i < 4; i++)
    for (uint q = 0; q < 4; q++) acc[i][q] = 0.0;

  for (uint k0 = 0; k0 < p.k; k0 += BK) {
    for (uint t = 0; t < (BM * BK) / 256u; t++) {
      uint e = tid + t * 256u, row = e / BK, kk = e % BK;
      uint m = m0 + row, j = j0 + row, k = k0 + kk;
      float xv = 0.0, wv = 0.0;
      if (m < p.m && k < p.k) xv = x[p.x0 + m * p.ldx + k];
      if (j < p.n && k < p.k) wv = load_w(j, k);
      xs[kk][row] = xv;
      ws[kk][row] = wv;
    }
    barrier();
    for (uint kk = 0; kk < BK; kk++) {
      float a[4], b[4];
      for (uint i = 0; i < 4; i++) a[i] = xs[kk][ty + 16u * i];
      for (uint q = 0; q < 4; q++) b[q] = ws[kk][tx + 16u * q];
      for (uint i = 0; i < 4; i++)
        for (uint q = 0; q < 4; q++) acc[i][q] += a[i] * b[q];
    }
    barrier();
  }

  for (uint i = 0; i < 4; i++) {
    uint m = m0 + ty + 16u * i;
    for (uint q = 0; q < 4; q++) {
      uint j = j0 + tx + 16u * q;
      if (m < p.m && j < p.n) {
        uint o = p.y0 + m * p.ldy + p.n0 + j;
        float b = 0.0, yo = 0.0;
        if ((p.flags & DVK_MM_BIAS) != 0u) b = bias[p.n0 + j];
        if ((p.flags & DVK_MM_READS_Y) != 0u) yo = y[o];
        float v = dvk_mm_epilogue(acc[i][q], b, yo, p.flags, p.clamp_c);
        y[o] = v;
        DVK_MM_STORE_KV(m, p.n0 + j, v)
      }
    }
  }
}
