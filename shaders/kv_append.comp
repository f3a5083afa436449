#version 450
// KV-cache append: for b < batch, t < n, head hh, x < d_head (d = n_heads * d_head):
//   cache_k[b, hh, p0 + t, x] = qkv[b, t, d + hh * d_head + x]
//   cache_v[b, hh, p0 + t, x] = qkv[b, t, 2 d + hh * d_head + x]
// qkv: f32 [batch, n, 3d] (q | k | v); caches: f32 [batch, n_heads, s_max, d_head].
#extension GL_GOOGLE_include_directive : require
#include "transformer_shared.h"

layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer QKV { float qkv[]; };
layout(std430, binding = 1) writeonly buffer CK { float ck[]; };
layout(std430, binding = 2) writeonly buffer CV { float cv[]; };
layout(push_constant) uniform PC { dvk_pc_kv_append p; };

void main() {
  uint d = p.n_heads * p.d_head;
  uint e = DVK_GROUP_INDEX * 256u + gl_LocalInvocationID.x;
  if (e >= p.batch * p.n * d) return;
  uint c = e % d, tok = e / d, b = tok / p.n, t = tok % p.n;
  uint hh = c / p.d_head, x = c % p.d_head;
  uint dst = ((b * p.n_heads + hh) * p.s_max + p.p0 + t) * p.d_head + x;
  ck[dst] = qkv[tok * 3u * d + d + c];
  cv[dst] = qkv[tok * 3u * d + 2u * d + c];
}
