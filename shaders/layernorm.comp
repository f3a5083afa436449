#version 450
// LayerNorm over the last dim: y[r, c] = (x[r, c] - mean_r) / sqrt(var_r + eps) * w[c] + b[c], or y[r, c] += that
// (p.accumulate). x, y: f32 [rows, d] row-major (y may alias x unless accumulating); w, b: f32 [d]. One workgroup
// per row.
// Variance in two passes (mean first, then the mean of squared deviations), fp32 accumulation.
// Variants: layernorm reduces through shared memory (WG = 128, any device); layernorm_sg is for devices
// whose whole workgroup is one subgroup (WG = subgroup size, spec constant 0): it reduces with
// subgroupAdd and needs no barrier, which matters on lavapipe, where barriers are very costly.
// variants: wg sg=SUBGROUP_REDUCE
#extension GL_GOOGLE_include_directive : require
#ifdef SUBGROUP_REDUCE
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "transformer_shared.h"

layout(constant_id = 0) const uint WG = 128;
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) buffer Y { float y[]; };
layout(push_constant) uniform PC { dvk_pc_layernorm p; };

shared float red[WG];

// Sum of v over the workgroup (every invocation gets the result).
float wg_sum(float v) {
#ifdef SUBGROUP_REDUCE
  return subgroupAdd(v);
#else
  uint t = gl_LocalInvocationID.x;
  red[t] = v;
  barrier();
  for (uint s = WG / 2; s > 0; s >>= 1) {
    if (t < s) red[t] += red[t + s];
    barrier();
  }
  float r = red[0];
  barrier();
  return r;
#endif
}

void main() {
  uint row = DVK_GROUP_INDEX;
  if (row >= p.rows) return; // uniform per workgroup
  uint t = gl_LocalInvocationID.x, base = row * p.d;
  float s = 0.0;
  for (uint c = t; c < p.d; c += WG) s += x[base + c];
  float mean = wg_sum(s) / float(p.d);
  float q = 0.0;
  for (uint c = t; c < p.d; c += WG) {
    float dv = x[base + c] - mean;
    q += dv * dv;
  }
  float rstd = inversesqrt(wg_sum(q) / float(p.d) + p.eps);
  if (p.accumulate != 0u) {
    for (uint c = t; c < p.d; c += WG) y[base + c] += (x[base + c] - mean) * rstd * w[c] + bias[c];
  } else {
    for (uint c = t; c < p.d; c += WG) y[base + c] = (x[base + c] - mean) * rstd * w[c] + bias[c];
  }
}
