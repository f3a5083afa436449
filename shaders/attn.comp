#version 450
// Masked multi-head attention of new queries against a KV cache, for DALL-E's text + image sequence.
// One workgroup per (sequence b, head hh, query qi); the query sits at position pos = p0 + qi:
//   out[b, qi, hh*D + x] = sum_k softmax_k(scale * q . K[b, hh, k]) V[b, hh, k, x]
// over the keys k the mask allows, enumerated arithmetically (no mask tensor, masked keys never read):
//   pos < I0 = p.image0 (text, and the start-of-image token when there is one): keys 0..pos (causal);
//   image query i = pos - I0: keys 0..I0-1, then image keys j <= i at I0+j:
//     full: all j <= i;  row: i - j <= G;  col: (i - j) % G == 0;
//     conv (k = 2h+1): j == i, or j < i with (r_j, c_j) in the k x k window around (r_i, c_i),
//       r = idx / G, c = idx % G; distance per axis |d| (clamp) or min(|d|, G - |d|) (wrap).
//   keys (encoder, cross-attention): keys 0..n_keys-1 whatever the position.
// One softmax over all allowed keys: every invocation runs an online softmax (running max m, sum l,
// accumulator acc; Milakov & Gimelshein 2018) over its share of the keys, and the workgroup merges
// the partial results through shared memory (2 barriers; no subgroup ops, any subgroup size).
// qkv: f32 [batch, nq, 3d] (q | k | v, head hh at columns hh*D.. of each third); out: f32 [batch, nq, d];
// cache_k, cache_v: f32 [batch, n_heads, s_max, D]. D = d_head (spec constant 1), a multiple of 4.
// Each operand starts q_off / o_off / k_off / v_off vec4s into its binding; with kv_shared every query
// sequence reads cache sequence 0 (a keys mask: the host binds the one cache sequence they share).
// fp32 throughout.
// The cache is read as storage buffers. For GPUs, and CPUs without subgroup arithmetic; other CPUs run
// attn_lanes.comp.
#extension GL_GOOGLE_include_directive : require
#include "transformer_shared.h"

layout(local_size_x_id = 0) in;               // WG, a power of two; WG * D <= 4096
layout(constant_id = 1) const uint D = 64;    // d_head
const uint D4 = D / 4;

layout(std430, binding = 0) readonly buffer QKV { vec4 qkv[]; };
layout(std430, binding = 1) readonly buffer CK { vec4 ck[]; };
layout(std430, binding = 2) readonly buffer CV { vec4 cv[]; };
layout(std430, binding = 3) writeonly buffer Out { vec4 o[]; };
layout(push_constant) uniform PC { dvk_pc_attn p; };
#include "attn_mask.h"

shared float part_m[gl_WorkGroupSize.x];
shared float part_l[gl_WorkGroupSize.x];
shared vec4 part_acc[gl_WorkGroupSize.x * D4];

const float NEG_BIG = -3.402823466e38 * 0.5; // -FLT_MAX/2: never -inf, so exp() never makes NaN

void main() {
  uint g = DVK_GROUP_INDEX;
  if (g >= p.batch * p.n_heads * p.nq) return; // uniform per workgroup
  uint t = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
  uint qi = g % p.nq, hh = (g / p.nq) % p.n_heads, b = g / (p.nq * p.n_heads);
  uint d4 = p.n_heads * D4;      // d / 4
  uint pos = p.p0 + qi;

  KeyList kl = key_list(pos);

  vec4 q[D4], acc[D4];
  uint qbase = p.q_off + (b * p.nq + qi) * 3u * d4 + hh * D4;
  for (uint x = 0; x < D4; x++) {
    q[x] = qkv[qbase + x] * p.scale;
    acc[x] = vec4(0.0);
  }
  float m = NEG_BIG, l = 0.0;
  uint head = ((p.kv_shared != 0u ? 0u : b) * p.n_heads + hh) * p.s_max;
  for (uint k = t; k < kl.n_keys; k += WG) {
    uint kpos = key_pos(kl, k);
    uint kb = (head + kpos) * D4, kk = p.k_off + kb, kv = p.v_off + kb;
    vec4 s4 = vec4(0.0);
    for (uint x = 0; x < D4; x++) s4 += q[x] * ck[kk + x];
    float s = s4.x + s4.y + s4.z + s4.w;
    if (s > m) { // new running max: rescale what was accumulated so far
      float f = exp(m - s);
      l *= f;
      for (uint x = 0; x < D4; x++) acc[x] *= f;
      m = s;
    }
    float w = exp(s - m);
    l += w;
    for (uint x = 0; x < D4; x++) acc[x] += w * cv[kv + x];
  }

  // Merge the WG partial softmaxes: global max, rescale, sum.
  part_m[t] = m;
  barrier();
  float mg = NEG_BIG;
  for (uint w = 0; w < WG; w++) mg = max(mg, part_m[w]);
  float f = exp(m - mg);
  part_l[t] = l * f;
  for (uint x = 0; x < D4; x++) part_acc[t * D4 + x] = acc[x] * f;
  barrier();
  float lsum = 0.0;
  for (uint w = 0; w < WG; w++) lsum += part_l[w];
  float inv = 1.0 / lsum;
  uint obase = p.o_off + (b * p.nq + qi) * d4 + hh * D4;
  for (uint x = t; x < D4; x += WG) {
    vec4 s = vec4(0.0);
    for (uint w = 0; w < WG; w++) s += part_acc[w * D4 + x];
    o[obase + x] = s * inv;
  }
}
