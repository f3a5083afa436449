#version 450
// KV-cache broadcast: copies the first n positions of sequence 0 to destination sequences:
//   dst_k[b, hh, s, x] = src_k[0, hh, s, x], same for v;  first <= b < batch, hh < n_heads, s < n, x < d_head
// (b counts from the start of the bound destination range, which may hold the source too: first = 1).
// src_*: f32 [1, n_heads, s_max, d_head] (sequence 0); dst_*: f32 [batch, n_heads, s_max, d_head].
#extension GL_GOOGLE_include_directive : require
#include "transformer_shared.h"

layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer SK { float sk[]; };
layout(std430, binding = 1) writeonly buffer DK { float dk[]; };
layout(std430, binding = 2) readonly buffer SV { float sv[]; };
layout(std430, binding = 3) writeonly buffer DV { float dv[]; };
layout(push_constant) uniform PC { dvk_pc_kv_broadcast p; };

void main() {
  uint e = DVK_GROUP_INDEX * 256u + gl_LocalInvocationID.x;
  uint per_seq = p.n_heads * p.n * p.d_head;
  if (e >= (p.batch - p.first) * per_seq) return;
  uint b = p.first + e / per_seq, r = e % per_seq;
  uint x = r % p.d_head, s = (r / p.d_head) % p.n, hh = r / (p.d_head * p.n);
  uint src = (hh * p.s_max + s) * p.d_head + x;
  uint dst = ((b * p.n_heads + hh) * p.s_max + s) * p.d_head + x;
  dk[dst] = sk[src];
  dv[dst] = sv[src];
}
