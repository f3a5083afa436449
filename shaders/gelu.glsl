// GELU, exact erf form (torch.nn.GELU(approximate='none')) and tanh form (approximate='tanh'), for every shader
// that applies it.
// GLSL has no erf: dvk_erf is Abramowitz & Stegun 7.1.26, |erf error| <= 1.5e-7, odd-extended to x < 0.
// tests/test_matmul.c checks dvk_gelu against libm's erf through the matmul epilogue.
#ifndef DVK_GELU_GLSL
#define DVK_GELU_GLSL

float dvk_erf(float x) {
  float a = abs(x);
  float t = 1.0 / (1.0 + 0.3275911 * a);
  float poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  float r = 1.0 - poly * exp(-a * a);
  return x < 0.0 ? -r : r;
}

// 0.5 v (1 + erf(v / sqrt 2))
float dvk_gelu(float v) { return 0.5 * v * (1.0 + dvk_erf(v * 0.70710678118654752)); }

// 0.5 v (1 + tanh(sqrt(2 / pi) (v + 0.044715 v^3))), the "OpenAI" GELU of GPT-2 / CogView / ruDALL-E. tanh through
// exp of a non-positive argument (GLSL's tanh may overflow to NaN for large |u| on some drivers).
float dvk_gelu_tanh(float v) {
  float u = 0.7978845608028654 * (v + 0.044715 * v * v * v);
  float e = exp(-2.0 * abs(u));
  float t = (1.0 - e) / (1.0 + e);
  return 0.5 * v * (1.0 + (u < 0.0 ? -t : t));
}

#endif
