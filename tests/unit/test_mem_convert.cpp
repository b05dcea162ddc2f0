// Conversions between float32 and fp16/bf16/e4m3/e5m2: exhaustive over every bit pattern, and
// checked against the independent reference path (loadAsDouble/storeFromDouble).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "mem/kernels.hpp"
#include "mem/reduce.hpp"

using namespace loom::mem;

namespace {

struct Narrow {
  loomDataType_t type;
  int bits;           // 8 or 16
  uint32_t quietBit;  // set when a NaN is quieted (0 for e4m3, whose only NaN is S.1111.111)
  float (*dec)(uint32_t);
  uint32_t (*enc)(float);
};

const Narrow kNarrow[] = {
    {loomFloat16, 16, 0x200, [](uint32_t v) { return halfToFloat(uint16_t(v)); },
     [](float f) -> uint32_t { return floatToHalf(f); }},
    {loomBfloat16, 16, 0x40, [](uint32_t v) { return bf16ToFloat(uint16_t(v)); },
     [](float f) -> uint32_t { return floatToBf16(f); }},
    {loomFloat8e4m3, 8, 0, [](uint32_t v) { return e4m3ToFloat(uint8_t(v)); },
     [](float f) -> uint32_t { return floatToE4m3(f); }},
    {loomFloat8e5m2, 8, 0x02, [](uint32_t v) { return e5m2ToFloat(uint8_t(v)); },
     [](float f) -> uint32_t { return floatToE5m2(f); }},
};

double refDecode(const Narrow& n, uint32_t v) {
  unsigned char buf[2];
  std::memcpy(buf, &v, 2);  // little endian: low byte(s) first
  return loadAsDouble(n.type, buf, 0);
}

uint32_t refEncode(const Narrow& n, double d) {
  unsigned char buf[2] = {0, 0};
  storeFromDouble(n.type, buf, 0, d);
  uint32_t v = 0;
  std::memcpy(&v, buf, n.bits / 8);
  return v;
}

bool sameDouble(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return a == b && std::signbit(a) == std::signbit(b);
}

class Conv : public ::testing::TestWithParam<Narrow> {};

TEST_P(Conv, DecodeEveryPatternMatchesReference) {
  const Narrow& n = GetParam();
  for (uint32_t v = 0; v < (1u << n.bits); ++v) {
    ASSERT_TRUE(sameDouble(n.dec(v), refDecode(n, v))) << std::hex << v;
  }
}

TEST_P(Conv, EveryPatternRoundTrips) {
  const Narrow& n = GetParam();
  for (uint32_t v = 0; v < (1u << n.bits); ++v) {
    const float f = n.dec(v);
    const uint32_t back = n.enc(f);
    if (std::isnan(f)) {
      // NaNs come back as NaN with the quiet bit set; payload and sign are kept.
      EXPECT_EQ(back, v | n.quietBit) << std::hex << v;
      EXPECT_TRUE(std::isnan(refDecode(n, refEncode(n, refDecode(n, v)))));
    } else {
      EXPECT_EQ(back, v) << std::hex << v;
      EXPECT_EQ(refEncode(n, refDecode(n, v)), v) << std::hex << v;
    }
  }
}

// Every rounding boundary of the format: for each adjacent pair of finite values, the midpoint
// (exact in float32) and its float neighbours; plus beyond the largest value and random floats.
TEST_P(Conv, EncodeMatchesReferenceAtEveryMidpoint) {
  const Narrow& n = GetParam();
  std::vector<float> probes;
  const uint32_t half = 1u << (n.bits - 1);  // first negative pattern
  for (uint32_t v = 0; v + 1 < half; ++v) {
    const float lo = n.dec(v), hi = n.dec(v + 1);
    if (std::isnan(lo) || std::isnan(hi) || std::isinf(hi)) continue;
    const float mid = lo + (hi - lo) / 2;  // exact: both are float32 values with short significands
    ASSERT_EQ(double(mid), (double(lo) + double(hi)) / 2);
    for (float p : {lo, mid, std::nextafter(mid, 0.f), std::nextafter(mid, INFINITY)}) {
      probes.push_back(p);
      probes.push_back(-p);
    }
  }
  for (float p : {INFINITY, -INFINITY, NAN, -NAN, 1e30f, -1e30f, 65504.f, 65519.99f, 65520.f, 448.f, 464.f,
                  464.01f, 480.f, 57344.f, 61439.f, 61440.f, 3.4e38f, 0.f, -0.f}) {
    probes.push_back(p);
  }
  std::mt19937 rng(42);
  for (int i = 0; i < 200000; ++i) {
    uint32_t u = rng();
    float f;
    std::memcpy(&f, &u, 4);
    probes.push_back(f);
  }
  for (float f : probes) {
    const uint32_t got = n.enc(f), want = refEncode(n, f);
    if (std::isnan(f)) {
      ASSERT_TRUE(std::isnan(n.dec(got))) << f;
      ASSERT_TRUE(std::isnan(refDecode(n, want))) << f;
    } else {
      ASSERT_EQ(got, want) << std::hexfloat << f;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Mem, Conv, ::testing::ValuesIn(kNarrow),
                         [](const auto& info) { return std::string(typeName(info.param.type)); });

// Hand-picked ties (round half to even), subnormals, overflow and saturation.
TEST(ConvTies, HalfValues) {
  EXPECT_EQ(floatToHalf(1.0f + 0x1p-11f), 0x3C00);       // tie -> even (1.0)
  EXPECT_EQ(floatToHalf(1.0f + 3 * 0x1p-11f), 0x3C02);   // tie -> even (1 + 2^-9)
  EXPECT_EQ(floatToHalf(2049.f), 0x6800);                // 2048
  EXPECT_EQ(floatToHalf(2051.f), 0x6802);                // 2052
  EXPECT_EQ(floatToHalf(65519.f), 0x7BFF);               // 65504
  EXPECT_EQ(floatToHalf(65520.f), 0x7C00);               // tie at the top -> inf
  EXPECT_EQ(floatToHalf(-1e6f), 0xFC00);                 // overflow -> -inf
  EXPECT_EQ(floatToHalf(0x1p-25f), 0x0000);              // half the smallest subnormal -> 0
  EXPECT_EQ(floatToHalf(3 * 0x1p-25f), 0x0002);          // 1.5 quanta -> 2
  EXPECT_EQ(floatToHalf(-0x1p-24f), 0x8001);
  EXPECT_EQ(floatToHalf(0x1p-14f - 0x1p-25f), 0x0400);   // rounds up into the normals
  EXPECT_EQ(halfToFloat(0x0001), 0x1p-24f);
  EXPECT_EQ(floatToHalf(-0.f), 0x8000);
}

TEST(ConvTies, Bf16Values) {
  EXPECT_EQ(floatToBf16(1.0f + 0x1p-8f), 0x3F80);
  EXPECT_EQ(floatToBf16(1.0f + 3 * 0x1p-8f), 0x3F82);
  EXPECT_EQ(floatToBf16(1.0f + 0x1p-8f + 0x1p-20f), 0x3F81);  // just above the tie
  EXPECT_EQ(floatToBf16(3.4e38f), 0x7F80);                     // above max bf16 -> inf
  EXPECT_EQ(floatToBf16(0x1p-133f), 0x0001);                   // smallest bf16 subnormal
  EXPECT_EQ(floatToBf16(0x1p-134f), 0x0000);                   // tie -> even (0)
  EXPECT_EQ(floatToBf16(NAN) & 0x7FC0, 0x7FC0);
}

TEST(ConvTies, E4m3Values) {
  EXPECT_EQ(floatToE4m3(1.0f + 1 / 16.f), 0x38);  // tie -> 1.0
  EXPECT_EQ(floatToE4m3(1.0f + 3 / 16.f), 0x3A);  // tie -> 1.25
  EXPECT_EQ(floatToE4m3(448.f), 0x7E);
  EXPECT_EQ(floatToE4m3(464.f), 0x7E);    // tie -> even 448
  EXPECT_EQ(floatToE4m3(500.f), 0x7E);    // saturates (documented)
  EXPECT_EQ(floatToE4m3(-1e9f), 0xFE);
  EXPECT_EQ(floatToE4m3(INFINITY), 0x7E);
  EXPECT_EQ(floatToE4m3(NAN), 0x7F);
  EXPECT_EQ(floatToE4m3(-NAN), 0xFF);
  EXPECT_EQ(floatToE4m3(0x1p-10f), 0x00);     // tie -> 0
  EXPECT_EQ(floatToE4m3(3 * 0x1p-10f), 0x02);
  EXPECT_EQ(floatToE4m3(0x1p-9f), 0x01);      // smallest subnormal
  EXPECT_EQ(e4m3ToFloat(0x7E), 448.f);
  EXPECT_TRUE(std::isnan(e4m3ToFloat(0x7F)));
  EXPECT_EQ(e4m3ToFloat(0x78), 256.f);  // S.1111.000 is a number in the fn variant
}

TEST(ConvTies, E5m2Values) {
  EXPECT_EQ(floatToE5m2(1.0f + 1 / 8.f), 0x3C);
  EXPECT_EQ(floatToE5m2(1.0f + 3 / 8.f), 0x3E);
  EXPECT_EQ(floatToE5m2(57344.f), 0x7B);
  EXPECT_EQ(floatToE5m2(61439.f), 0x7B);
  EXPECT_EQ(floatToE5m2(61440.f), 0x7C);  // tie at the top -> inf
  EXPECT_EQ(floatToE5m2(-INFINITY), 0xFC);
  EXPECT_EQ(floatToE5m2(0x1p-17f), 0x00);
  EXPECT_EQ(floatToE5m2(3 * 0x1p-17f), 0x02);
  EXPECT_TRUE(std::isnan(e5m2ToFloat(floatToE5m2(NAN))));
}

// The vector (AVX2/F16C) conversions, reached through Sum with -0 (x + -0 == x for every x):
// every pattern must come back unchanged (NaNs quieted).
TEST(ConvKernels, EveryPatternSurvivesSumWithNegativeZero) {
  for (Isa isa : {Isa::Generic, Isa::Avx2}) {
    if (!isaSupported(isa)) continue;
    for (const Narrow& n : kNarrow) {
      const size_t count = 1u << n.bits, es = n.bits / 8;
      std::vector<unsigned char> a(count * es), b(count * es), d(count * es);
      const uint32_t negZero = 1u << (n.bits - 1);
      for (size_t i = 0; i < count; ++i) {
        std::memcpy(&a[i * es], &i, es);
        std::memcpy(&b[i * es], &negZero, es);
      }
      reduceFnFor(isa, n.type, ReduceKind::Sum)(d.data(), a.data(), b.data(), count);
      for (uint32_t v = 0; v < count; ++v) {
        uint32_t got = 0;
        std::memcpy(&got, &d[v * es], es);
        const uint32_t want = std::isnan(n.dec(v)) ? v | n.quietBit : v;
        ASSERT_EQ(got, want) << isaName(isa) << " " << typeName(n.type) << " " << std::hex << v;
      }
    }
  }
}

TEST(ConvTypes, SizesAndNames) {
  EXPECT_EQ(typeSize(loomFloat8e4m3), 1u);
  EXPECT_EQ(typeSize(loomBfloat16), 2u);
  EXPECT_EQ(typeSize(loomUint64), 8u);
  EXPECT_EQ(typeSize(loomNumTypes), 0u);
  EXPECT_FALSE(isValidType(loomNumTypes));
  EXPECT_STREQ(typeName(loomFloat32), "float");
  EXPECT_STREQ(typeName(loomFloat8e5m2), "f8e5m2");
  EXPECT_STREQ(typeName(loomNumTypes), "unknown");
  EXPECT_EQ(reduceFnFor(Isa::Generic, loomNumTypes, ReduceKind::Sum), nullptr);
  for (int t = 0; t < loomNumTypes; ++t) {
    for (int k = 0; k < 4; ++k) EXPECT_NE(reduceFn(loomDataType_t(t), ReduceKind(k)), nullptr);
  }
}

}  // namespace
