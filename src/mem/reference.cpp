// loadAsDouble / storeFromDouble: the project's independent reference path. Deliberately slow,
// scalar and generic: formats are described by their field widths and decoded/rounded with
// ldexp/frexp in double, sharing no code with the kernels (float_bits.hpp, kernels_*.cpp), so
// tests that compare the two catch mistakes in either.
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "mem/reduce.hpp"

namespace loom::mem {
namespace {

struct Format {
  int expBits;
  int manBits;
  int bias;
  bool ieee;  // true: all-ones exponent is inf/NaN; false (e4m3fn): only S.1111.111 is NaN
};

constexpr Format kHalf{5, 10, 15, true};
constexpr Format kBf16{8, 7, 127, true};
constexpr Format kE4m3{4, 3, 7, false};
constexpr Format kE5m2{5, 2, 15, true};

double decode(const Format& f, uint32_t v) {
  const uint32_t manMask = (1u << f.manBits) - 1;
  const uint32_t expMax = (1u << f.expBits) - 1;
  const bool neg = (v >> (f.expBits + f.manBits)) & 1u;
  const uint32_t e = (v >> f.manBits) & expMax;
  const uint32_t m = v & manMask;
  double mag;
  if (f.ieee && e == expMax) {
    mag = m == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  } else if (!f.ieee && e == expMax && m == manMask) {
    mag = std::numeric_limits<double>::quiet_NaN();
  } else if (e == 0) {
    mag = std::ldexp(static_cast<double>(m), 1 - f.bias - f.manBits);
  } else {
    mag = std::ldexp(static_cast<double>(m + (1u << f.manBits)), static_cast<int>(e) - f.bias - f.manBits);
  }
  return neg ? -mag : mag;
}

double maxFinite(const Format& f) {
  const int emax = ((1 << f.expBits) - 1) - (f.ieee ? 1 : 0) - f.bias;
  // e4m3fn: the all-ones mantissa at the top exponent is NaN, so the largest is 1.110b.
  const double mant = f.ieee ? 2.0 - std::ldexp(1.0, -f.manBits) : 2.0 - std::ldexp(1.0, 1 - f.manBits);
  return std::ldexp(mant, emax);
}

// Nearest integer, ties to even, without relying on the FPU rounding mode.
double roundHalfEven(double x) {
  double fl = std::floor(x);
  double diff = x - fl;
  if (diff > 0.5) return fl + 1;
  if (diff < 0.5) return fl;
  return std::fmod(fl, 2.0) == 0.0 ? fl : fl + 1;
}

uint32_t encode(const Format& f, double v) {
  const uint32_t signBit = 1u << (f.expBits + f.manBits);
  const uint32_t expMax = (1u << f.expBits) - 1;
  const uint32_t sign = std::signbit(v) ? signBit : 0;
  if (std::isnan(v)) {
    return f.ieee ? sign | expMax << f.manBits | 1u << (f.manBits - 1) : sign | (signBit - 1);
  }
  double a = std::fabs(v);
  const double top = maxFinite(f);
  const uint32_t infBits = f.ieee ? expMax << f.manBits : 0;
  if (std::isinf(a)) return f.ieee ? sign | infBits : encode(f, std::copysign(top, v));
  if (a == 0) return sign;
  const int minExp = 1 - f.bias;  // exponent of the smallest normal
  int k;
  std::frexp(a, &k);  // a = frac * 2^k, frac in [0.5, 1)
  const int e = std::max(k - 1, minExp);
  const double quantum = std::ldexp(1.0, e - f.manBits);
  const double r = roundHalfEven(a / quantum) * quantum;  // rounded as if the exponent were unbounded
  if (r > top) return f.ieee ? sign | infBits : encode(f, std::copysign(top, v));  // e4m3 saturates
  if (r < std::ldexp(1.0, minExp)) {
    return sign | static_cast<uint32_t>(r / std::ldexp(1.0, minExp - f.manBits));
  }
  std::frexp(r, &k);
  const uint32_t m = static_cast<uint32_t>(r / std::ldexp(1.0, k - 1 - f.manBits)) - (1u << f.manBits);
  return sign | static_cast<uint32_t>(k - 1 + f.bias) << f.manBits | m;
}

template <class T>
T load(const void* buf, size_t i) {
  T v;
  std::memcpy(&v, static_cast<const char*>(buf) + i * sizeof(T), sizeof(T));
  return v;
}

template <class T>
void store(void* buf, size_t i, T v) {
  std::memcpy(static_cast<char*>(buf) + i * sizeof(T), &v, sizeof(T));
}

template <class T>
T toInt(double v) {
  // Nearest (ties to even), saturated at the limits; NaN -> 0.
  if (std::isnan(v)) return 0;
  v = roundHalfEven(v);
  const double hi = std::ldexp(1.0, std::numeric_limits<T>::digits);  // 2^bits or 2^(bits-1)
  if (v >= hi) return std::numeric_limits<T>::max();
  if (v < static_cast<double>(std::numeric_limits<T>::min())) return std::numeric_limits<T>::min();
  return static_cast<T>(v);
}

}  // namespace

double loadAsDouble(loomDataType_t type, const void* buf, size_t i) {
  switch (type) {
    case loomInt8: return load<int8_t>(buf, i);
    case loomUint8: return load<uint8_t>(buf, i);
    case loomInt32: return load<int32_t>(buf, i);
    case loomUint32: return load<uint32_t>(buf, i);
    case loomInt64: return static_cast<double>(load<int64_t>(buf, i));
    case loomUint64: return static_cast<double>(load<uint64_t>(buf, i));
    case loomFloat16: return decode(kHalf, load<uint16_t>(buf, i));
    case loomBfloat16: return decode(kBf16, load<uint16_t>(buf, i));
    case loomFloat8e4m3: return decode(kE4m3, load<uint8_t>(buf, i));
    case loomFloat8e5m2: return decode(kE5m2, load<uint8_t>(buf, i));
    case loomFloat32: return load<float>(buf, i);
    case loomFloat64: return load<double>(buf, i);
    default: return std::numeric_limits<double>::quiet_NaN();
  }
}

void storeFromDouble(loomDataType_t type, void* buf, size_t i, double v) {
  switch (type) {
    case loomInt8: return store(buf, i, toInt<int8_t>(v));
    case loomUint8: return store(buf, i, toInt<uint8_t>(v));
    case loomInt32: return store(buf, i, toInt<int32_t>(v));
    case loomUint32: return store(buf, i, toInt<uint32_t>(v));
    case loomInt64: return store(buf, i, toInt<int64_t>(v));
    case loomUint64: return store(buf, i, toInt<uint64_t>(v));
    case loomFloat16: return store(buf, i, static_cast<uint16_t>(encode(kHalf, v)));
    case loomBfloat16: return store(buf, i, static_cast<uint16_t>(encode(kBf16, v)));
    case loomFloat8e4m3: return store(buf, i, static_cast<uint8_t>(encode(kE4m3, v)));
    case loomFloat8e5m2: return store(buf, i, static_cast<uint8_t>(encode(kE5m2, v)));
    case loomFloat32: return store(buf, i, static_cast<float>(v));
    case loomFloat64: return store(buf, i, v);
    default: return;
  }
}

}  // namespace loom::mem
