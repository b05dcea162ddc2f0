// Type table, kernel dispatch, scale() and the exported scalar conversions. Dispatch picks the
// AVX2+F16C table once (first call) when the CPU has both, else the baseline SSE2 table.
#include "mem/reduce.hpp"

#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "mem/float_bits.hpp"
#include "mem/kernels.hpp"

#pragma GCC optimize("O3")

namespace loom::mem {

const char* typeName(loomDataType_t type) {
  switch (type) {
    case loomInt8: return "int8";
    case loomUint8: return "uint8";
    case loomInt32: return "int32";
    case loomUint32: return "uint32";
    case loomInt64: return "int64";
    case loomUint64: return "uint64";
    case loomFloat16: return "half";
    case loomFloat32: return "float";
    case loomFloat64: return "double";
    case loomBfloat16: return "bfloat16";
    case loomFloat8e4m3: return "f8e4m3";
    case loomFloat8e5m2: return "f8e5m2";
    default: return "unknown";
  }
}

bool isaSupported(Isa isa) {
  if (isa == Isa::Generic) return true;
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("f16c");
  return avx2;
}

Isa selectedIsa() { return isaSupported(Isa::Avx2) ? Isa::Avx2 : Isa::Generic; }

const char* isaName(Isa isa) { return isa == Isa::Avx2 ? "avx2" : "generic"; }

ReduceFn reduceFnFor(Isa isa, loomDataType_t type, ReduceKind kind) {
  if (!isValidType(type) || static_cast<unsigned>(kind) > 3 || !isaSupported(isa)) return nullptr;
  const KernelTable& t = isa == Isa::Avx2 ? avx2Table() : genericTable();
  return t.fn[type][static_cast<unsigned>(kind)];
}

ReduceFn reduceFn(loomDataType_t type, ReduceKind kind) {
  static const Isa isa = selectedIsa();
  return reduceFnFor(isa, type, kind);
}

namespace {

template <class T>
T doubleToIntSat(double v) {
  // Round toward zero, saturate at the type's limits, NaN -> 0 (a plain cast would be UB).
  if (v != v) return 0;
  // max() + 1 is a power of two, so exact: 2^(bits-1) or 2^bits.
  constexpr double kHi = static_cast<double>(std::numeric_limits<T>::max()) + 1.0;
  constexpr double kLo = std::is_signed_v<T> ? -kHi : 0.0;
  if (v >= kHi) return std::numeric_limits<T>::max();
  if (v <= kLo) return std::numeric_limits<T>::min();
  return static_cast<T>(v);
}

template <class T, class F>
void mapLoop(void* dst, const void* src, size_t n, F f) {
  if (dst == src) {
    T* __restrict d = static_cast<T*>(dst);
    for (size_t i = 0; i < n; ++i) d[i] = f(d[i]);
  } else {
    T* __restrict d = static_cast<T*>(dst);
    const T* __restrict s = static_cast<const T*>(src);
    for (size_t i = 0; i < n; ++i) d[i] = f(s[i]);
  }
}

template <class T>
void scaleInt(void* dst, const void* src, size_t n, double factor) {
  mapLoop<T>(dst, src, n, [factor](T x) { return doubleToIntSat<T>(static_cast<double>(x) * factor); });
}

template <class T, float (*Dec)(T), T (*Enc)(float)>
void scaleNarrow(void* dst, const void* src, size_t n, double factor) {
  const float f = static_cast<float>(factor);
  mapLoop<T>(dst, src, n, [f](T x) { return Enc(Dec(x) * f); });
}

}  // namespace

void scale(loomDataType_t type, void* dst, const void* src, size_t count, double factor) {
  switch (type) {
    case loomInt8: return scaleInt<int8_t>(dst, src, count, factor);
    case loomUint8: return scaleInt<uint8_t>(dst, src, count, factor);
    case loomInt32: return scaleInt<int32_t>(dst, src, count, factor);
    case loomUint32: return scaleInt<uint32_t>(dst, src, count, factor);
    case loomInt64: return scaleInt<int64_t>(dst, src, count, factor);
    case loomUint64: return scaleInt<uint64_t>(dst, src, count, factor);
    case loomFloat16: return scaleNarrow<uint16_t, bits::halfToFloat, bits::floatToHalf>(dst, src, count, factor);
    case loomBfloat16: return scaleNarrow<uint16_t, bits::bf16ToFloat, bits::floatToBf16>(dst, src, count, factor);
    case loomFloat8e4m3: return scaleNarrow<uint8_t, bits::e4m3ToFloat, bits::floatToE4m3>(dst, src, count, factor);
    case loomFloat8e5m2: return scaleNarrow<uint8_t, bits::e5m2ToFloat, bits::floatToE5m2>(dst, src, count, factor);
    case loomFloat32:
      // In double, rounded once: Avg's 1/n is then not pre-rounded to float.
      return mapLoop<float>(dst, src, count,
                            [factor](float x) { return static_cast<float>(static_cast<double>(x) * factor); });
    case loomFloat64: return mapLoop<double>(dst, src, count, [factor](double x) { return x * factor; });
    default: return;
  }
}

float halfToFloat(uint16_t h) { return bits::halfToFloat(h); }
uint16_t floatToHalf(float f) { return bits::floatToHalf(f); }
float bf16ToFloat(uint16_t b) { return bits::bf16ToFloat(b); }
uint16_t floatToBf16(float f) { return bits::floatToBf16(f); }
float e4m3ToFloat(uint8_t v) { return bits::e4m3ToFloat(v); }
uint8_t floatToE4m3(float f) { return bits::floatToE4m3(f); }
float e5m2ToFloat(uint8_t v) { return bits::e5m2ToFloat(v); }
uint8_t floatToE5m2(float f) { return bits::floatToE5m2(f); }

bool isNarrowFloat(loomDataType_t t) {
  return t == loomFloat16 || t == loomBfloat16 || t == loomFloat8e4m3 || t == loomFloat8e5m2;
}

}  // namespace loom::mem
