#version 450
// 2x subsampling at odd pixels, per plane: y[pl, i, j] = x[pl, 2i + 1, 2j + 1], y [n_planes, oh, ow],
// x [n_planes, ih, iw], f32. After a stride-1 3x3 "same" conv, this gives the stride-2 3x3 conv of an input
// zero-padded by one at the right and bottom (the VQGAN encoder's downsampling), for even ih, iw.
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
  y[p.y_off + i] = x[p.x_off + pl * p.ih * p.iw + (2u * r + 1u) * p.iw + 2u * c + 1u];
}
