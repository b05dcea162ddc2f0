// Inputs and independent references for the multi-process checks. Inputs are small integers
// chosen so that every float sum and product is exact in every type and any order (as
// nccl-tests does), so results compare bit for bit; integer products wrap like the library's.
#pragma once

#include <loom/loom.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include "mem/reduce.hpp"

namespace loomtest {

inline bool isFp8(loomDataType_t t) { return t == loomFloat8e4m3 || t == loomFloat8e5m2; }
inline bool isInt(loomDataType_t t) {
  return t == loomInt8 || t == loomUint8 || t == loomInt32 || t == loomUint32 || t == loomInt64 || t == loomUint64;
}

// Value of element i of rank r's input for op.
inline int64_t inputValue(loomDataType_t t, loomRedOp_t op, int r, size_t i) {
  switch (op) {
    case loomProd: return (r + i) % 3 == 0 ? 2 : 1;
    case loomMax:
    case loomMin: return isFp8(t) ? static_cast<int64_t>((r * 5 + i * 3) % 9) : static_cast<int64_t>((r * 5 + i * 3) % 17);
    default: return isFp8(t) ? static_cast<int64_t>((r + i) % 2) : static_cast<int64_t>((r * 7 + i) % 13);
  }
}

// Writes an integer-valued element; integers are stored modulo 2^bits (two's complement).
inline void storeValue(loomDataType_t t, void* buf, size_t i, int64_t v) {
  size_t sz = loom::mem::typeSize(t);
  if (isInt(t)) {
    uint64_t u = static_cast<uint64_t>(v);
    std::memcpy(static_cast<uint8_t*>(buf) + i * sz, &u, sz);  // little-endian truncation
  } else {
    loom::mem::storeFromDouble(t, buf, i, static_cast<double>(v));
  }
}

inline void fillInput(loomDataType_t t, loomRedOp_t op, int r, void* buf, size_t offset, size_t count) {
  for (size_t i = 0; i < count; ++i) storeValue(t, buf, i, inputValue(t, op, r, offset + i));
}

// The reduction of element i over ranks 0..n-1, as an exact integer (wrapping is applied by
// storeValue when it is written in the element type).
inline int64_t reduced(loomDataType_t t, loomRedOp_t op, int n, size_t i) {
  int64_t acc = inputValue(t, op, 0, i);
  for (int r = 1; r < n; ++r) {
    int64_t v = inputValue(t, op, r, i);
    switch (op) {
      case loomProd: acc = static_cast<int64_t>(static_cast<uint64_t>(acc) * static_cast<uint64_t>(v)); break;
      case loomMax: acc = v > acc ? v : acc; break;
      case loomMin: acc = v < acc ? v : acc; break;
      default: acc += v; break;
    }
  }
  return acc;
}

// Compares element i of got with the expected integer (for Avg: expected sum / n, where float
// types may differ from the exactly rounded quotient by one rounding of the scaling).
inline bool matches(loomDataType_t t, loomRedOp_t op, int n, const void* got, size_t i, int64_t expect) {
  size_t sz = loom::mem::typeSize(t);
  if (op == loomAvg) {
    if (isInt(t)) {
      std::vector<uint8_t> e(sz);
      storeValue(t, e.data(), 0, expect / n);
      return std::memcmp(e.data(), static_cast<const uint8_t*>(got) + i * sz, sz) == 0;
    }
    double exact = static_cast<double>(expect) / n;
    double g = loom::mem::loadAsDouble(t, got, i);
    double ulp = t == loomFloat64 ? 0x1p-52 : t == loomFloat32 ? 0x1p-23 : t == loomFloat16 ? 0x1p-10
                 : t == loomBfloat16 ? 0x1p-7 : t == loomFloat8e4m3 ? 0x1p-3 : 0x1p-2;
    return std::fabs(g - exact) <= 2 * ulp * std::fabs(exact) + 1e-300;
  }
  std::vector<uint8_t> e(sz);
  storeValue(t, e.data(), 0, expect);
  return std::memcmp(e.data(), static_cast<const uint8_t*>(got) + i * sz, sz) == 0;
}

}  // namespace loomtest
