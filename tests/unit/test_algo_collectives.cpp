// Every collective x every algorithm implementing it x rank counts x odd counts x in place /
// out of place x roots: validate, simulate with real data, compare with a closed-form reference.
#include <set>

#include "test_algo_harness.hpp"

namespace loom::test {
namespace {

const std::vector<Coll> kColls = {Coll::AllReduce, Coll::Broadcast, Coll::Reduce,   Coll::AllGather,
                                  Coll::ReduceScatter, Coll::AllToAll, Coll::AllToAllv, Coll::Gather,
                                  Coll::Scatter,  Coll::Barrier};
const std::vector<int> kRanks = {1, 2, 3, 4, 5, 6, 7, 8, 11, 16};

bool rooted(Coll c) { return c == Coll::Broadcast || c == Coll::Reduce || c == Coll::Gather || c == Coll::Scatter; }

std::vector<int> rootsFor(Coll c, int n) {
  if (!rooted(c)) return {0};
  std::set<int> s = {0, n - 1, n / 2};
  return {s.begin(), s.end()};
}

// One parameterised test per (collective, algorithm), sweeping everything else.
struct CollAlgo {
  Coll coll;
  Algo algo;
};

class Sweep : public testing::TestWithParam<CollAlgo> {};

TEST_P(Sweep, AllShapes) {
  const auto [coll, algo] = GetParam();
  const size_t chunk = 4096, chunkElems = chunk / sizeof(int64_t);
  // count, chunkBytes: the odd sizes, chunk +- 1 element, and many tiny odd chunks.
  const std::vector<std::pair<size_t, size_t>> shapes = {{0, chunk},    {1, chunk},
                                                         {2, chunk},    {7, chunk},
                                                         {1023, chunk}, {chunkElems - 1, chunk},
                                                         {chunkElems + 1, chunk}, {1023, 40}};
  int cases = 0;
  for (int n : kRanks)
    for (auto [count, chunkBytes] : shapes)
      for (bool inPlace : {false, true})
        for (int root : rootsFor(coll, n)) {
          Case c{coll, algo, n, count, inPlace, root, chunkBytes, uint64_t(n * 7919 + count * 31 + root * 3 + inPlace)};
          ASSERT_TRUE(runInt64Sum(c));
          ++cases;
        }
  RecordProperty("cases", cases);
}

std::vector<CollAlgo> allPairs() {
  std::vector<CollAlgo> v;
  for (Coll c : kColls)
    for (Algo a : algo::algorithmsFor(c)) v.push_back({c, a});
  return v;
}

INSTANTIATE_TEST_SUITE_P(Catalogue, Sweep, testing::ValuesIn(allPairs()), [](const auto& info) {
  return std::string(algo::collName(info.param.coll)) + "_" + std::string(algo::algoName(info.param.algo));
});

// 1 Mi + 3 elements (8 MiB per rank block) with the default chunk size, for a few rank counts.
TEST(Large, OddMillion) {
  const size_t count = (1u << 20) + 3;
  for (Coll coll : {Coll::AllReduce, Coll::Broadcast, Coll::Reduce, Coll::AllGather, Coll::ReduceScatter})
    for (Algo algo : algo::algorithmsFor(coll))
      for (int n : {3, 4}) {
        if (algo == Algo::Hier) continue;  // one host: the ring's schedule; test_algo_hier covers it
        const bool inPlace = n == 3;  // one of each, to keep the suite quick
        Case c{coll, algo, n, count, inPlace, n - 1, 512 * 1024, 42};
        ASSERT_TRUE(runInt64Sum(c));
      }
  Case a2a{Coll::AllToAll, Algo::Direct, 3, count / 4, true, 0, 512 * 1024, 5};
  ASSERT_TRUE(runInt64Sum(a2a));
}

// Other element sizes and ops: int32 sum and float max through the reducing collectives.
TEST(ElementTypes, Int32SumAndFloatMax) {
  for (Coll coll : {Coll::AllReduce, Coll::Reduce, Coll::ReduceScatter})
    for (Algo algo : algo::algorithmsFor(coll))
      for (int n : {2, 3, 5, 8})
        for (size_t count : {size_t(1), size_t(7), size_t(1029)})
          for (bool inPlace : {false, true}) {
            Case c{coll, algo, n, count, inPlace, n / 2, 256, uint64_t(count + n)};
            ASSERT_TRUE((runCase<int32_t>(c, sumFn<int32_t>, addOp<int32_t>)));
            ASSERT_TRUE((runCase<float>(c, maxFn<float>, maxOp<float>)));
          }
}

// Random interleavings: the same case under many seeds.
TEST(Seeds, ManyOrders) {
  for (uint64_t seed = 1; seed <= 25; ++seed)
    for (Coll coll : {Coll::AllReduce, Coll::ReduceScatter, Coll::AllGather, Coll::AllToAll})
      for (Algo algo : algo::algorithmsFor(coll)) {
        Case c{coll, algo, 6, 37, seed % 2 == 0, 0, 16, seed};
        ASSERT_TRUE(runInt64Sum(c));
      }
}

// The broadcast and reduce trees: neighbours first (distance doubling) where CollArgs asks for
// it (crowded ranks bound round-robin put the next rank on another CPU), else distance halving
// (one crossing between blocks of ranks, first). Both shapes reduce and broadcast correctly from
// every root (test_cost_model.cpp: where the library asks for neighbours first).
int firstSendPeer(Coll coll, int n, int rank, int root, bool neighboursFirst) {
  Case c{coll, Algo::Tree, n, 5, false, root, 4096, 1, {}, neighboursFirst};
  auto s = algo::makeSchedule(Algo::Tree, argsFor(c, rank, sizeof(int64_t)));
  EXPECT_TRUE(s.isOk());
  if (!s) return -1;
  for (const auto& st : s->steps)
    if (st.kind == sched::StepKind::Send) return st.peer;
  return -1;
}

TEST(Tree, NeighboursFirstOnlyWhereAsked) {
  EXPECT_EQ(firstSendPeer(Coll::Broadcast, 4, 0, 0, true), 1);
  EXPECT_EQ(firstSendPeer(Coll::Broadcast, 4, 2, 2, true), 3);
  EXPECT_EQ(firstSendPeer(Coll::Broadcast, 8, 1, 0, true), 3);  // 1's subtree: {1, 3, 5, 7}
  EXPECT_EQ(firstSendPeer(Coll::Broadcast, 4, 0, 0, false), 2);
  EXPECT_EQ(firstSendPeer(Coll::Broadcast, 8, 0, 0, false), 4);
  // A reduce mirrors it: with neighbours first the root's last partner is the next rank.
  EXPECT_EQ(firstSendPeer(Coll::Reduce, 4, 1, 0, true), 0);
  EXPECT_EQ(firstSendPeer(Coll::Reduce, 4, 3, 0, true), 1);
  EXPECT_EQ(firstSendPeer(Coll::Reduce, 4, 1, 0, false), 0);
  EXPECT_EQ(firstSendPeer(Coll::Reduce, 4, 3, 0, false), 2);
  for (bool neighboursFirst : {false, true})
    for (int n : {1, 2, 3, 4, 5, 7, 8, 11})
      for (Coll coll : {Coll::Broadcast, Coll::Reduce, Coll::AllReduce})
        for (int root = 0; root < (coll == Coll::AllReduce ? 1 : n); ++root)
          for (bool inPlace : {false, true}) {
            Case c{coll, Algo::Tree, n, 29, inPlace, root, 4096, uint64_t(n * 31 + root), {}, neighboursFirst};
            ASSERT_TRUE(runInt64Sum(c));
          }
}

}  // namespace
}  // namespace loom::test
