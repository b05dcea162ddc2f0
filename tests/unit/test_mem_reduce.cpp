// Every (ISA, type, op) kernel against plain scalar references: integer ops in typed wrapping
// arithmetic, float ops in float64 rounded once by the independent storeFromDouble(). Odd
// lengths, misaligned (element-aligned) pointers, and every aliasing pattern dst may have.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "mem/kernels.hpp"
#include "mem/reduce.hpp"

using namespace loom::mem;

namespace {

constexpr loomDataType_t kTypes[] = {loomInt8,    loomUint8,   loomInt32,    loomUint32,
                                     loomInt64,   loomUint64,  loomFloat16,  loomFloat32,
                                     loomFloat64, loomBfloat16, loomFloat8e4m3, loomFloat8e5m2};
constexpr ReduceKind kKinds[] = {ReduceKind::Sum, ReduceKind::Prod, ReduceKind::Max, ReduceKind::Min};
const char* kindName(ReduceKind k) {
  static const char* names[] = {"sum", "prod", "max", "min"};
  return names[static_cast<int>(k)];
}

bool isInt(loomDataType_t t) { return t <= loomUint64; }

template <class T, class U>
T intRef(ReduceKind k, T a, T b) {
  switch (k) {
    case ReduceKind::Sum: return static_cast<T>(static_cast<U>(static_cast<U>(a) + static_cast<U>(b)));
    case ReduceKind::Prod: return static_cast<T>(static_cast<uint64_t>(static_cast<U>(a)) * static_cast<U>(b));
    case ReduceKind::Max: return a > b ? a : b;
    default: return a < b ? a : b;
  }
}

// Expected bytes of element i of `a op b`, written into out.
void expected(loomDataType_t t, ReduceKind k, const void* a, const void* b, size_t i, void* out) {
  auto intCase = [&](auto tag, auto utag) {
    using T = decltype(tag);
    using U = decltype(utag);
    T x, y;
    std::memcpy(&x, static_cast<const char*>(a) + i * sizeof(T), sizeof(T));
    std::memcpy(&y, static_cast<const char*>(b) + i * sizeof(T), sizeof(T));
    T r = intRef<T, U>(k, x, y);
    std::memcpy(out, &r, sizeof(T));
  };
  switch (t) {
    case loomInt8: return intCase(int8_t{}, uint8_t{});
    case loomUint8: return intCase(uint8_t{}, uint8_t{});
    case loomInt32: return intCase(int32_t{}, uint32_t{});
    case loomUint32: return intCase(uint32_t{}, uint32_t{});
    case loomInt64: return intCase(int64_t{}, uint64_t{});
    case loomUint64: return intCase(uint64_t{}, uint64_t{});
    default: break;
  }
  // Floats: the exact result (or, for float32/float64 sums, one rounding in double, which is
  // innocuous before the final one) rounded once to the type.
  const double x = loadAsDouble(t, a, i), y = loadAsDouble(t, b, i);
  double r;
  switch (k) {
    case ReduceKind::Sum: r = x + y; break;
    case ReduceKind::Prod: r = x * y; break;
    case ReduceKind::Max: r = std::isnan(x) ? x : std::isnan(y) ? y : (x > y ? x : y); break;
    default: r = std::isnan(x) ? x : std::isnan(y) ? y : (x < y ? x : y); break;
  }
  storeFromDouble(t, out, 0, r);
}

// Random bit patterns (NaN, inf, subnormals for the narrow types), moderate values, specials.
void fillRandom(loomDataType_t t, void* buf, size_t n, std::mt19937_64& rng) {
  const size_t es = typeSize(t);
  auto* p = static_cast<unsigned char*>(buf);
  std::uniform_real_distribution<double> moderate(-8.0, 8.0);
  const double specials[] = {0.0, -0.0, INFINITY, -INFINITY, NAN, 1.0, -1.0, 448.0, 60000.0, 65504.0, 1e-7};
  for (size_t i = 0; i < n; ++i) {
    const uint64_t r = rng();
    const int mode = isInt(t) ? 0 : static_cast<int>(r % 8);
    if (mode < 4) {
      uint64_t bits = rng();
      std::memcpy(p + i * es, &bits, es);
    } else if (mode < 7) {
      storeFromDouble(t, buf, i, moderate(rng) * (mode == 6 ? 1e3 : 1.0));
    } else {
      storeFromDouble(t, buf, i, specials[(r >> 8) % std::size(specials)]);
    }
  }
}

// Bit-identical, or both NaN (NaN payloads are not part of the contract).
bool sameElement(loomDataType_t t, const void* got, const void* want) {
  if (std::memcmp(got, want, typeSize(t)) == 0) return true;
  return !isInt(t) && std::isnan(loadAsDouble(t, got, 0)) && std::isnan(loadAsDouble(t, want, 0));
}

std::vector<Isa> isas() {
  std::vector<Isa> v{Isa::Generic};
  if (isaSupported(Isa::Avx2)) v.push_back(Isa::Avx2);
  return v;
}

enum class Alias { None, DstIsA, DstIsB, AIsB, All };

void checkCase(Isa isa, loomDataType_t t, ReduceKind k, size_t n, Alias alias, size_t offD, size_t offA,
               size_t offB, std::mt19937_64& rng) {
  const size_t es = typeSize(t);
  const size_t cap = (n + 8) * es;
  // Distinct allocations; the offsets make the pointers element- but not vector-aligned.
  std::vector<unsigned char> bufA(cap), bufB(cap), bufD(cap, 0xCD);
  fillRandom(t, bufA.data(), n + 8, rng);
  fillRandom(t, bufB.data(), n + 8, rng);
  unsigned char* a = bufA.data() + offA * es;
  unsigned char* b = bufB.data() + offB * es;
  unsigned char* d = bufD.data() + offD * es;
  if (alias == Alias::DstIsA) d = a;
  if (alias == Alias::DstIsB) d = b;
  if (alias == Alias::AIsB) b = a;
  if (alias == Alias::All) d = b = a;
  // Expected values from the inputs before the kernel may overwrite them.
  std::vector<unsigned char> want(n * es + 1);
  for (size_t i = 0; i < n; ++i) expected(t, k, a, b, i, &want[i * es]);
  const std::vector<unsigned char> guard(bufD);  // bytes outside [d, d+n) must not change

  reduceFnFor(isa, t, k)(d, a, b, n);

  for (size_t i = 0; i < n; ++i) {
    ASSERT_TRUE(sameElement(t, d + i * es, &want[i * es]))
        << isaName(isa) << " " << typeName(t) << " " << kindName(k) << " n=" << n << " i=" << i
        << " alias=" << int(alias) << " a=" << loadAsDouble(t, a, i) << " b=" << loadAsDouble(t, b, i)
        << " got=" << loadAsDouble(t, d + i * es, 0) << " want=" << loadAsDouble(t, &want[i * es], 0);
  }
  if (alias == Alias::None || alias == Alias::AIsB) {
    for (size_t j = 0; j < offD * es; ++j) ASSERT_EQ(bufD[j], guard[j]);
    for (size_t j = (offD + n) * es; j < cap; ++j) ASSERT_EQ(bufD[j], guard[j]) << "wrote past the end";
  }
}

TEST(MemReduce, EveryTypeOpLengthAlignmentAndAlias) {
  const size_t lengths[] = {0, 1, 2, 7, 15, 16, 17, 31, 32, 33, 63, 65, 1000, 1023, 1029};
  const size_t offsets[][3] = {{0, 0, 0}, {1, 0, 0}, {0, 1, 3}, {3, 5, 1}};
  std::mt19937_64 rng(1234);
  for (Isa isa : isas()) {
    for (loomDataType_t t : kTypes) {
      for (ReduceKind k : kKinds) {
        for (size_t n : lengths) {
          for (const auto& o : offsets) checkCase(isa, t, k, n, Alias::None, o[0], o[1], o[2], rng);
          for (Alias al : {Alias::DstIsA, Alias::DstIsB, Alias::AIsB, Alias::All}) {
            checkCase(isa, t, k, n, al, 0, 1, 2, rng);
          }
        }
      }
    }
  }
}

// All 65536 operand pairs of every 8-bit type, every op.
TEST(MemReduce, Exhaustive8BitPairs) {
  constexpr size_t kN = 1u << 16;
  std::vector<uint8_t> a(kN), b(kN), d(kN), want(kN);
  for (size_t i = 0; i < kN; ++i) {
    a[i] = uint8_t(i);
    b[i] = uint8_t(i >> 8);
  }
  for (loomDataType_t t : {loomInt8, loomUint8, loomFloat8e4m3, loomFloat8e5m2}) {
    for (ReduceKind k : kKinds) {
      for (size_t i = 0; i < kN; ++i) expected(t, k, a.data(), b.data(), i, &want[i]);
      for (Isa isa : isas()) {
        reduceFnFor(isa, t, k)(d.data(), a.data(), b.data(), kN);
        for (size_t i = 0; i < kN; ++i) {
          ASSERT_TRUE(sameElement(t, &d[i], &want[i]))
              << isaName(isa) << " " << typeName(t) << " " << kindName(k) << std::hex << " a=" << int(a[i])
              << " b=" << int(b[i]) << " got=" << int(d[i]) << " want=" << int(want[i]);
        }
      }
    }
  }
}

// 16-bit floats: every pattern against a set of interesting partners, plus random pairs.
TEST(MemReduce, SixteenBitFloatsAgainstEveryPattern) {
  for (loomDataType_t t : {loomFloat16, loomBfloat16}) {
    // +-0, smallest subnormal, 1, largest finite (fp16) / large (bf16), +inf, qNaN, smallest
    // normal (fp16), an odd mantissa, and two random patterns.
    std::vector<uint16_t> partners = {0x0000, 0x8000, 0x8001, 0x3C00, 0x7BFF, 0xFC00,
                                      0x7E00, 0x0400, 0x3555, 0x7F7F, 0xC2F7};
    std::mt19937 rng(7);
    for (int i = 0; i < 2; ++i) partners.push_back(uint16_t(rng()));
    constexpr size_t kN = 1u << 16;
    std::vector<uint16_t> a(kN), b(kN), d(kN), want(kN);
    for (size_t i = 0; i < kN; ++i) a[i] = uint16_t(i);
    for (uint16_t p : partners) {
      std::fill(b.begin(), b.end(), p);
      for (ReduceKind k : kKinds) {
        const int swaps = k == ReduceKind::Max || k == ReduceKind::Min ? 2 : 1;  // others commute
        for (int swap = 0; swap < swaps; ++swap) {
          const uint16_t* x = swap ? b.data() : a.data();
          const uint16_t* y = swap ? a.data() : b.data();
          for (size_t i = 0; i < kN; ++i) expected(t, k, x, y, i, &want[i]);
          for (Isa isa : isas()) {
            reduceFnFor(isa, t, k)(d.data(), x, y, kN);
            for (size_t i = 0; i < kN; ++i) {
              ASSERT_TRUE(sameElement(t, &d[i], &want[i]))
                  << isaName(isa) << " " << typeName(t) << " " << kindName(k) << std::hex << " x=" << x[i]
                  << " y=" << y[i] << " got=" << d[i] << " want=" << want[i];
            }
          }
        }
      }
    }
  }
}

TEST(MemReduce, NanInfAndOverflowSemantics) {
  auto run = [](loomDataType_t t, ReduceKind k, double x, double y) {
    unsigned char a[8], b[8], d[8];
    storeFromDouble(t, a, 0, x);
    storeFromDouble(t, b, 0, y);
    reduceFn(t, k)(d, a, b, 1);
    return loadAsDouble(t, d, 0);
  };
  for (loomDataType_t t : {loomFloat16, loomBfloat16, loomFloat32, loomFloat64, loomFloat8e4m3, loomFloat8e5m2}) {
    SCOPED_TRACE(typeName(t));
    for (ReduceKind k : kKinds) {
      EXPECT_TRUE(std::isnan(run(t, k, NAN, 1.0)));  // NaN propagates from either side
      EXPECT_TRUE(std::isnan(run(t, k, 1.0, NAN)));
    }
    EXPECT_EQ(run(t, ReduceKind::Max, -0.0, 2.0), 2.0);
    EXPECT_EQ(run(t, ReduceKind::Min, -3.0, 2.0), -3.0);
  }
  EXPECT_TRUE(std::isinf(run(loomFloat16, ReduceKind::Sum, 60000, 60000)));  // fp16 overflow -> inf
  EXPECT_TRUE(std::isnan(run(loomFloat16, ReduceKind::Sum, INFINITY, -INFINITY)));
  EXPECT_TRUE(std::isinf(run(loomFloat8e5m2, ReduceKind::Sum, 57344, 57344)));
  EXPECT_EQ(run(loomFloat8e4m3, ReduceKind::Sum, 448, 448), 448);  // e4m3 saturates
  EXPECT_EQ(run(loomFloat8e4m3, ReduceKind::Prod, -448, 2), -448);
  EXPECT_EQ(run(loomFloat16, ReduceKind::Sum, 0x1p-24, 0x1p-24), 0x1p-23);  // subnormals kept (no FTZ)
  EXPECT_EQ(run(loomFloat32, ReduceKind::Sum, 0x1p-149, 0x1p-149), 0x1p-148);
  EXPECT_EQ(run(loomFloat8e4m3, ReduceKind::Prod, 0x1p-5, 0x1p-5), 0.0);     // underflow to 0 (2^-10: tie)
  EXPECT_EQ(run(loomInt8, ReduceKind::Sum, 127, 1), -128);                   // wraps
  EXPECT_EQ(run(loomUint32, ReduceKind::Prod, 65536, 65536), 0);
}

// scale(): factor applied in float32 (8/16-bit floats), double (float32, float64) or double then
// toward zero with saturation (integers). In place and out of place.
TEST(MemScale, EveryTypeMatchesReference) {
  std::mt19937_64 rng(99);
  for (loomDataType_t t : kTypes) {
    for (double factor : {1.0 / 3, 0.5, -2.0, 1e-3, 7.0}) {
      for (bool inPlace : {false, true}) {
        const size_t n = 1029, es = typeSize(t);
        std::vector<unsigned char> src(n * es + es), dst(n * es + es), want(n * es);
        fillRandom(t, src.data() + es, n, rng);  // +es: misaligned relative to the allocation
        for (size_t i = 0; i < n; ++i) {
          const double x = loadAsDouble(t, src.data() + es, i);
          double r;
          if (isInt(t)) {
            r = std::trunc(x * factor);
          } else if (t == loomFloat32 || t == loomFloat64) {
            r = x * factor;
          } else {
            r = double(float(double(float(x)) * double(float(factor))));  // one float32 multiply
          }
          // Integers: storeFromDouble saturates like scale(); int64 products beyond 2^53 are rare here.
          storeFromDouble(t, want.data(), i, r);
        }
        unsigned char* out = inPlace ? src.data() + es : dst.data() + es;
        scale(t, out, src.data() + es, n, factor);
        for (size_t i = 0; i < n; ++i) {
          ASSERT_TRUE(sameElement(t, out + i * es, &want[i * es]))
              << typeName(t) << " factor=" << factor << " i=" << i << " got=" << loadAsDouble(t, out, i)
              << " want=" << loadAsDouble(t, want.data(), i);
        }
      }
    }
  }
}

TEST(MemScale, IntegerSaturationAndAvg) {
  int8_t v[4] = {100, -100, 3, -3};
  scale(loomInt8, v, v, 4, 2.0);
  EXPECT_EQ(v[0], 127);
  EXPECT_EQ(v[1], -128);
  EXPECT_EQ(v[2], 6);
  scale(loomInt8, v, v, 4, 1.0 / 4);  // toward zero
  EXPECT_EQ(v[2], 1);
  EXPECT_EQ(v[3], -1);
  float f[3] = {3.f, 6.f, 9.f};
  scale(loomFloat32, f, f, 3, 1.0 / 3);  // Avg over 3 ranks of an exact sum
  EXPECT_EQ(f[0], 1.f);
  EXPECT_EQ(f[1], 2.f);
  EXPECT_EQ(f[2], 3.f);
}

}  // namespace
