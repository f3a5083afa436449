#version 450
// Embedding gather + position add, for the table rows bound by this dispatch (a chunk [v0, v0+v_count)
// of a table that may exceed maxStorageBufferRange; the host dispatches once per chunk):
//   out[b, out_row0 + t, c] = table[id - v0, c] + pos(p0 + t, c),  id = ids[b, t], v0 <= id < v0+v_count
// pos: none; text: pos_a[p, c]; image: pos_a[p / grid, c] + pos_b[p % grid, c] (row + column embedding).
// An id outside [0, vocab) embeds as a zero row (out = positions only), written by the `first` dispatch.
// ids: int32 [batch, n]; out: f32 [batch, out_rows, d]; tables row-major [rows, d], f32, or f16 read packed
// (two halves per uint, low half first) in the f16 variant, or q8_0 rows (shaders/q8_shared.h, d a multiple
// of 32) in the q8_0 variant; the variant applies to table, pos_a and pos_b.
// variants: f32 f16=TABLE_F16 q8_0=TABLE_Q8_0
#extension GL_GOOGLE_include_directive : require
#include "transformer_shared.h"

layout(local_size_x = 256) in;
#ifdef TABLE_F16
layout(std430, binding = 0) readonly buffer Tab { uint tab[]; };
layout(std430, binding = 2) readonly buffer PosA { uint pos_a[]; };
layout(std430, binding = 3) readonly buffer PosB { uint pos_b[]; };
#define LOAD(buf, row, c) unpackHalf2x16(buf[((row) * p.d + (c)) >> 1])[((row) * p.d + (c)) & 1u]
#elif defined(TABLE_Q8_0)
#include "q8_shared.h"
layout(std430, binding = 0) readonly buffer Tab { uint tab[]; };
layout(std430, binding = 2) readonly buffer PosA { uint pos_a[]; };
layout(std430, binding = 3) readonly buffer PosB { uint pos_b[]; };
#define LOAD(buf, row, c) DVK_Q8_AT(buf, (row) * DVK_Q8_ROW_WORDS(p.d), p.d, c)
#else
layout(std430, binding = 0) readonly buffer Tab { float tab[]; };
layout(std430, binding = 2) readonly buffer PosA { float pos_a[]; };
layout(std430, binding = 3) readonly buffer PosB { float pos_b[]; };
#define LOAD(buf, row, c) buf[(row) * p.d + (c)]
#endif
layout(std430, binding = 1) readonly buffer Ids { int ids[]; };
layout(std430, binding = 4) writeonly buffer Out { float o[]; };
layout(push_constant) uniform PC { dvk_pc_embed p; };

void main() {
  uint e = DVK_GROUP_INDEX * 256u + gl_LocalInvocationID.x;
  uint total = p.batch * p.n * p.d;
  if (e >= total) return;
  uint c = e % p.d, tok = e / p.d, b = tok / p.n, t = tok % p.n;
  int id = ids[tok];
  float v;
  if (id >= int(p.v0) && id < int(p.v0 + p.v_count)) {
    v = LOAD(tab, uint(id - int(p.v0)), c);
  } else if (p.first != 0u && (id < 0 || id >= int(p.vocab))) {
    v = 0.0;
  } else {
    return; // another chunk's dispatch writes this element
  }
  uint pos = p.p0 + t;
  if (p.pos_mode == DVK_EMBED_POS_TEXT) {
    if (pos < p.pos_rows) v += LOAD(pos_a, pos, c);
  } else if (p.pos_mode == DVK_EMBED_POS_IMAGE) {
    uint r = pos / p.grid, col = pos % p.grid;
    if (r < p.pos_rows) v += LOAD(pos_a, r, c) + LOAD(pos_b, col, c);
  }
  o[(b * p.out_rows + p.out_row0 + t) * p.d + c] = v;
}
