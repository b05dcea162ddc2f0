// Inputs and independent references for `loom bench -c 1`, adapted from tests/mp/check_values.hpp
// (tools do not depend on tests). Inputs are small integers chosen so that every float sum and
// product is exact in every type and in any order, as nccl-tests does, so results compare bit for
// bit; integer products wrap like the library's. Avg compares within two roundings of the scale.
#pragma once

#include <loom/loom.h>

#include <cmath>
#include <cstdint>
#include <cstring>

#include "mem/reduce.hpp"

namespace loom::bench::values {

inline bool isFp8(loomDataType_t t) { return t == loomFloat8e4m3 || t == loomFloat8e5m2; }
inline bool isInt(loomDataType_t t) {
  return t == loomInt8 || t == loomUint8 || t == loomInt32 || t == loomUint32 || t == loomInt64 || t == loomUint64;
}

// Element i of rank r's input for op.
inline int64_t input(loomDataType_t t, loomRedOp_t op, int r, size_t i) {
  const uint64_t ru = static_cast<uint64_t>(r);
  switch (op) {
    case loomProd: return (ru + i) % 3 == 0 ? 2 : 1;
    case loomMax:
    case loomMin: return static_cast<int64_t>((ru * 5 + i * 3) % (isFp8(t) ? 9 : 17));
    default: return isFp8(t) ? static_cast<int64_t>((ru + i) % 2) : static_cast<int64_t>((ru * 7 + i) % 13);
  }
}

// Writes an integer-valued element; integers are stored modulo 2^bits (two's complement).
inline void store(loomDataType_t t, void* buf, size_t i, int64_t v) {
  switch (t) {
    case loomFloat32: static_cast<float*>(buf)[i] = static_cast<float>(v); return;
    case loomFloat64: static_cast<double*>(buf)[i] = static_cast<double>(v); return;
    default: break;
  }
  const size_t sz = mem::typeSize(t);
  if (isInt(t)) {
    uint64_t u = static_cast<uint64_t>(v);
    std::memcpy(static_cast<uint8_t*>(buf) + i * sz, &u, sz);  // little-endian truncation
  } else {
    mem::storeFromDouble(t, buf, i, static_cast<double>(v));
  }
}

inline void fill(loomDataType_t t, loomRedOp_t op, int r, void* buf, size_t offset, size_t count) {
  for (size_t i = 0; i < count; ++i) store(t, buf, i, input(t, op, r, offset + i));
}

// The reduction of element i over ranks 0..n-1 as an exact integer (Avg: the sum).
inline int64_t reduced(loomDataType_t t, loomRedOp_t op, int n, size_t i) {
  int64_t acc = input(t, op, 0, i);
  for (int r = 1; r < n; ++r) {
    int64_t v = input(t, op, r, i);
    switch (op) {
      case loomProd: acc = static_cast<int64_t>(static_cast<uint64_t>(acc) * static_cast<uint64_t>(v)); break;
      case loomMax: acc = v > acc ? v : acc; break;
      case loomMin: acc = v < acc ? v : acc; break;
      default: acc += v; break;
    }
  }
  return acc;
}

// Whether element i of got equals the expected integer; for Avg, expect is the sum over n ranks.
inline bool matches(loomDataType_t t, loomRedOp_t op, int n, const void* got, size_t i, int64_t expect) {
  const size_t sz = mem::typeSize(t);
  uint8_t e[8];
  if (op == loomAvg) {
    if (isInt(t)) {
      store(t, e, 0, expect / n);
      return std::memcmp(e, static_cast<const uint8_t*>(got) + i * sz, sz) == 0;
    }
    double exact = static_cast<double>(expect) / n;
    double g = mem::loadAsDouble(t, got, i);
    double ulp = t == loomFloat64 ? 0x1p-52 : t == loomFloat32 ? 0x1p-23 : t == loomFloat16 ? 0x1p-10
                 : t == loomBfloat16 ? 0x1p-7 : t == loomFloat8e4m3 ? 0x1p-3 : 0x1p-2;
    return std::fabs(g - exact) <= 2 * ulp * std::fabs(exact) + 1e-300;
  }
  store(t, e, 0, expect);
  return std::memcmp(e, static_cast<const uint8_t*>(got) + i * sz, sz) == 0;
}

}  // namespace loom::bench::values
