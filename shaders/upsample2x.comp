#version 450
// 2x nearest-neighbour upsampling (PyTorch nn.Upsample(scale_factor=2, mode='nearest')), per plane:
// y[pl, i, j] = x[pl, i / 2, j / 2] with y [n_planes, oh = 2 ih, ow = 2 iw], x [n_planes, ih, iw], f32.
// One invocation per input element writes its 2x2 output block.
#extension GL_GOOGLE_include_directive : require
#include "conv_shared.h"

layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(push_constant) uniform PC { dvk_pc_plane2x p; };

void main() {
  uint i = DVK_GROUP_INDEX * 256u + gl_LocalInvocationID.x;
  uint in_plane = p.ih * p.iw;
  if (i >= p.n_planes * in_plane) return;
  uint pl = i / in_plane, rem = i % in_plane;
  uint r = rem / p.iw, c = rem % p.iw;
  float v = x[p.x_off + i];
  uint o = p.y_off + pl * p.oh * p.ow + 2u * r * p.ow + 2u * c;
  y[o] = v;
  y[o + 1u] = v;
  y[o + p.ow] = v;
  y[o + p.ow + 1u] = v;
}
