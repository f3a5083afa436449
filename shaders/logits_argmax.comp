#version 450
// Greedy pick: out[r] = argmax_{0 <= c < n} x[r * stride + c0 + c] (the first index of the max;
// NaN entries are skipped). x: f32 rows of `stride` floats; out: uint [rows]. One workgroup per row.
#extension GL_GOOGLE_include_directive : require
#include "transformer_shared.h"

#define WG 128
layout(local_size_x = WG) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer O { uint o[]; };
layout(push_constant) uniform PC { dvk_pc_argmax p; };

shared float best_v[WG];
shared uint best_i[WG];

void main() {
  uint row = DVK_GROUP_INDEX;
  if (row >= p.rows) return; // uniform per workgroup
  uint t = gl_LocalInvocationID.x, base = row * p.stride + p.c0;
  float bv = -3.402823466e38;
  uint bi = 0xffffffffu;
  for (uint c = t; c < p.n; c += WG) {
    float v = x[base + c];
    if (v > bv || (bi == 0xffffffffu && !isnan(v))) { bv = v; bi = c; }
  }
  best_v[t] = bv;
  best_i[t] = bi;
  barrier();
  for (uint s = WG / 2; s > 0; s >>= 1) {
    if (t < s) {
      float ov = best_v[t + s];
      uint oi = best_i[t + s];
      bool take = oi != 0xffffffffu &&
                  (best_i[t] == 0xffffffffu || ov > best_v[t] || (ov == best_v[t] && oi < best_i[t]));
      if (take) { best_v[t] = ov; best_i[t] = oi; }
    }
    barrier();
  }
  if (t == 0) o[row] = best_i[0] == 0xffffffffu ? 0u : best_i[0];
}
