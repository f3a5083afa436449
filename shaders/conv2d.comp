#version 450
// 2-D convolution, stride 1, "same" zero padding, odd square kernel K, NCHW f32 activations, as a direct
// implicit GEMM with a register tile: each invocation computes TP consecutive pixels of one output row
// for TC output channels; a workgroup covers WG such pixel tiles for the same TC channels, so every
// weight address is uniform across the workgroup (a cache broadcast on GPUs; on lavapipe one load for
// all lanes where no divergent control flow surrounds it, see main) and only the activation loads
// differ per invocation. For each (input channel, kernel row)
// an invocation loads the TP + K - 1 input values its row segment needs once and reuses them for the
// K kernel columns. No shared memory, no barriers (both are costly on lavapipe, docs/design.md §7).
//
// Math (PyTorch Conv2d, padding K/2): acc[co, y, x] = sum_{ci, dy, dx} w[co, ci, dy, dx] *
//   f(x[ci, y + dy - K/2, x + dx - K/2]) with f = ReLU when p.relu, else identity, zero outside the image.
// Epilogue: v = acc + (add_bias ? bias[co] : 0); y = v (mode PLAIN) or y = r + gain * v (RESIDUAL).
// r may alias y exactly: each element is read and then written by the same invocation.
//
// Weights (device layout, src/ops/conv.h): wd[((ci * K + dy) * K + dx) * coutp + co], coutp = cout rounded
// up to a multiple of 8 (the padding is zero), f32 or IEEE halves (packed two per 32-bit word).
// Accumulation is fp32 always (docs/design.md §5).
//
// Variants: `f32` / `f16` read x and the weights from storage buffers (f16: two halves per uint,
// unpackHalf2x16); `tb` reads them through uniform texel buffers (docs/design.md §7: on lavapipe a storage
// load is a per-lane scalar load with a bounds-check branch, a texel fetch is cheaper and fetches a vec4):
// x as RGBA32F (XV4, needs w % 4 == 0 and TP % 4 == 0) or R32F, the weights as RGBA32F or RGBA16F (the
// same packed halves, converted by the fetch: no 16-bit storage feature needed); TC % 4 == 0.
// variants: f32 f16=WEIGHT_F16 tb=TEXEL
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#extension GL_EXT_samplerless_texture_functions : require
#include "conv_shared.h"

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const int K = 3;     // kernel size (odd)
layout(constant_id = 2) const int TP = 4;    // pixels per invocation (along a row)
layout(constant_id = 3) const int TC = 8;    // output channels per invocation
layout(constant_id = 4) const bool XV4 = false; // TEXEL: x viewed as RGBA32F (else R32F)

#ifdef TEXEL
layout(binding = 0) uniform textureBuffer xt;
layout(binding = 1) uniform textureBuffer wt;
#else
layout(std430, binding = 0) readonly buffer X { float x[]; };
#ifdef WEIGHT_F16
layout(std430, binding = 1) readonly buffer W { uint wd[]; };
#else
layout(std430, binding = 1) readonly buffer W { float wd[]; };
#endif
#endif
layout(std430, binding = 2) readonly buffer Bias { float bias[]; };
layout(std430, binding = 3) readonly buffer R { float r[]; };
layout(std430, binding = 4) writeonly buffer Y { float y[]; };
layout(push_constant) uniform PC { dvk_pc_conv2d p; };

const int PAD = K / 2;
const int SEG = TP + K - 1;        // input columns one output row segment needs
const int PADV = (PAD + 3) / 4;    // XV4: vec4s needed left and right of the segment
const int NV = TP / 4 + 2 * PADV;  // XV4: vec4s loaded per row segment

#ifndef TEXEL
float weight(uint i) {
#ifdef WEIGHT_F16
  vec2 h = unpackHalf2x16(wd[i >> 1]);
  return (i & 1u) == 0u ? h.x : h.y;
#else
  return wd[i];
#endif
}
#endif

// ReLU as a select on a push constant: as cheap as a specialization constant here, half the pipelines.
float relu_opt(float v) { return p.relu != 0u ? max(v, 0.0) : v; }

