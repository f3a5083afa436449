#version 450
// Broadcast one row vector into every sequence: out[b, row, c] = vec[src_off + c], b < batch, c < d
// (the start-of-image embedding). out: f32 [batch, out_rows, d]; vec: f32, or f16 read packed, or a q8_0 row
// (shaders/q8_shared.h) starting at word src_off.
// variants: f32 f16=TABLE_F16 q8_0=TABLE_Q8_0
#extension GL_GOOGLE_include_directive : require
#include "transformer_shared.h"

layout(local_size_x = 256) in;
#ifdef TABLE_F16
layout(std430, binding = 0) readonly buffer Vec { uint vec[]; };
#define LOAD(k) unpackHalf2x16(vec[(k) >> 1])[(k) & 1u]
#elif defined(TABLE_Q8_0)
#include "q8_shared.h"
layout(std430, binding = 0) readonly buffer Vec { uint vec[]; };
#define LOAD(k) DVK_Q8_AT(vec, p.src_off, p.d, (k) - p.src_off)
#else
layout(std430, binding = 0) readonly buffer Vec { float vec[]; };
#define LOAD(k) vec[k]
#endif
layout(std430, binding = 1) writeonly buffer Out { float o[]; };
layout(push_constant) uniform PC { dvk_pc_embed_row p; };

void main() {
  uint e = DVK_GROUP_INDEX * 256u + gl_LocalInvocationID.x;
  if (e >= p.batch * p.d) return;
  uint c = e % p.d, b = e / p.d;
  o[(b * p.out_rows + p.row) * p.d + c] = LOAD(p.src_off + c);
}
