#version 450
// Masked multi-head attention for CPU drivers (lavapipe / llvmpipe): the operands, masks and result of
// attn.comp (the rules are there and in attn_mask.h), laid out for a SIMD CPU. One workgroup is one
// subgroup per (sequence b, head hh, query qi); its lanes split d_head: lane l owns the vec4 slots
// x = l, l + WG, ... of the query, of the accumulator and of every key and value row. The subgroup visits
// the allowed keys one at a time: lane partial dot products are summed by subgroupAdd, so the score, the
// running max and the softmax weight are the same in every lane and the online softmax (Milakov &
// Gimelshein 2018) needs no merge, no shared memory and no barrier.
// Why (docs/performance-notes.md): attn.comp gives each lane a key and keeps 2 * d_head / 4 vec4s live per
// lane, which llvmpipe spills around every texel fetch (a call); here a lane keeps 2 * ceil(d_head / 4 / WG)
// vec4s. The cache is read through RGBA32F texel buffers. fp32 throughout.
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_samplerless_texture_functions : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
#include "transformer_shared.h"

layout(local_size_x_id = 0) in;            // WG = the subgroup size (the host checks)
layout(constant_id = 1) const uint D = 64; // d_head, a multiple of 4
const uint D4 = D / 4;
const uint NX = (D4 + gl_WorkGroupSize.x - 1u) / gl_WorkGroupSize.x; // vec4 slots per lane

layout(std430, binding = 0) readonly buffer QKV { vec4 qkv[]; };
layout(binding = 1) uniform textureBuffer ck_tex;
layout(binding = 2) uniform textureBuffer cv_tex;
layout(std430, binding = 3) writeonly buffer Out { vec4 o[]; };
layout(push_constant) uniform PC { dvk_pc_attn p; };
#include "attn_mask.h"

const float NEG_BIG = -3.402823466e38 * 0.5; // -FLT_MAX/2: never -inf, so exp() never makes NaN

void main() {
  uint g = DVK_GROUP_INDEX;
  if (g >= p.batch * p.n_heads * p.nq) return; // uniform per workgroup
  uint lane = gl_SubgroupInvocationID, WG = gl_WorkGroupSize.x;
  uint qi = g % p.nq, hh = (g / p.nq) % p.n_heads, b = g / (p.nq * p.n_heads);
  uint d4 = p.n_heads * D4; // d / 4
  KeyList kl = key_list(p.p0 + qi);

  // Slots past D4 (d_head / 4 < WG) read slot D4 - 1 with a zero query, so they add nothing to a score;
  // their accumulators are never written out.
  uint xs[NX];
  vec4 q[NX], acc[NX];
  uint qbase = p.q_off + (b * p.nq + qi) * 3u * d4 + hh * D4;
  for (uint j = 0; j < NX; j++) {
    uint x = lane + j * WG;
    xs[j] = min(x, D4 - 1u);
    vec4 v = qkv[qbase + xs[j]] * p.scale;
    q[j] = x < D4 ? v : vec4(0.0);
    acc[j] = vec4(0.0);
  }
  float m = NEG_BIG, l = 0.0;
  uint head = ((p.kv_shared != 0u ? 0u : b) * p.n_heads + hh) * p.s_max;
  for (uint k = 0; k < kl.n_keys; k++) {
    uint kb = (head + key_pos(kl, k)) * D4;
    float part = 0.0;
    for (uint j = 0; j < NX; j++) part += dot(q[j], texelFetch(ck_tex, int(p.k_off + kb + xs[j])));
    float s = subgroupAdd(part);
    if (s > m) { // new running max (uniform): rescale what was accumulated so far
      float f = exp(m - s);
      l *= f;
      for (uint j = 0; j < NX; j++) acc[j] *= f;
      m = s;
    }
    float w = exp(s - m);
    l += w;
    for (uint j = 0; j < NX; j++) acc[j] += w * texelFetch(cv_tex, int(p.v_off + kb + xs[j]));
  }

  float inv = 1.0 / l;
  uint obase = p.o_off + (b * p.nq + qi) * d4 + hh * D4;
  for (uint j = 0; j < NX; j++)
    if (lane + j * WG < D4) o[obase + lane + j * WG] = acc[j] * inv;
}
