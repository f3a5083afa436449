#version 450
// ReLU: y[i] = max(x[i], 0) for i < n (f32). y may alias x exactly (same window and offsets).
#extension GL_GOOGLE_include_directive : require
#include "conv_shared.h"

layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform PC { dvk_pc_relu p; };

void main() {
  uint i = DVK_GROUP_INDEX * 256u + gl_LocalInvocationID.x;
  if (i < p.n) y[p.y_off + i] = max(x[p.x_off + i], 0.0);
}
