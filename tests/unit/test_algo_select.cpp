// The default size rule and LOOM_ALGO parsing, including every error path.
#include <gtest/gtest.h>

#include <utility>

#include "algo/select.hpp"

namespace loom::algo {
namespace {

constexpr size_t K = 1024, M = 1024 * 1024;

TEST(Select, DefaultRule) {
  EXPECT_EQ(chooseAlgo(Coll::AllReduce, 8, 8), Algo::Tree);
  EXPECT_EQ(chooseAlgo(Coll::AllReduce, 64 * K, 8), Algo::Tree);
  EXPECT_EQ(chooseAlgo(Coll::AllReduce, 64 * K + 1, 8), Algo::Rhd);
  EXPECT_EQ(chooseAlgo(Coll::AllReduce, M, 8), Algo::Rhd);
  EXPECT_EQ(chooseAlgo(Coll::AllReduce, M + 1, 8), Algo::Ring);
  EXPECT_EQ(chooseAlgo(Coll::Broadcast, 4 * K, 5), Algo::Tree);
  EXPECT_EQ(chooseAlgo(Coll::Broadcast, 4 * M, 5), Algo::Ring);
  EXPECT_EQ(chooseAlgo(Coll::Reduce, 4 * M, 5), Algo::Ring);
  EXPECT_EQ(chooseAlgo(Coll::AllGather, 4 * K, 8), Algo::Rhd);
  EXPECT_EQ(chooseAlgo(Coll::AllGather, 4 * K, 6), Algo::Ring);
  EXPECT_EQ(chooseAlgo(Coll::AllToAll, 1, 6), Algo::Direct);
  EXPECT_EQ(chooseAlgo(Coll::AllToAllv, 1, 6), Algo::Direct);
  EXPECT_EQ(chooseAlgo(Coll::SendRecv, 1, 6), Algo::Direct);
  EXPECT_EQ(chooseAlgo(Coll::Barrier, 0, 6), Algo::Dissemination);
  EXPECT_EQ(chooseAlgo(Coll::Gather, M, 6), Algo::Direct);
  // Every choice is an implementation of its collective.
  for (size_t c = 0; c < kNumColls; ++c)
    for (size_t bytes : {size_t(0), 100 * K, 10 * M}) {
      auto impl = algorithmsFor(Coll(c));
      EXPECT_NE(std::find(impl.begin(), impl.end(), chooseAlgo(Coll(c), bytes, 7)), impl.end());
    }
}

TEST(Select, EmptyOverrideIsAutomatic) {
  auto ov = parseAlgoOverride("");
  ASSERT_TRUE(ov.isOk());
  EXPECT_TRUE(ov->empty());
  EXPECT_EQ(resolveAlgo(*ov, Coll::AllReduce, 10 * M, 4), Algo::Ring);
  EXPECT_EQ(resolveAlgo(*ov, Coll::AllReduce, 1 * K, 4), Algo::Tree);
}

TEST(Select, BareAlgorithmAppliesWhereImplemented) {
  auto ov = parseAlgoOverride("ring");
  ASSERT_TRUE(ov.isOk());
  EXPECT_EQ(resolveAlgo(*ov, Coll::AllReduce, 8, 4), Algo::Ring);
  EXPECT_EQ(resolveAlgo(*ov, Coll::Broadcast, 8, 4), Algo::Ring);
  EXPECT_EQ(resolveAlgo(*ov, Coll::ReduceScatter, 8, 4), Algo::Ring);
  EXPECT_EQ(resolveAlgo(*ov, Coll::AllToAll, 8, 4), Algo::Direct);
  EXPECT_EQ(resolveAlgo(*ov, Coll::Barrier, 0, 4), Algo::Dissemination);
  EXPECT_EQ(resolveAlgo(*ov, Coll::Gather, 8, 4), Algo::Tree);
}

TEST(Select, RangesPerCollective) {
  auto ov = parseAlgoOverride("allreduce:0-64K=tree,64K-=ring;broadcast=tree");
  ASSERT_TRUE(ov.isOk()) << ov.status().message();
  EXPECT_EQ(resolveAlgo(*ov, Coll::AllReduce, 0, 4), Algo::Tree);
  EXPECT_EQ(resolveAlgo(*ov, Coll::AllReduce, 64 * K - 1, 4), Algo::Tree);
  EXPECT_EQ(resolveAlgo(*ov, Coll::AllReduce, 64 * K, 4), Algo::Ring);  // half-open
  EXPECT_EQ(resolveAlgo(*ov, Coll::AllReduce, 200 * K, 4), Algo::Ring);
  EXPECT_EQ(resolveAlgo(*ov, Coll::Broadcast, 1 * size_t(1) << 30, 4), Algo::Tree);
  EXPECT_EQ(resolveAlgo(*ov, Coll::Reduce, 8, 4), Algo::Tree);  // untouched: default rule
}

TEST(Select, GapsFallBackAndBareAlgoMixes) {
  auto ov = parseAlgoOverride(" rhd ; allreduce : 1M-2M = tree , -1K=ring ;reduce=auto");
  ASSERT_TRUE(ov.isOk()) << ov.status().message();
  EXPECT_EQ(resolveAlgo(*ov, Coll::AllReduce, 512, 4), Algo::Ring);
  EXPECT_EQ(resolveAlgo(*ov, Coll::AllReduce, 1536 * K, 4), Algo::Tree);
  EXPECT_EQ(resolveAlgo(*ov, Coll::AllReduce, 100 * K, 4), Algo::Rhd);   // gap: the bare rhd
  EXPECT_EQ(resolveAlgo(*ov, Coll::AllGather, 100 * M, 4), Algo::Rhd);
  EXPECT_EQ(resolveAlgo(*ov, Coll::Reduce, 100 * M, 4), Algo::Ring);     // auto: default rule
  EXPECT_EQ(resolveAlgo(*ov, Coll::Broadcast, 100 * M, 4), Algo::Ring);  // rhd lacks broadcast
}

void expectError(std::string_view text, const std::string& fragment) {
  auto ov = parseAlgoOverride(text);
  ASSERT_FALSE(ov.isOk()) << text;
  EXPECT_EQ(ov.status().code(), loomInvalidArgument);
  EXPECT_NE(ov.status().message().find(fragment), std::string::npos) << ov.status().message();
}

TEST(Select, BoardWhereItHasAPath) {
  auto ov = parseAlgoOverride("board");
  ASSERT_TRUE(ov.isOk());
  EXPECT_EQ(forcedAlgo(*ov, Coll::AllReduce, 8), Algo::Board);
  EXPECT_EQ(forcedAlgo(*ov, Coll::AllToAll, 8), Algo::Board);
  EXPECT_EQ(forcedAlgo(*ov, Coll::Gather, 8), Algo::Auto) << "no board path: left to the model";
  auto ranged = parseAlgoOverride("broadcast:0-4K=board,4K-=ring");
  ASSERT_TRUE(ranged.isOk());
  EXPECT_EQ(forcedAlgo(*ranged, Coll::Broadcast, 100), Algo::Board);
  EXPECT_EQ(forcedAlgo(*ranged, Coll::Broadcast, 8 * K), Algo::Ring);
  expectError("gather=board", "algorithm board does not implement gather");
}

// Who posts and how many entries each rank reads (own included), as BoardRun runs it and the
// cost model prices it.
TEST(Select, BoardRolesAndWhatImplementsWhat) {
  auto role = [](Coll c, int rank) {
    const BoardRole r = boardRole(c, rank, 1, 4);
    return std::pair{r.posts, r.reads};
  };
  EXPECT_EQ(role(Coll::Broadcast, 1), std::pair(true, 0)) << "the root reads nothing";
  EXPECT_EQ(role(Coll::Broadcast, 2), std::pair(false, 1)) << "the others read the root's entry";
  EXPECT_EQ(role(Coll::Reduce, 1), std::pair(true, 4));
  EXPECT_EQ(role(Coll::Reduce, 0), std::pair(true, 0)) << "a reduce's non-root only posts";
  for (Coll c : {Coll::AllReduce, Coll::AllGather, Coll::ReduceScatter, Coll::AllToAll})
    EXPECT_EQ(role(c, 3), std::pair(true, 4)) << collName(c);
  EXPECT_TRUE(implements(Algo::Board, Coll::AllToAll));
  EXPECT_FALSE(implements(Algo::Board, Coll::Gather));
  EXPECT_TRUE(implements(Algo::Rhd, Coll::AllReduce));
  EXPECT_FALSE(implements(Algo::Dissemination, Coll::AllReduce));
}

TEST(Select, Errors) {
  expectError("rign", "LOOM_ALGO entry 'rign': unknown algorithm 'rign'");
  expectError("allreduc=ring", "unknown collective 'allreduc'");
  expectError("alltoall=ring", "algorithm ring does not implement alltoall");
  expectError("barrier:0-1K=tree", "algorithm tree does not implement barrier");
  expectError("allreduce:0-64K=tre", "unknown algorithm 'tre'");
  expectError("allreduce:64K-1K=ring", "empty range '64K-1K'");
  expectError("allreduce:abc-=ring", "bad size 'abc'");
  expectError("allreduce:0-12Q=ring", "bad size '12Q'");
  expectError("allreduce:0-64K", "lacks '=ALGO'");
  expectError("allreduce:64K=ring", "is not LO-HI, LO- or -HI");
  expectError("allreduce:", "no ranges after ':'");
  expectError("allreduce=", "unknown algorithm ''");
}

}  // namespace
}  // namespace loom::algo
