#version 450
// Matmul of activations with arbitrary element strides (no weight layout, no transposes in memory):
// c[i, j] = alpha * sum_k a(i, k) * b(k, j), a(i, k) = a[a_off + i * a_si + k * a_sk],
// b(k, j) = b[b_off + k * b_sk + j * b_sn], c[i, j] at c[c_off + i * ldc + j]; f32, fp32 accumulation.
// Each invocation computes a 4 x 4 tile of c in registers (no shared memory, no barriers).
#extension GL_GOOGLE_include_directive : require
#include "vqgan_shared.h"

layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer C { float c[]; };
layout(push_constant) uniform PC { dvk_pc_gemm_strided p; };

void main() {
  uint tile = DVK_GROUP_INDEX * 64u + gl_LocalInvocationID.x;
  uint tiles_m = (p.m + 3u) / 4u;
  if (tile >= tiles_m * p.tiles_n) return;
  uint i0 = (tile / p.tiles_n) * 4u, j0 = (tile % p.tiles_n) * 4u;
  uint ai[4], bj[4]; // clamped rows / columns: out-of-range lanes compute duplicates, never written
  for (uint u = 0u; u < 4u; u++) {
    ai[u] = p.a_off + min(i0 + u, p.m - 1u) * p.a_si;
    bj[u] = p.b_off + min(j0 + u, p.n - 1u) * p.b_sn;
  }
  float acc[16];
  for (uint u = 0u; u < 16u; u++) acc[u] = 0.0;
  for (uint k = 0u; k < p.k; k++) {
    uint ak = k * p.a_sk, bk = k * p.b_sk;
    vec4 av = vec4(a[ai[0] + ak], a[ai[1] + ak], a[ai[2] + ak], a[ai[3] + ak]);
    vec4 bv = vec4(b[bj[0] + bk], b[bj[1] + bk], b[bj[2] + bk], b[bj[3] + bk]);
    for (uint u = 0u; u < 4u; u++)
      for (uint v = 0u; v < 4u; v++) acc[u * 4u + v] += av[u] * bv[v];
  }
  for (uint u = 0u; u < 4u; u++) {
    if (i0 + u >= p.m) break;
    for (uint v = 0u; v < 4u; v++)
      if (j0 + v < p.n) c[p.c_off + (i0 + u) * p.ldc + j0 + v] = p.alpha * acc[u * 4u + v];
  }
}
