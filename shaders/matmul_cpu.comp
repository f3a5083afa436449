#version 450
// Matmul for CPU Vulkan drivers (lavapipe / llvmpipe): Y[m, n0+j] (+)= epi(X[m,:] . W[j,:] + b[n0+j]).
// Shaped for llvmpipe, where an invocation is one SIMD lane and every buffer load whose address is
// not a push-constant expression is a per-lane scalar load with its own bounds check. So:
// - no shared memory and no barriers;
// - a workgroup is exactly one subgroup (WG = the subgroup size, >= 8). It owns R rows of X and WG*C
//   columns; each lane keeps an R x C register tile of fp32 accumulators;
// - X is read once per workgroup, not once per lane, through a texel buffer too (a storage-buffer
//   load costs ~10 instructions and 2 branches per lane, a texelFetch is one call for all lanes):
//   per K step of 8, lane l fetches 4 floats of X (RGBA32F view: rows m_r, r = 4 q + l / 2, elements
//   k + 4 (l % 2) .. + 3), one fetch covering 4 rows; the values reach every lane by subgroupShuffle
//   with a constant lane (an extract + broadcast on llvmpipe). This needs k, ldx and X's start to be
//   multiples of 4 floats; the X_SCALAR variants (R32F view, lane l fetches X[m_r, k + l % 8], one
//   fetch per row) take any layout. With one row and KU = 2 (X_PAIR), one fetch serves both K steps;
// - each lane streams its C rows of W through a texel buffer (4 floats or 8 halves per texelFetch),
//   which llvmpipe fetches faster than storage-buffer elements. W rows are zero-padded to kw (a
//   multiple of 16) elements, so a K step (or two, KU = 2) never reads past a row.
// Every texelFetch is a call into the driver's sampling code (the caller spills its live vectors),
// so the tile sizes trade register pressure against fetches per FMA: see docs/benchmarks.md.
// variants: f32 f16=WEIGHT_F16 q8_0=WEIGHT_Q8_0 f32_x1=X_SCALAR f16_x1=WEIGHT_F16,X_SCALAR q8_0_x1=WEIGHT_Q8_0,X_SCALAR
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_samplerless_texture_functions : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#include "matmul_shared.h"

layout(local_size_x_id = 0) in;           // = the subgroup size (the host checks)
layout(constant_id = 1) const uint R = 8; // rows of X per workgroup
layout(constant_id = 2) const uint C = 2; // W rows (output columns) per lane
layout(constant_id = 3) const uint KU = 1; // K steps of 8 per loop iteration (W rows are padded to 8 * KU)
const bool X_PAIR = R == 1u && KU == 2u;

layout(binding = 0) uniform textureBuffer x;   // R32F (X_SCALAR) or RGBA32F view of X; float p.x0 is X[0, 0]
#ifdef WEIGHT_F16
layout(binding = 1) uniform utextureBuffer w; // RGBA32UI: one texel = 8 halves
#define TEXELS_PER_ROW(kw) ((kw) / 8u)
#elif defined(WEIGHT_Q8_0)
layout(binding = 1) uniform utextureBuffer w; // RGBA32UI: one texel = 16 int8 or 8 f16 scales (shaders/q8_shared.h)
#define TEXELS_PER_ROW(kw) ((kw) / 4u)        // kw in words
#else
layout(binding = 1) uniform textureBuffer w;  // RGBA32F: one texel = 4 floats
#define TEXELS_PER_ROW(kw) ((kw) / 4u)
#endif
layout(std430, binding = 2) readonly buffer Bb { float bias[]; };
layout(std430, binding = 3) buffer Yb { float y[]; };
layout(std430, binding = 4) writeonly buffer CKb { float ck[]; }; // DVK_MM_KV: the KV cache (else unused)
layout(std430, binding = 5) writeonly buffer CVb { float cv[]; };
layout(push_constant) uniform PC { dvk_pc_matmul p; };

// acc[r][:] += X[m_r, k + I] * W[:, k + I] (the lane index of XVAL is a constant once unrolled).
#define STEP1(I, WV, COMP)                   \
  {                                          \
    float xi = XVAL(r, I);                   \
    for (uint c = 0; c < C; c++) acc[r * C + c] += xi * WV[c].COMP; \
  }

