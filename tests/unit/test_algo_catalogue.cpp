// Catalogue metadata, argument checking (exact error codes), buffer layouts, send/recv groups.
#include "test_algo_harness.hpp"

namespace loom::test {
namespace {

CollArgs base(Coll c, int n = 4, int rank = 0) {
  CollArgs a;
  a.coll = c;
  a.nranks = n;
  a.rank = rank;
  a.count = 10;
  a.elemSize = 4;
  return a;
}

void expectInvalid(Algo algo, const CollArgs& a, const std::string& fragment) {
  auto s = algo::makeSchedule(algo, a);
  ASSERT_FALSE(s.isOk());
  EXPECT_EQ(s.status().code(), loomInvalidArgument);
  EXPECT_NE(s.status().message().find(fragment), std::string::npos) << s.status().message();
}

TEST(Catalogue, NamesRoundTrip) {
  for (Algo a : {Algo::Auto, Algo::Ring, Algo::Rhd, Algo::Tree, Algo::Direct, Algo::Dissemination}) {
    Algo back = Algo::Ring;
    ASSERT_TRUE(algo::parseAlgo(algo::algoName(a), &back));
    EXPECT_EQ(back, a);
  }
  Algo x;
  EXPECT_FALSE(algo::parseAlgo("rings", &x));
  EXPECT_EQ(algo::collName(Coll::ReduceScatter), "reducescatter");
  EXPECT_EQ(algo::algorithmsFor(Coll::AllReduce).front(), Algo::Ring);
  auto barrier = algo::algorithmsFor(Coll::Barrier);
  EXPECT_EQ(std::vector<Algo>(barrier.begin(), barrier.end()), std::vector<Algo>{Algo::Dissemination});
}

TEST(Catalogue, RejectsImpossibleRequests) {
  expectInvalid(Algo::Rhd, base(Coll::Broadcast), "algorithm rhd does not implement broadcast");
  expectInvalid(Algo::Auto, base(Coll::AllReduce), "not auto");
  expectInvalid(Algo::Ring, base(Coll::AllReduce, 4, 4), "rank 4 out of range [0, 4)");
  expectInvalid(Algo::Ring, base(Coll::AllReduce, 4, -1), "rank -1 out of range");
  expectInvalid(Algo::Ring, base(Coll::AllReduce, 0, 0), "nranks 0 < 1");
  auto a = base(Coll::Broadcast);
  a.root = 7;
  expectInvalid(Algo::Tree, a, "root 7 out of range [0, 4)");
  a.root = -2;
  expectInvalid(Algo::Ring, a, "root -2 out of range");
  auto e = base(Coll::AllReduce);
  e.elemSize = 0;
  expectInvalid(Algo::Ring, e, "element size 0");
  auto big = base(Coll::AllGather);
  big.count = SIZE_MAX / 2;
  expectInvalid(Algo::Ring, big, "overflows");
  auto v = base(Coll::AllToAllv);
  v.sendCounts = {1, 1, 1};
  v.sendDispls = {0, 1, 2, 3};
  v.recvCounts = v.recvDispls = {0, 0, 0, 0};
  expectInvalid(Algo::Direct, v, "alltoallv needs 4 send/recv counts and displacements, got 3/4/4/4");
  v.sendCounts = {1, 1, 1, 1};
  v.recvCounts = {2, 1, 1, 1};  // rank 0 sends itself 1 but receives 2
  expectInvalid(Algo::Direct, v, "rank 0 sends 1 elements to itself but receives 2");
  auto p = base(Coll::SendRecv);
  p.p2p = {{true, 9, 8, 0}};
  expectInvalid(Algo::Direct, p, "p2p op 0 peer 9 out of range");
  p.p2p = {{false, 0, 8, 0}};
  expectInvalid(Algo::Direct, p, "receive from self (rank 0) without a matching send");
  p.p2p = {{true, 0, 8, 0}, {false, 0, 4, 0}};
  expectInvalid(Algo::Direct, p, "receive from self of 4 bytes matches a send of 8");
  p.p2p = {{true, 0, 8, 0}};
  expectInvalid(Algo::Direct, p, "sends to itself 1 times but receives 0");
}

TEST(Catalogue, CountZeroIsEmpty) {
  for (Coll c : {Coll::AllReduce, Coll::Broadcast, Coll::Reduce, Coll::AllGather, Coll::ReduceScatter,
                 Coll::AllToAll, Coll::Gather, Coll::Scatter})
    for (Algo a : algo::algorithmsFor(c)) {
      auto args = base(c, 5, 2);
      args.count = 0;
      auto s = algo::makeSchedule(a, args);
      ASSERT_TRUE(s.isOk());
      EXPECT_TRUE(s->steps.empty()) << algo::collName(c) << "/" << algo::algoName(a);
    }
}

TEST(Catalogue, BufferLayouts) {
  auto a = base(Coll::AllGather, 4, 2);
  a.inPlace = true;
  auto z = algo::bufferSizes(a);
  EXPECT_EQ(z.inputBytes, 40u);
  EXPECT_EQ(z.outputBytes, 160u);
  EXPECT_TRUE(z.aliased);
  EXPECT_EQ(z.outputOffset, -80);
  auto g = base(Coll::Gather, 4, 1);
  g.root = 2;
  z = algo::bufferSizes(g);
  EXPECT_EQ(z.outputBytes, 0u);  // not the root
  auto sc = base(Coll::Scatter, 4, 3);
  sc.root = 3;
  sc.inPlace = true;
  z = algo::bufferSizes(sc);
  EXPECT_EQ(z.inputBytes, 160u);
  EXPECT_EQ(z.outputOffset, 120);
}

TEST(Catalogue, SchedulesNameTheirAlgorithm) {
  auto s = algo::makeSchedule(Algo::Rhd, base(Coll::AllReduce));
  ASSERT_TRUE(s.isOk());
  EXPECT_EQ(s->algorithm, "rhd");
}

// A send/recv group: each rank sends to r+1 and r+3 and to itself, receives the matching
// messages; one step per op, no dependencies, self pairs become copies.
TEST(SendRecv, GroupOfPointToPoint) {
  for (int n : {1, 2, 3, 5, 8}) {
    std::vector<CollArgs> args(n);
    std::vector<sched::Schedule> scheds;
    std::vector<sched::BufferSizes> sizes;
    auto bytesOf = [](int from, int to) { return size_t(8 * ((from + 2 * to) % 4 + 1)); };
    for (int r = 0; r < n; ++r) {
      CollArgs& a = args[r];
      a.coll = Coll::SendRecv;
      a.nranks = n;
      a.rank = r;
      a.elemSize = 8;
      size_t so = 0, ro = 0;
      for (int d : {1, 3, 0}) {
        int to = (r + d) % n, from = (r - d % n + n) % n;
        a.p2p.push_back({true, to, bytesOf(r, to), so});
        so += bytesOf(r, to);
        a.p2p.push_back({false, from, bytesOf(from, r), ro});
        ro += bytesOf(from, r);
      }
      auto s = algo::makeSchedule(Algo::Direct, a);
      ASSERT_TRUE(s.isOk()) << s.status().message();
      for (const auto& st : s->steps) EXPECT_EQ(st.numDeps, 0u);
      scheds.push_back(*s);
      sizes.push_back(algo::bufferSizes(a));
    }
    ASSERT_TRUE(sched::validate(scheds, sizes).isOk()) << n;
    std::vector<std::vector<int64_t>> in(n), out(n);
    std::vector<sched::RankBuffers> bufs(n);
    for (int r = 0; r < n; ++r) {
      in[r].resize(sizes[r].inputBytes / 8);
      for (size_t i = 0; i < in[r].size(); ++i) in[r][i] = inputValue(r, i);
      out[r].assign(sizes[r].outputBytes / 8, -1);
      bufs[r] = {in[r].data(), sizes[r].inputBytes, out[r].data(), sizes[r].outputBytes};
    }
    ASSERT_TRUE(sched::simulate(scheds, bufs, sumFn<int64_t>, 8, n).isOk());
    // Receive k of rank r from `from` equals the send of `from` to r with the same distance d;
    // when several ops pair the same ranks (small n), FIFO order pairs them in op order.
    for (int r = 0; r < n; ++r) {
      std::vector<const algo::P2pOp*> seen;
      for (const auto& op : args[r].p2p) {
        if (op.isSend) continue;
        int k = 0;
        for (const auto* prev : seen) k += prev->peer == op.peer;
        seen.push_back(&op);
        const algo::P2pOp* match = nullptr;
        for (const auto& sop : args[op.peer].p2p)
          if (sop.isSend && sop.peer == r && k-- == 0) {
            match = &sop;
            break;
          }
        ASSERT_NE(match, nullptr);
        for (size_t i = 0; i < op.bytes / 8; ++i)
          EXPECT_EQ(out[r][op.offset / 8 + i], in[op.peer][match->offset / 8 + i]) << "n=" << n << " r=" << r;
      }
    }
  }
}

}  // namespace
}  // namespace loom::test
