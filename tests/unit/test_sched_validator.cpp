// The validator accepts correct hand-built schedules and names the problem in broken ones.
#include <gtest/gtest.h>

#include "sched/validator.hpp"

namespace loom::sched {
namespace {

// Two ranks exchanging 64 bytes: Input -> peer's Output.
std::vector<Schedule> exchange() {
  std::vector<Schedule> s(2);
  for (int r = 0; r < 2; ++r) {
    s[r].add(send(1 - r, in(0, 64)));
    s[r].add(recv(1 - r, out(0, 64)));
  }
  return s;
}
const std::vector<BufferSizes> kSizes(2, BufferSizes{64, 64, false, 0});

void expectError(const Status& st, const std::string& fragment) {
  EXPECT_EQ(st.code(), loomInvalidArgument);
  EXPECT_NE(st.message().find(fragment), std::string::npos) << st.message();
}

TEST(Validator, AcceptsExchange) { EXPECT_TRUE(validate(exchange(), kSizes).isOk()); }

TEST(Validator, UnmatchedSend) {
  auto s = exchange();
  s[0].add(send(1, in(0, 8)));
  expectError(validate(s, kSizes), "rank 0 step 2: Send of 8 bytes to rank 1 has no matching receive");
}

TEST(Validator, UnmatchedRecv) {
  auto s = exchange();
  s[1].add(recv(0, out(0, 8)), {1});
  expectError(validate(s, kSizes), "rank 1 step 2: Recv from rank 0 has no matching send");
}

TEST(Validator, SizeMismatch) {
  auto s = exchange();
  s[1].steps[1].dst.bytes = 32;
  expectError(validate(s, kSizes), "rank 0 step 0: Send of 64 bytes to rank 1 matches its step 1 (Recv) of 32 bytes");
}

TEST(Validator, Deadlock) {
  // Both ranks receive before sending.
  std::vector<Schedule> s(2);
  for (int r = 0; r < 2; ++r) {
    uint32_t got = s[r].add(recv(1 - r, out(0, 64)));
    s[r].add(send(1 - r, in(0, 64)), {got});
  }
  expectError(validate(s, kSizes), "deadlock: rank 0 step 0 (Recv from rank 1) waits for rank 1 step 1 (Send)");
}

TEST(Validator, DeadlockThroughChannelOrder) {
  // Rank 0's second message to rank 1 is ready first but must be posted after the first one,
  // which waits for a message rank 1 only sends after receiving the second.
  std::vector<Schedule> s(2);
  uint32_t r0 = s[0].add(recv(1, out(0, 8)));
  s[0].add(send(1, in(0, 8)), {r0});
  s[0].add(send(1, in(8, 8)));
  uint32_t a = s[1].add(recv(0, out(0, 8)));
  uint32_t b = s[1].add(recv(0, out(8, 8)));
  s[1].add(send(0, in(0, 8)), {b});
  (void)a;
  expectError(validate(s, kSizes), "deadlock");
}

TEST(Validator, OutOfBounds) {
  auto s = exchange();
  s[0].steps[0].src = in(32, 64);
  s[1].steps[1].dst = out(32, 64);
  expectError(validate(s, kSizes), "rank 0 step 0 (Send): span Input[32, +64) out of bounds (Input has 64 bytes)");
  auto t = exchange();
  t[1].add(copy(out(0, 8), scratch(0, 8)), {1});  // no scratchBytes
  expectError(validate(t, kSizes), "span Scratch[0, +8) out of bounds");
}

TEST(Validator, DependencyNotEarlier) {
  auto s = exchange();
  s[0].deps.push_back(1);
  s[0].steps[0].firstDep = 0;
  s[0].steps[0].numDeps = 1;
  expectError(validate(s, kSizes), "rank 0 step 0: depends on step 1, which is not earlier");
}

TEST(Validator, BadPeer) {
  auto s = exchange();
  s[0].steps[0].peer = 0;
  expectError(validate(s, kSizes), "rank 0 step 0 (Send): bad peer 0");
  s[0].steps[0].peer = 5;
  expectError(validate(s, kSizes), "bad peer 5");
}

TEST(Validator, RacingWrites) {
  auto s = exchange();
  s[1].add(copy(in(0, 16), out(8, 16)));  // may run while the Recv writes Output
  expectError(validate(s, kSizes), "race: rank 1 steps 1 (Recv writes Output[0, +64)) and 2 (Copy writes Output[8, +16))");
  // Ordering the copy after the receive fixes it.
  auto t = exchange();
  t[1].add(copy(in(0, 16), out(8, 16)), {1});
  EXPECT_TRUE(validate(t, kSizes).isOk());
}

TEST(Validator, ReadDuringWrite) {
  auto s = exchange();
  s[1].add(send(0, out(0, 8)));  // reads Output while the Recv may still write it
  s[0].add(recv(1, out(0, 8)), {1});
  expectError(validate(s, kSizes), "race: rank 1 steps 1 (Recv writes Output[0, +64)) and 2 (Send reads Output[0, +8))");
}

TEST(Validator, RaceThroughAliasing) {
  // In place (Output = Input), sending Input while receiving into Output races.
  auto s = exchange();
  std::vector<BufferSizes> sizes(2, BufferSizes{64, 64, true, 0});
  expectError(validate(s, sizes), "race: rank 0 steps 0 (Send reads Input[0, +64)) and 1 (Recv writes Output[0, +64))");
  // Output starting 64 bytes into a 128-byte Input: no overlap with Input[0, 64).
  std::vector<BufferSizes> shifted(2, BufferSizes{128, 64, true, 64});
  EXPECT_TRUE(validate(s, shifted).isOk());
  // A Copy of identical bytes is a no-op, not a race.
  std::vector<Schedule> t(1);
  t[0].scratchBytes = 8;
  t[0].add(copy(in(0, 64), out(0, 64)));
  t[0].add(copy(in(0, 8), scratch(0, 8)));
  EXPECT_TRUE(validate(t, {BufferSizes{64, 64, true, 0}}).isOk());
  EXPECT_FALSE(validate(t, {BufferSizes{64, 64, true, 8}}).isOk());  // shifted: a partially overlapping copy
  EXPECT_TRUE(validate(exchange(), kSizes).isOk());
}

TEST(Validator, PartialOverlap) {
  std::vector<Schedule> s(1);
  s[0].add(copy(out(0, 16), out(8, 16)));
  expectError(validate(s, {BufferSizes{0, 64, false, 0}}), "partially overlap");
  std::vector<Schedule> t(1);
  t[0].add(reduce(out(0, 16), out(0, 8)));
  expectError(validate(t, {BufferSizes{0, 64, false, 0}}), "differ in size");
}

TEST(Validator, ZeroByteMessages) {
  std::vector<Schedule> s(2);
  for (int r = 0; r < 2; ++r) {
    s[r].add(send(1 - r, in(0, 0)));
    s[r].add(recv(1 - r, out(0, 0)));
  }
  EXPECT_TRUE(validate(s, std::vector<BufferSizes>(2)).isOk());
}

TEST(Validator, SizesCountMismatch) {
  expectError(validate(exchange(), {BufferSizes{}}), "2 schedules but 1 buffer sizes");
}

TEST(Validator, RaceCheckCanBeSkipped) {
  auto s = exchange();
  s[1].add(copy(in(0, 16), out(8, 16)));
  ValidateOptions o;
  o.checkRaces = false;
  EXPECT_TRUE(validate(s, kSizes, o).isOk());
  o.checkRaces = true;
  o.raceCheckMaxSteps = 2;
  EXPECT_TRUE(validate(s, kSizes, o).isOk());
}

}  // namespace
}  // namespace loom::sched
