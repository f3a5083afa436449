#version 450
// Residual add: y[i] = a[i] + b[i] for i < n (f32). y may alias a.
#extension GL_GOOGLE_include_directive : require
#include "dvk_shared.h"

layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer A { float a[]; };
layout(std430, binding = 1) readonly buffer B { float b[]; };
layout(std430, binding = 2) writeonly buffer Y { float y[]; };
layout(push_constant) uniform PC { dvk_pc_add p; };

void main() {
  uint i = DVK_GROUP_INDEX * 256u + gl_LocalInvocationID.x;
  if (i < p.n) y[i] = a[i] + b[i];
}
