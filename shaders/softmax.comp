#version 450
// Row softmax: y[r, c] = exp(s x[r, c] - m) / sum_c' exp(s x[r, c'] - m), m = max_c s x[r, c], s = scale.
// x, y: f32 [rows, n] row-major (y may alias x). One workgroup per row; fp32 sums.
#extension GL_GOOGLE_include_directive : require
#include "transformer_shared.h"

#define WG 128
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) buffer Y { float y[]; };
layout(push_constant) uniform PC { dvk_pc_softmax p; };

shared float red[WG];

float wg_reduce(float v, bool is_max) {
  uint t = gl_LocalInvocationID.x;
  red[t] = v;
  barrier();
  for (uint s = WG / 2; s > 0; s >>= 1) {
    if (t < s) red[t] = is_max ? max(red[t], red[t + s]) : red[t] + red[t + s];
    barrier();
  }
  float r = red[0];
  barrier();
  return r;
}

void main() {
  uint row = DVK_GROUP_INDEX;
  if (row >= p.rows) return; // uniform per workgroup
  uint t = gl_LocalInvocationID.x, base = row * p.n;
  float m = -3.402823466e38 * 0.5; // -FLT_MAX/2: never -inf
  for (uint c = t; c < p.n; c += WG) m = max(m, p.scale * x[base + c]);
  m = wg_reduce(m, true);
  float s = 0.0;
  for (uint c = t; c < p.n; c += WG) s += exp(p.scale * x[base + c] - m);
  float inv = 1.0 / wg_reduce(s, false);
  for (uint c = t; c < p.n; c += WG) y[base + c] = exp(p.scale * x[base + c] - m) * inv;
}
