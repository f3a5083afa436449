#version 450
// Row softmax in place, f32: x[r, j] = exp(x[r, j] - max_r) / sum_j' exp(x[r, j'] - max_r), j < n.
// x [rows, n] row-major. One workgroup per row.
// variants: wg sg=SUBGROUP_REDUCE
#extension GL_GOOGLE_include_directive : require
#ifdef SUBGROUP_REDUCE
#extension GL_KHR_shader_subgroup_arithmetic : require
#endif
#include "vqgan_shared.h"

layout(constant_id = 0) const uint WG = 128;
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) buffer X { float x[]; };
layout(push_constant) uniform PC { dvk_pc_softmax_rows p; };

#include "reduce.glsl"

void main() {
  uint r = DVK_GROUP_INDEX;
  if (r >= p.rows) return; // uniform per workgroup
  uint t = gl_LocalInvocationID.x, base = p.off + r * p.n;
  float m = uintBitsToFloat(0xff800000u); // -inf
  for (uint j = t; j < p.n; j += WG) m = max(m, x[base + j]);
  m = wg_max(m);
  float s = 0.0;
  for (uint j = t; j < p.n; j += WG) {
    float e = exp(x[base + j] - m);
    x[base + j] = e;
    s += e;
  }
  float inv = 1.0 / wg_sum(s);
  for (uint j = t; j < p.n; j += WG) x[base + j] *= inv;
}
