#version 450
// dVAE output map (OpenAI dall_e utils.unmap_pixels(sigmoid(x_stats[:, :3]))): for the decoder output
// x [nb, 6, hw] f32 (channels 0..2 = logit-Laplace means of R, G, B; 3..5 unused),
// v = clamp((sigmoid(x[b, c, p]) - 0.1) / 0.8, 0, 1) for c < 3, written
//   PLANAR: y [nb, 3, hw] f32;
//   RGB8:   y [nb, hw, 3] bytes (interleaved, for PNG), byte = floor(v * 255 + 0.5), four bytes per
//           32-bit word (little-endian: byte j of the output in word j / 4, bits 8 * (j % 4)); bytes past
//           the end in the last word are written as 0.
// LINEAR variants (the VQGAN output map): v = clamp((x[b, c, p] - lo) / range, 0, 1) for c < 3 of
// x [nb, channels, hw].
// variants: planar=PLANAR rgb8=RGB8 linear_planar=PLANAR,LINEAR linear_rgb8=RGB8,LINEAR
#extension GL_GOOGLE_include_directive : require
#include "conv_shared.h"

layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
#ifdef PLANAR
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
#else
layout(std430, binding = 1) writeonly buffer Y { uint y[]; };
#endif
layout(push_constant) uniform PC { dvk_pc_dvae_map p; };

float unmap(uint b, uint c, uint px) {
#ifdef LINEAR
  return clamp((x[p.x_off + (b * p.channels + c) * p.hw + px] - p.lo) / p.range, 0.0, 1.0);
#endif
  float v = x[p.x_off + (b * 6u + c) * p.hw + px];
  float s = 1.0 / (1.0 + exp(-v));
  return clamp((s - 0.1) / 0.8, 0.0, 1.0);
}

void main() {
  uint i = DVK_GROUP_INDEX * 256u + gl_LocalInvocationID.x;
#ifdef PLANAR
  if (i >= p.nb * 3u * p.hw) return;
  uint px = i % p.hw, bc = i / p.hw;
  y[p.y_off + i] = unmap(bc / 3u, bc % 3u, px);
#else
  uint total = p.nb * p.hw * 3u;
  if (i >= (total + 3u) / 4u) return;
  uint word = 0u;
  for (uint k = 0u; k < 4u; k++) {
    uint j = 4u * i + k;
    if (j >= total) break;
    uint gp = j / 3u;
    float v = unmap(gp / p.hw, j % 3u, gp % p.hw);
    word |= uint(floor(v * 255.0 + 0.5)) << (8u * k);
  }
  y[p.y_off + i] = word;
#endif
}
