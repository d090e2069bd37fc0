// half.h: IEEE binary16 and bfloat16 <-> float conversions (round to nearest even), for safetensors and GGUF.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>

namespace reasonrl::model {

inline uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = uint16_t((x >> 16) & 0x8000);
  const uint32_t ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return uint16_t(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));  // inf / NaN
  if (ax >= 0x477ff000u) return uint16_t(sign | 0x7c00);                                    // rounds past 65504
  if (ax < 0x38800000u) {                                                                    // subnormal or zero
    // value = ax as float; f16 subnormal unit is 2^-24: round(value * 2^24) to nearest even
    float v;
    std::memcpy(&v, &ax, 4);
    const float scaled = v * 16777216.0f;  // exact (power of two)
    return uint16_t(sign | uint16_t(std::nearbyint(scaled)));
  }
  const uint32_t e = ((ax >> 23) - 127 + 15);
  uint32_t m = ax & 0x7fffff;
  uint32_t h = (e << 10) | (m >> 13);
  const uint32_t rest = m & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) ++h;  // carry into the exponent is correct rounding
  return uint16_t(sign | h);
}

inline float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  int exp = (h >> 10) & 0x1f;
  uint32_t man = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {
      exp = 1;
      while (!(man & 0x400)) {
        man <<= 1;
        --exp;
      }
      man &= 0x3ff;
      bits = sign | uint32_t(exp + 112) << 23 | man << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | man << 13;
  } else {
    bits = sign | uint32_t(exp + 112) << 23 | man << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline float bf16_to_f32(uint16_t h) {
  const uint32_t bits = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline uint16_t f32_to_bf16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return uint16_t((x >> 16) | 0x40);  // NaN stays NaN
  x += 0x7fff + ((x >> 16) & 1);
  return uint16_t(x >> 16);
}

}  // namespace reasonrl::model
