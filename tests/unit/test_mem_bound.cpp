// The documented error bound (docs/numerics.md): summing n values in ring order, each step
// rounding once to the type, the result differs from the exact sum by at most
// (n-1) * u * sum|x_i|, u = 2^-p the unit roundoff (p = significand bits incl. the hidden one).
// Random inputs, n = 2..16, each ring chunk starting at a different rank as in reduce-scatter,
// accumulated in place (dst == a) like the executor does. Values are kept clear of overflow
// (e4m3 would saturate, fp16/e5m2 would go to inf; the bound does not cover those).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "mem/kernels.hpp"
#include "mem/reduce.hpp"

using namespace loom::mem;

namespace {

struct Case {
  loomDataType_t type;
  int p;              // precision in bits: u = 2^-p
  int minExp, maxExp;  // value magnitudes 2^[minExp, maxExp); 16 * 2^maxExp stays finite
};

const Case kCases[] = {
    {loomFloat16, 11, -18, 8},  {loomBfloat16, 8, -20, 20}, {loomFloat8e4m3, 4, -10, 4},
    {loomFloat8e5m2, 3, -17, 11}, {loomFloat32, 24, -12, 12},
};

class Bound : public ::testing::TestWithParam<Case> {};

TEST_P(Bound, RingSumWithinNMinusOneU) {
  const Case& c = GetParam();
  const double u = std::ldexp(1.0, -c.p);
  const size_t es = typeSize(c.type);
  constexpr size_t kLanes = 4096;
  std::mt19937_64 rng(2024 + c.type);
  std::uniform_real_distribution<double> expo(c.minExp, c.maxExp);
  std::vector<Isa> isas{Isa::Generic};
  if (isaSupported(Isa::Avx2)) isas.push_back(Isa::Avx2);
  for (Isa isa : isas) {
    ReduceFn sum = reduceFnFor(isa, c.type, ReduceKind::Sum);
    double worst = 0;  // max over n and lanes of err / ((n-1) * u * sum|x|); must stay <= 1
    int worstN = 0;
    double worstBig = 0;  // the same over n >= 4
    for (int n = 2; n <= 16; ++n) {
      std::vector<std::vector<unsigned char>> x(n, std::vector<unsigned char>(kLanes * es));
      for (auto& buf : x) {
        for (size_t i = 0; i < kLanes; ++i) {
          const double mag = std::exp2(expo(rng));
          storeFromDouble(c.type, buf.data(), i, (rng() & 1) ? mag : -mag);
        }
      }
      std::vector<unsigned char> acc(kLanes * es);
      const size_t chunk = kLanes / n;
      for (int ch = 0; ch < n; ++ch) {
        const size_t lo = ch * chunk, len = ch == n - 1 ? kLanes - lo : chunk;
        unsigned char* dst = acc.data() + lo * es;
        std::memcpy(dst, x[(ch + 1) % n].data() + lo * es, len * es);
        for (int s = 2; s <= n; ++s) sum(dst, dst, x[(ch + s) % n].data() + lo * es, len);
      }
      for (size_t i = 0; i < kLanes; ++i) {
        double exact = 0, absSum = 0;  // exact in double: <= 16 values spanning < 53 bits
        for (int r = 0; r < n; ++r) {
          const double v = loadAsDouble(c.type, x[r].data(), i);
          exact += v;
          absSum += std::fabs(v);
        }
        const double got = loadAsDouble(c.type, acc.data(), i);
        const double err = std::fabs(got - exact);
        ASSERT_LE(err, (n - 1) * u * absSum) << typeName(c.type) << " " << isaName(isa) << " n=" << n << " lane " << i;
        const double ratio = absSum > 0 ? err / ((n - 1) * u * absSum) : 0;
        if (ratio > worst) worst = ratio, worstN = n;
        if (n >= 4) worstBig = std::max(worstBig, ratio);
      }
    }
    std::printf("%-9s %-7s max |err| / ((n-1) u sum|x|): %.3f at n=%d (bound: 1); over n>=4: %.3f\n",
                typeName(c.type), isaName(isa), worst, worstN, worstBig);
    EXPECT_GT(worst, 0.0);  // the inputs do exercise rounding
  }
}

INSTANTIATE_TEST_SUITE_P(Mem, Bound, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(typeName(info.param.type)); });

}  // namespace
