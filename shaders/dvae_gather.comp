#version 450
// dVAE decoder input conv on one-hot codes, as an embedding gather (the one-hot is never built):
// h[b, c, p] = wt[code[b, p], c] + bias[c], codes int32 [nb, hw], wt [vocab, n_init] (the 1x1 conv weight
// [n_init, vocab] transposed), bias [n_init], h f32 [nb, n_init, hw]. A code outside [0, vocab) gives NaN
// in all its channels, so a bad code cannot pass unnoticed.
// variants: f32 f16=WEIGHT_F16
#extension GL_GOOGLE_include_directive : require
#include "conv_shared.h"

layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer Codes { int code[]; };
#ifdef WEIGHT_F16
layout(std430, binding = 1) readonly buffer W { uint wt[]; };
#else
layout(std430, binding = 1) readonly buffer W { float wt[]; };
#endif
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) writeonly buffer H { float h[]; };
layout(push_constant) uniform PC { dvk_pc_dvae_gather p; };

void main() {
  uint i = DVK_GROUP_INDEX * 256u + gl_LocalInvocationID.x;
  if (i >= p.nb * p.n_init * p.hw) return;
  uint px = i % p.hw, bc = i / p.hw;
  uint b = bc / p.n_init, c = bc % p.n_init;
  int cd = code[b * p.hw + px];
  float v;
  if (cd < 0 || uint(cd) >= p.vocab) {
    v = uintBitsToFloat(0x7fc00000u);
  } else {
    uint e = uint(cd) * p.n_init + c;
#ifdef WEIGHT_F16
    vec2 w2 = unpackHalf2x16(wt[e >> 1]);
    v = ((e & 1u) == 0u ? w2.x : w2.y) + bias[c];
#else
    v = wt[e] + bias[c];
#endif
  }
  h[p.y_off + i] = v;
}
