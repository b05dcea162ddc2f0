// The simulator moves and reduces real data, honours dependencies, and exposes a missing one
// through wrong results under some seed.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "sched/simulator.hpp"

namespace loom::sched {
namespace {

void sumI64(void* d, const void* a, const void* b, size_t n) {
  for (size_t i = 0; i < n; ++i)
    static_cast<int64_t*>(d)[i] = static_cast<const int64_t*>(a)[i] + static_cast<const int64_t*>(b)[i];
}

TEST(Simulator, ExchangeAndRecvReduce) {
  // Rank 0 sends its input to rank 1, which adds it to its own input in Output and sends
  // the sum back.
  std::vector<Schedule> s(2);
  s[0].add(send(1, in(0, 32)));
  s[0].add(recv(1, out(0, 32)));
  uint32_t rr = s[1].add(recvReduce(0, in(0, 32), out(0, 32)));
  s[1].add(send(0, out(0, 32)), {rr});
  std::vector<int64_t> in0 = {1, 2, 3, 4}, in1 = {10, 20, 30, 40}, out0(4, -1), out1(4, -1);
  std::vector<RankBuffers> b = {{in0.data(), 32, out0.data(), 32}, {in1.data(), 32, out1.data(), 32}};
  ASSERT_TRUE(simulate(s, b, sumI64, 8, 3).isOk());
  EXPECT_EQ(out0, (std::vector<int64_t>{11, 22, 33, 44}));
  EXPECT_EQ(out1, out0);
}

TEST(Simulator, LocalStepsAndScratch) {
  std::vector<Schedule> s(1);
  s[0].scratchBytes = 16;
  uint32_t a = s[0].add(copy(in(0, 16), scratch(0, 16)));
  uint32_t b = s[0].add(reduce(in(0, 16), scratch(0, 16)), {a});
  s[0].add(copy(scratch(0, 16), out(0, 16)), {b});
  std::vector<int64_t> in0 = {5, 7}, out0(2, 0);
  std::vector<RankBuffers> bufs = {{in0.data(), 16, out0.data(), 16}};
  ASSERT_TRUE(simulate(s, bufs, sumI64, 8).isOk());
  EXPECT_EQ(out0, (std::vector<int64_t>{10, 14}));
}

TEST(Simulator, MissingDependencyShowsUnderSomeSeed) {
  // Rank 1 forwards Output to rank 2 without waiting for the Recv that fills it.
  std::vector<Schedule> s(3);
  s[0].add(send(1, in(0, 8)));
  s[1].add(recv(0, out(0, 8)));
  s[1].add(send(2, out(0, 8)));  // missing: after {0}
  s[2].add(recv(1, out(0, 8)));
  int wrong = 0;
  for (uint64_t seed = 1; seed <= 40; ++seed) {
    int64_t v0 = 99, o1 = -1, o2 = -1, unused = 0;
    std::vector<RankBuffers> b = {{&v0, 8, &unused, 8}, {&unused, 8, &o1, 8}, {&unused, 8, &o2, 8}};
    ASSERT_TRUE(simulate(s, b, sumI64, 8, seed).isOk());
    EXPECT_EQ(o1, 99);
    wrong += o2 != 99;
  }
  EXPECT_GT(wrong, 0);
  EXPECT_LT(wrong, 40);
}

TEST(Simulator, ReportsDeadlockAndMismatch) {
  std::vector<Schedule> s(2);
  for (int r = 0; r < 2; ++r) {
    uint32_t got = s[r].add(recv(1 - r, out(0, 8)));
    s[r].add(send(1 - r, in(0, 8)), {got});
  }
  int64_t x[2] = {0, 0}, y[2] = {0, 0};
  std::vector<RankBuffers> b = {{&x[0], 8, &y[0], 8}, {&x[1], 8, &y[1], 8}};
  Status st = simulate(s, b, sumI64, 8);
  EXPECT_EQ(st.code(), loomInvalidArgument);
  EXPECT_NE(st.message().find("deadlock"), std::string::npos) << st.message();

  std::vector<Schedule> t(2);
  t[0].add(send(1, in(0, 8)));
  t[1].add(recv(0, out(0, 4)));
  st = simulate(t, b, sumI64, 8);
  EXPECT_EQ(st.code(), loomInvalidArgument);
  EXPECT_NE(st.message().find("sends 8 bytes"), std::string::npos) << st.message();

  std::vector<Schedule> u(2);
  u[0].add(send(1, in(0, 16)));  // past the 8-byte Input
  u[1].add(recv(0, out(0, 16)));
  st = simulate(u, b, sumI64, 8);
  EXPECT_EQ(st.code(), loomInvalidArgument);
  EXPECT_NE(st.message().find("out of bounds"), std::string::npos) << st.message();
}

TEST(Simulator, InPlaceAliasing) {
  // Output aliases Input: a Copy of identical bytes changes nothing, a shifted one moves data.
  std::vector<Schedule> s(1);
  uint32_t a = s[0].add(copy(in(0, 8), out(0, 8)));
  s[0].add(copy(in(0, 8), out(8, 8)), {a});
  std::vector<int64_t> buf = {4, 0};
  std::vector<RankBuffers> b = {{buf.data(), 16, buf.data(), 16}};
  ASSERT_TRUE(simulate(s, b, sumI64, 8).isOk());
  EXPECT_EQ(buf, (std::vector<int64_t>{4, 4}));
}

}  // namespace
}  // namespace loom::sched
