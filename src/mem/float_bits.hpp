// Scalar bit-level conversions between float32 and the narrow float formats, used by the fast
// kernels (tails, non-AVX2 path) and by the exported halfToFloat()/floatToHalf()/... They are
// written to give bit-identical results to the AVX2/F16C vector code in kernels_avx2.cpp:
// round to nearest even, NaN quieted (payload kept where the format has room), fp16/bf16/e5m2
// overflow -> inf, e4m3 overflow and inf -> +-448. The test reference (reference.cpp) does NOT
// use this file, so the two paths check each other.
//
// Private header: include it before any `#pragma GCC target` region so these inline functions
// keep the baseline ISA (they have external linkage; one copy wins at link time).
#pragma once

#include <bit>
#include <cstdint>

namespace loom::mem::bits {

inline uint32_t f2u(float f) { return std::bit_cast<uint32_t>(f); }
inline float u2f(uint32_t u) { return std::bit_cast<float>(u); }

// Round a non-negative float (< 2^22) to the nearest integer, ties to even, independently of
// the MXCSR rounding mode: add and subtract 2^23 is the classic trick but depends on the mode,
// so use the builtin, which lowers to roundss (SSE4.1) or a libm call.
inline uint32_t roundEvenToU32(float x) { return static_cast<uint32_t>(__builtin_roundevenf(x)); }

// ---- float16 (IEEE binary16: 1.5.10, bias 15) ----
inline float halfToFloat(uint16_t h) {
  // Move exponent+mantissa into float32 position and rebias by multiplying with 2^112; this also
  // normalises subnormals exactly (needs denormals not flushed, the default).
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t em = h & 0x7FFFu;
  uint32_t u = f2u(u2f(em << 13) * 0x1p112f);
  if (em >= 0x7C00u) u = 0x7F800000u | (em & 0x3FFu) << 13;  // inf / NaN keep payload
  return u2f(u | sign);
}

inline uint16_t floatToHalf(float f) {
  const uint32_t u = f2u(f);
  const uint32_t sign = (u >> 16) & 0x8000u;
  const uint32_t a = u & 0x7FFFFFFFu;
  uint32_t code;
  if (a > 0x7F800000u) {
    code = 0x7E00u | ((a >> 13) & 0x3FFu);  // quiet NaN, like vcvtps2ph
  } else if (a >= (113u << 23)) {           // |f| >= 2^-14: normal (or overflow)
    code = (a - (112u << 23) + 0xFFFu + ((a >> 13) & 1u)) >> 13;
    if (code > 0x7C00u) code = 0x7C00u;
  } else {  // subnormal: integer multiple of 2^-24, exact scaling then round to even
    code = roundEvenToU32(u2f(a) * 0x1p24f);
  }
  return static_cast<uint16_t>(code | sign);
}

// ---- bfloat16 (1.8.7: the top half of a float32) ----
inline float bf16ToFloat(uint16_t b) { return u2f(static_cast<uint32_t>(b) << 16); }

inline uint16_t floatToBf16(float f) {
  const uint32_t u = f2u(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  // Carry out of the mantissa bumps the exponent; out of the largest finite value gives inf.
  return static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
}

// ---- float8 e4m3 (OCP E4M3FN: 1.4.3, bias 7, no inf, NaN = S.1111.111, max 448) ----
inline float e4m3ToFloat(uint8_t v) {
  const uint32_t sign = static_cast<uint32_t>(v & 0x80u) << 24;
  const uint32_t em = v & 0x7Fu;
  if (em == 0x7Fu) return u2f(sign | 0x7FC00000u);
  return u2f(f2u(u2f(em << 20) * 0x1p120f) | sign);
}

inline uint8_t floatToE4m3(float f) {
  const uint32_t u = f2u(f);
  const uint32_t sign = (u >> 24) & 0x80u;
  const uint32_t a = u & 0x7FFFFFFFu;
  uint32_t code;
  if (a > 0x7F800000u) {
    code = 0x7Fu;
  } else if (a >= (121u << 23)) {  // |f| >= 2^-6
    code = (a - (120u << 23) + 0x7FFFFu + ((a >> 20) & 1u)) >> 20;
    if (code > 0x7Eu) code = 0x7Eu;  // saturate (includes inf)
  } else {
    code = roundEvenToU32(u2f(a) * 0x1p9f);  // multiples of 2^-9; 8 encodes 2^-6 correctly
  }
  return static_cast<uint8_t>(code | sign);
}

// ---- float8 e5m2 (OCP E5M2: 1.5.2, bias 15, IEEE-like: inf, NaNs) ----
inline float e5m2ToFloat(uint8_t v) { return halfToFloat(static_cast<uint16_t>(v << 8)); }

inline uint8_t floatToE5m2(float f) {
  const uint32_t u = f2u(f);
  const uint32_t sign = (u >> 24) & 0x80u;
  const uint32_t a = u & 0x7FFFFFFFu;
  uint32_t code;
  if (a > 0x7F800000u) {
    code = 0x7Eu | ((a >> 21) & 0x3u);
  } else if (a >= (113u << 23)) {  // |f| >= 2^-14
    code = (a - (112u << 23) + 0xFFFFFu + ((a >> 21) & 1u)) >> 21;
    if (code > 0x7Cu) code = 0x7Cu;
  } else {
    code = roundEvenToU32(u2f(a) * 0x1p16f);
  }
  return static_cast<uint8_t>(code | sign);
}

}  // namespace loom::mem::bits
