#version 450
// GroupNorm (torch.nn.GroupNorm) on NCHW f32 images, optionally followed by swish (x * sigmoid(x)):
// for each image and group g of cpg channels, mean and biased variance over its cpg * hw values (two
// passes, f32), y[c, p] = (x[c, p] - mean) / sqrt(var + eps) * w[c] + b[c], then swish when p.swish.
// x, y [n_images, groups * cpg, hw] (y may alias x); w, b f32 [groups * cpg]. One workgroup per group.
// variants: wg sg=SUBGROUP_REDUCE
#extension GL_GOOGLE_include_directive : require
#ifdef SUBGROUP_REDUCE
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "vqgan_shared.h"

layout(constant_id = 0) const uint WG = 128;
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer W { float w[]; };
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) buffer Y { float y[]; };
layout(push_constant) uniform PC { dvk_pc_groupnorm p; };

#include "reduce.glsl"

void main() {
  uint gi = DVK_GROUP_INDEX;
  if (gi >= p.n_groups) return; // uniform per workgroup
  uint t = gl_LocalInvocationID.x, n = p.cpg * p.hw, base = gi * n;
  uint c0 = (gi % p.groups) * p.cpg;
  float s = 0.0;
  for (uint e = t; e < n; e += WG) s += x[p.x_off + base + e];
  float mean = wg_sum(s) / float(n);
  float q = 0.0;
  for (uint e = t; e < n; e += WG) {
    float d = x[p.x_off + base + e] - mean;
    q += d * d;
  }
  float rstd = inversesqrt(wg_sum(q) / float(n) + p.eps);
  for (uint e = t; e < n; e += WG) {
    uint c = c0 + e / p.hw;
    float v = (x[p.x_off + base + e] - mean) * rstd * w[c] + bias[c];
    if (p.swish != 0u) v = v / (1.0 + exp(-v));
    y[p.y_off + base + e] = v;
  }
}