void main() {
  uint g = DVK_GROUP_INDEX;
  if (g >= p.n_groups) return;
  const uint lane = gl_SubgroupInvocationID, kl = lane % 8u;
  uint m_base = (g % p.m_tiles) * R;
  uint n_base = (g / p.m_tiles) * gl_WorkGroupSize.x * C + gl_LocalInvocationID.x;
  int wrow[C];  // texel index of the start of each of this lane's W rows
  uint xrow[R]; // element index of the start of each of this workgroup's X rows (X_SCALAR)
  uint xrow4[(R + 3u) / 4u]; // texel index of the row this lane fetches per group of 4 rows
  float acc[R * C];
  for (uint c = 0; c < C; c++) wrow[c] = int(min(n_base + c * gl_WorkGroupSize.x, p.n - 1u) * TEXELS_PER_ROW(p.kw));
  for (uint r = 0; r < R; r++) xrow[r] = p.x0 + min(m_base + r, p.m - 1u) * p.ldx;
  for (uint q = 0; q < (R + 3u) / 4u; q++)
    xrow4[q] = (p.x0 + min(m_base + 4u * q + (X_PAIR ? 0u : kl / 2u), p.m - 1u) * p.ldx) / 4u;
  for (uint i = 0; i < R * C; i++) acc[i] = 0.0;

  for (uint k0 = 0; k0 < p.k; k0 += 8u * KU) {
#ifndef X_SCALAR
    // X_PAIR (one row, two K steps per iteration): one fetch covers both steps, lane l holding
    // elements k0 + 4 (l % 4) .. + 3 of the row, instead of a fetch per step with 6 idle lanes
    vec4 xp = vec4(0.0);
    if (X_PAIR) {
      uint kt = k0 / 4u + (kl & 3u);
      vec4 v = texelFetch(x, int(xrow4[0] + min(kt, p.k / 4u - 1u)));
      xp = kt * 4u < p.k ? v : vec4(0.0);
    }
#endif
   for (uint ku = 0; ku < KU; ku++) {
    uint k = k0 + 8u * ku;
#ifdef X_SCALAR
    // this lane's share of X: element k + kl of each row (0 past the end of the row)
    float xl[R];
    uint kk = k + kl;
    for (uint r = 0; r < R; r++) {
      float v = texelFetch(x, int(xrow[r] + min(kk, p.k - 1u))).x;
      xl[r] = kk < p.k ? v : 0.0;
    }
#define XVAL(r, i) subgroupShuffle(xl[r], i)
#else
    // this lane's share of X: 4 elements of one row per group of 4 rows (0 past the end of the row)
    vec4 xv[(R + 3u) / 4u];
    uint kt = k / 4u + (kl & 1u); // texel within the row; k is a multiple of 8 and p.k of 4
    if (!X_PAIR) {
      for (uint q = 0; q < (R + 3u) / 4u; q++) {
        vec4 v = texelFetch(x, int(xrow4[q] + min(kt, p.k / 4u - 1u)));
        xv[q] = kt * 4u < p.k ? v : vec4(0.0);
      }
    }
#define XVAL(r, i) (X_PAIR ? subgroupShuffle(xp[(i) % 4u], ku * 2u + (i) / 4u) \
                           : subgroupShuffle(xv[(r) / 4u][(i) % 4u], ((r) % 4u) * 2u + (i) / 4u))
#endif
    // 8 elements of each of this lane's W rows
    vec4 wa[C], wb[C];
    for (uint c = 0; c < C; c++) {
#ifdef WEIGHT_F16
      uvec4 t = texelFetch(w, wrow[c] + int(k / 8u));
      wa[c] = vec4(unpackHalf2x16(t.x), unpackHalf2x16(t.y));
      wb[c] = vec4(unpackHalf2x16(t.z), unpackHalf2x16(t.w));
#elif defined(WEIGHT_Q8_0)
      uvec4 t = texelFetch(w, wrow[c] + int(k / 16u));
      uint sw = p.k / 4u + k / 64u; // the word of this block's scale within the row
      float d = unpackHalf2x16(texelFetch(w, wrow[c] + int(sw / 4u))[sw % 4u])[(k / 32u) & 1u];
      bool hi = (k & 8u) != 0u;
      wa[c] = DVK_Q8_WORD(hi ? t.z : t.x, d);
      wb[c] = DVK_Q8_WORD(hi ? t.w : t.y, d);
#else
      wa[c] = texelFetch(w, wrow[c] + int(k / 4u));
      wb[c] = texelFetch(w, wrow[c] + int(k / 4u) + 1);
#endif
    }
    for (uint r = 0; r < R; r++) {
      STEP1(0, wa, x); STEP1(1, wa, y); STEP1(2, wa, z); STEP1(3, wa, w);
      STEP1(4, wb, x); STEP1(5, wb, y); STEP1(6, wb, z); STEP1(7, wb, w);
    }
     }
  }

  for (uint r = 0; r < R; r++) {
    uint m = m_base + r;
    for (uint c = 0; c < C; c++) {
      uint j = n_base + c * gl_WorkGroupSize.x;
      if (m < p.m && j < p.n) {
        uint o = p.y0 + m * p.ldy + p.n0 + j;
        float b = 0.0, yo = 0.0;
        if ((p.flags & DVK_MM_BIAS) != 0u) b = bias[p.n0 + j];
        if ((p.flags & DVK_MM_READS_Y) != 0u) yo = y[o];
        float v = dvk_mm_epilogue(acc[r * C + c], b, yo, p.flags, p.clamp_c);
        y[o] = v;
        DVK_MM_STORE_KV(m, p.n0 + j, v)
      }
    }
  }
}
