#version 450
// Matrix-vector product for GPUs (M <= 8 rows of X, the decode case): one workgroup per W row j
// computes Y[m, n0+j] (+)= epi(X[m,:] . W[j,:] + b[n0+j]) for every m < M. Its 128 invocations stride
// the row in 16-byte loads (4 floats, 8 halves or 16 int8 of one q8_0 block; W rows are zero-padded to
// kw, a multiple of 8, q8_0 rows hold whole blocks) and
// the partial sums are reduced through shared memory, so no subgroup width is assumed.
// variants: f32 f16=WEIGHT_F16 q8_0=WEIGHT_Q8_0
#extension GL_GOOGLE_include_directive : require
#include "matmul_shared.h"

#define WG 128u
#define MR 8u // most rows of X per dispatch
layout(local_size_x = 128) in;

layout(std430, binding = 0) readonly buffer Xb { float x[]; };
#ifdef WEIGHT_F16
layout(std430, binding = 1) readonly buffer Wb { uvec4 w[]; };
#define STEP 8u
#elif defined(WEIGHT_Q8_0)
layout(std430, binding = 1) readonly buffer Wb { uint w[]; }; // shaders/q8_shared.h rows, kw words each
#define STEP 16u
#else
layout(std430, binding = 1) readonly buffer Wb { vec4 w[]; };
#define STEP 4u
#endif
layout(std430, binding = 2) readonly buffer Bb { float bias[]; };
layout(std430, binding = 3) buffer Yb { float y[]; };
layout(std430, binding = 4) writeonly buffer CKb { float ck[]; }; // DVK_MM_KV: the KV cache (else unused)
layout(std430, binding = 5) writeonly buffer CVb { float cv[]; };
layout(push_constant) uniform PC { dvk_pc_matmul p; };

shared float red[MR][WG];

void main() {
  uint j = DVK_GROUP_INDEX;
  if (j >= p.n) return; // uniform per workgroup
  uint tid = gl_LocalInvocationID.x;
  float acc[MR];
  for (uint r = 0; r < MR; r++) acc[r] = 0.0;
  uint row_texels = p.kw / STEP; // (unused by q8_0, whose kw counts words)
  for (uint t = tid; t * STEP < p.k; t += WG) {
    uint k = t * STEP;
    float wv[STEP];
#ifdef WEIGHT_F16
    uvec4 q = w[j * row_texels + t];
    vec2 h0 = unpackHalf2x16(q.x), h1 = unpackHalf2x16(q.y), h2 = unpackHalf2x16(q.z), h3 = unpackHalf2x16(q.w);
    wv[0] = h0.x; wv[1] = h0.y; wv[2] = h1.x; wv[3] = h1.y;
    wv[4] = h2.x; wv[5] = h2.y; wv[6] = h3.x; wv[7] = h3.y;
#elif defined(WEIGHT_Q8_0)
    uint qw = j * p.kw + t * 4u;
    uvec4 q = uvec4(w[qw], w[qw + 1u], w[qw + 2u], w[qw + 3u]);
    float d = DVK_Q8_D(w, j * p.kw, p.k, k);
    vec4 v0 = DVK_Q8_WORD(q.x, d), v1 = DVK_Q8_WORD(q.y, d), v2 = DVK_Q8_WORD(q.z, d), v3 = DVK_Q8_WORD(q.w, d);
    for (uint i = 0; i < 4u; i++) wv[i] = v0[i], wv[4u + i] = v1[i], wv[8u + i] = v2[i], wv[12u + i] = v3[i];
#else
    vec4 q = w[j * row_texels + t];
    wv[0] = q.x; wv[1] = q.y; wv[2] = q.z; wv[3] = q.w;
#endif
    for (uint r = 0; r < MR; r++) {
      if (r >= p.m) break;
      for (uint i = 0; i < STEP; i++)
        if (k + i < p.k) acc[r] += x[p.x0 + r * p.ldx + k + i] * wv[i];
    }
  }
  for (uint r = 0; r < MR; r++) red[r][tid] = acc[r];
  barrier();
  for (uint s = WG / 2u; s > 0u; s >>= 1) {
    if (tid < s)
      for (uint r = 0; r < MR; r++) red[r][tid] += red[r][tid + s];
    barrier();
  }
  if (tid < p.m) {
    uint o = p.y0 + tid * p.ldy + p.n0 + j;
    float b = 0.0, yo = 0.0;
    if ((p.flags & DVK_MM_BIAS) != 0u) b = bias[p.n0 + j];
    if ((p.flags & DVK_MM_READS_Y) != 0u) yo = y[o];
    float v = dvk_mm_epilogue(red[tid][0], b, yo, p.flags, p.clamp_c);
    y[o] = v;
    DVK_MM_STORE_KV(tid, p.n0 + j, v)
  }
}
