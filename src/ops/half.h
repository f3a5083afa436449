/* IEEE half precision conversions for host code (weight layouts, q8_0 scales). */
#ifndef DVK_OPS_HALF_H
#define DVK_OPS_HALF_H

#include <stdint.h>
#include <string.h>

/* IEEE binary32 -> binary16, round to nearest even; NaN stays NaN, overflow becomes inf. */
static inline uint16_t dvk_f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u, e = (x >> 23) & 0xffu, mant = x & 0x7fffffu;
  if (e == 0xffu) return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u : 0u));
  int32_t he = (int32_t)e - 127 + 15;
  if (he >= 31) return (uint16_t)(sign | 0x7c00u);
  if (he <= 0) { /* subnormal half or zero */
    if (he < -10) return (uint16_t)sign;
    mant |= 0x800000u;
    uint32_t shift = (uint32_t)(14 - he), h = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (h & 1u))) h++;
    return (uint16_t)(sign | h);
  }
  uint32_t h = sign | ((uint32_t)he << 10) | (mant >> 13), rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++; /* a carry into the exponent is correct */
  return (uint16_t)h;
}

static inline float dvk_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, mant = h & 0x3ffu, x;
  if (e == 0x1fu) x = sign | 0x7f800000u | (mant << 13);
  else if (e != 0) x = sign | ((e - 15 + 127) << 23) | (mant << 13);
  else if (mant == 0) x = sign;
  else { /* subnormal: normalise */
    e = 127 - 15 + 1;
    while (!(mant & 0x400u)) mant <<= 1, e--;
    x = sign | (e << 23) | ((mant & 0x3ffu) << 13);
  }
  float f;
  memcpy(&f, &x, 4);
  return f;
}

#endif
