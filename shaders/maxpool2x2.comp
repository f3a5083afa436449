#version 450
// 2x2 max-pool, stride 2 (PyTorch nn.MaxPool2d(kernel_size=2), floor mode), per plane:
// y[pl, i, j] = max over x[pl, 2i..2i+1, 2j..2j+1]; y [n_planes, oh = ih / 2, ow = iw / 2], x [n_planes, ih, iw], f32.
#extension GL_GOOGLE_include_directive : require
#include "conv_shared.h"

layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform PC { dvk_pc_plane2x p; };

void main() {
  uint i = DVK_GROUP_INDEX * 256u + gl_LocalInvocationID.x;
  uint out_plane = p.oh * p.ow;
  if (i >= p.n_planes * out_plane) return;
  uint pl = i / out_plane, rem = i % out_plane;
  uint r = rem / p.ow, c = rem % p.ow;
  uint s = p.x_off + pl * p.ih * p.iw + 2u * r * p.iw + 2u * c;
  y[p.y_off + i] = max(max(x[s], x[s + 1u]), max(x[s + p.iw], x[s + p.iw + 1u]));
}