// The SEG input values x[row, ox0 - PAD + j] (zero outside the image) of one row segment.
// xr: element index of the row start; row_in: the row is inside the image.
void load_segment(uint xr, bool row_in, int ox0, out float seg[SEG]) {
  int Wd = int(p.w);
#ifdef TEXEL
  if (XV4) {
    int w4 = Wd / 4, c4base = ox0 / 4 - PADV;
    vec4 xv[NV];
    [[unroll]] for (int j = 0; j < NV; j++) {
      int c4 = c4base + j;
      vec4 v = texelFetch(xt, int(xr / 4u) + clamp(c4, 0, w4 - 1));
      v = p.relu != 0u ? max(v, vec4(0.0)) : v;
      xv[j] = (row_in && c4 >= 0 && c4 < w4) ? v : vec4(0.0);
    }
    [[unroll]] for (int j = 0; j < SEG; j++) {
      const int e = 4 * PADV - PAD + j;
      seg[j] = xv[e / 4][e % 4];
    }
    return;
  }
#endif
  [[unroll]] for (int j = 0; j < SEG; j++) {
    int ix = ox0 + j - PAD;
#ifdef TEXEL
    float v = texelFetch(xt, int(xr) + clamp(ix, 0, Wd - 1)).x;
#else
    float v = x[xr + uint(clamp(ix, 0, Wd - 1))];
#endif
    seg[j] = (row_in && ix >= 0 && ix < Wd) ? relu_opt(v) : 0.0;
  }
}

void main() {
  uint g = min(DVK_GROUP_INDEX, p.n_groups - 1u); // surplus groups (dvk_groups_1d) redo the last one, unstored
  uint pg = g % p.n_pgroups;
  uint rest = g / p.n_pgroups;
  uint ct = rest % p.n_ctiles;
  uint b = rest / p.n_ctiles;

  uint tiles_per_row = (p.w + uint(TP) - 1u) / uint(TP);
  uint pt = pg * gl_WorkGroupSize.x + gl_LocalInvocationID.x;
  int H = int(p.h), Wd = int(p.w);
  // No early return and no divergent branch before the stores: llvmpipe loads a uniform address once
  // (scalar load + broadcast) only where all invocations are known to be active; otherwise per lane.
  bool live = pt / tiles_per_row < p.h && DVK_GROUP_INDEX < p.n_groups;
  int oy = min(int(pt / tiles_per_row), H - 1);
  int ox0 = int(pt % tiles_per_row) * TP;
  uint c0 = ct * uint(TC);                 // first output channel of the tile, relative to co0
  uint clast = p.nco - 1u;                  // weight loads past the last channel are clamped to it
#ifdef TEXEL
  clast = (clast + p.co0) / 4u * 4u - p.co0; // (to its vec4)
#endif

  float acc[TC * TP];
  [[unroll]] for (int i = 0; i < TC * TP; i++) acc[i] = 0.0;

  uint hw = p.h * p.w;
  uint xb = p.x_off + b * p.x_img;
  for (uint ci = 0u; ci < p.nci; ci++) {
    uint xc = xb + ci * hw;
    uint wrow = p.w_off + ci * uint(K * K) * p.cout + p.co0;
    [[dont_unroll]] for (int dy = 0; dy < K; dy++) {
      int iy = oy + dy - PAD;
      bool row_in = iy >= 0 && iy < H;
      uint xr = xc + uint(clamp(iy, 0, H - 1)) * p.w;
      float seg[SEG];
      load_segment(xr, row_in, ox0, seg);
      [[unroll]] for (int dx = 0; dx < K; dx++) {
        uint wtap = wrow + uint(dy * K + dx) * p.cout;
#ifdef TEXEL
        [[unroll]] for (int c4 = 0; c4 < TC / 4; c4++) {
          vec4 wv = texelFetch(wt, int(min(wtap + c0 + uint(4 * c4), wtap + clast) / 4u));
          [[unroll]] for (int e = 0; e < 4; e++)
            [[unroll]] for (int q = 0; q < TP; q++) acc[(4 * c4 + e) * TP + q] += wv[e] * seg[q + dx];
        }
#else
        [[unroll]] for (int c = 0; c < TC; c++) {
          float wv = weight(wtap + min(c0 + uint(c), clast));
          [[unroll]] for (int q = 0; q < TP; q++) acc[c * TP + q] += wv * seg[q + dx];
        }
#endif
      }
    }
  }

  if (!live) return;
  uint ob = b * p.y_img + uint(oy) * p.w;
  [[unroll]] for (int c = 0; c < TC; c++) {
    uint co = c0 + uint(c);
    if (co >= p.nco) break;
    float bv = p.add_bias != 0u ? bias[p.co0 + co] : 0.0;
    uint oc = ob + co * hw;
    [[unroll]] for (int q = 0; q < TP; q++) {
      int ox = ox0 + q;
      if (ox >= Wd) break;
      float v = acc[c * TP + q] + bv;
      if (p.mode == DVK_CONV_MODE_RESIDUAL) v = r[p.r_off + oc + uint(ox)] + p.gain * v;
      y[p.y_off + oc + uint(ox)] = v;
    }
  }
}
