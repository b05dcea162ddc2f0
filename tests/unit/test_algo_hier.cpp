// Hierarchical algorithms (Algo::Hier): every host mapping shape (one host, equal hosts in
// contiguous and interleaved rank order, unequal hosts, one rank per host) x odd counts x in
// place / out of place x roots, validated and simulated against a closed-form reference; and
// the reason hier exists: the bytes that cross hosts, against their closed form and a flat ring.
#include <map>
#include <set>

#include "test_algo_harness.hpp"

namespace loom::test {
namespace {

struct Mapping {
  const char* name;
  std::vector<int> hostOf;  // empty: one host of `n` ranks
  int n;
};

const std::vector<Mapping> kMappings = {
    {"one host", {}, 4},
    {"one host, sparse id", {7, 7, 7}, 3},
    {"2x2", {0, 0, 1, 1}, 4},
    {"2x3", {0, 0, 0, 1, 1, 1}, 6},
    {"3x2", {0, 0, 1, 1, 2, 2}, 6},
    {"4x2", {0, 0, 1, 1, 2, 2, 3, 3}, 8},
    {"uneven 3+1", {0, 0, 0, 1}, 4},
    {"uneven 2+1+2", {0, 0, 1, 2, 2}, 5},
    {"uneven scrambled", {5, 0, 5, 2, 0, 5}, 6},
    {"own host each", {0, 1, 2, 3, 4}, 5},
    {"interleaved r%2", {0, 1, 0, 1, 0, 1}, 6},
    {"interleaved r%3", {0, 1, 2, 0, 1, 2}, 6},
    {"two ranks apart", {1, 0}, 2},
    {"single rank", {3}, 1},
};

const std::vector<Coll> kColls = {Coll::AllReduce, Coll::AllGather, Coll::ReduceScatter, Coll::Broadcast};

TEST(Hier, Catalogue) {
  Algo a = Algo::Ring;
  ASSERT_TRUE(algo::parseAlgo("hier", &a));
  EXPECT_EQ(a, Algo::Hier);
  EXPECT_EQ(algo::algoName(Algo::Hier), "hier");
  for (Coll c : kColls) EXPECT_EQ(algo::algorithmsFor(c).back(), Algo::Hier) << algo::collName(c);
  for (Coll c : {Coll::Reduce, Coll::AllToAll, Coll::Gather, Coll::Scatter, Coll::Barrier}) {
    auto v = algo::algorithmsFor(c);
    EXPECT_EQ(std::find(v.begin(), v.end(), Algo::Hier), v.end()) << algo::collName(c);
  }
}

TEST(Hier, RejectsBadHostOf) {
  CollArgs a;
  a.nranks = 4;
  a.count = 10;
  a.elemSize = 4;
  auto expect = [&](Algo algo, const std::string& fragment) {
    auto s = algo::makeSchedule(algo, a);
    ASSERT_FALSE(s.isOk());
    EXPECT_EQ(s.status().code(), loomInvalidArgument);
    EXPECT_NE(s.status().message().find(fragment), std::string::npos) << s.status().message();
  };
  a.hostOf = {0, 0, 1};
  expect(Algo::Hier, "hostOf has 3 entries for 4 ranks");
  a.hostOf = {0, 0, -1, 1};
  expect(Algo::Hier, "hostOf[2] = -1 is negative");
  expect(Algo::Ring, "hostOf[2] = -1 is negative");  // checked for every algorithm
  a.hostOf = {0, 0, 1, 1};
  EXPECT_TRUE(algo::makeSchedule(Algo::Hier, a).isOk());
}

std::vector<int> rootsFor(Coll c, int n) {
  if (c != Coll::Broadcast) return {0};
  std::vector<int> v(n);
  for (int r = 0; r < n; ++r) v[r] = r;
  return v;
}

TEST(Hier, AllMappingsAllShapes) {
  const size_t chunk = 4096, ce = chunk / sizeof(int64_t);
  const std::vector<std::pair<size_t, size_t>> shapes = {{0, chunk},      {1, chunk},      {7, chunk},  {1023, chunk},
                                                         {ce - 1, chunk}, {ce + 1, chunk}, {1023, 40}, {37, 8}};
  int cases = 0;
  for (const Mapping& m : kMappings)
    for (Coll coll : kColls)
      for (auto [count, chunkBytes] : shapes)
        for (bool inPlace : {false, true})
          for (int root : rootsFor(coll, m.n)) {
            Case c{coll, Algo::Hier, m.n, count, inPlace, root, chunkBytes,
                   uint64_t(m.n * 7919 + count * 31 + root * 3 + inPlace + cases), m.hostOf};
            ASSERT_TRUE(runInt64Sum(c)) << m.name;
            ++cases;
          }
  RecordProperty("cases", cases);
}

TEST(Hier, OtherTypesAndSeeds) {
  for (const Mapping& m : kMappings)
    for (Coll coll : {Coll::AllReduce, Coll::ReduceScatter})
      for (bool inPlace : {false, true}) {
        Case c{coll, Algo::Hier, m.n, 29, inPlace, 0, 24, 3, m.hostOf};
        ASSERT_TRUE((runCase<int32_t>(c, sumFn<int32_t>, addOp<int32_t>))) << m.name;
        ASSERT_TRUE((runCase<float>(c, maxFn<float>, maxOp<float>))) << m.name;
      }
  for (uint64_t seed = 1; seed <= 20; ++seed)
    for (Coll coll : kColls)
      for (const std::vector<int>& hosts : {std::vector<int>{0, 1, 0, 1, 0, 1}, std::vector<int>{0, 0, 1, 2, 2, 2}}) {
        Case c{coll, Algo::Hier, 6, 41, seed % 2 == 0, int(seed % 6), 16, seed, hosts};
        ASSERT_TRUE(runInt64Sum(c));
      }
}

TEST(Hier, LargeOdd) {
  const size_t count = (1u << 17) + 3;
  for (Coll coll : kColls)
    for (const std::vector<int>& hosts : {std::vector<int>{0, 0, 1, 1}, std::vector<int>{0, 1, 1, 1}}) {
      Case c{coll, Algo::Hier, 4, count, hosts[1] == 1, 3, 64 * 1024, 11, hosts};
      ASSERT_TRUE(runInt64Sum(c));
    }
}

// Bytes sent between ranks on different hosts, in all ranks' schedules together, and the
// most any one rank sends across hosts.
struct Cross {
  size_t total = 0, maxPerRank = 0;
};
Cross crossHostBytes(Coll coll, Algo algo, const std::vector<int>& hostOf, size_t count, int root = 0) {
  const int n = static_cast<int>(hostOf.size());
  Cross x;
  for (int r = 0; r < n; ++r) {
    Case c{coll, algo, n, count, false, root, 4096, 1, hostOf};
    auto s = algo::makeSchedule(algo, argsFor(c, r, sizeof(int64_t)));
    EXPECT_TRUE(s.isOk());
    if (!s) return x;
    size_t mine = 0;
    for (const auto& st : s->steps)
      if (st.kind == sched::StepKind::Send && hostOf[st.peer] != hostOf[r]) mine += st.src.bytes;
    x.total += mine;
    x.maxPerRank = std::max(x.maxPerRank, mine);
  }
  return x;
}

// The closed forms (B = count * 8 bytes per rank, H hosts, n ranks), exact for every mapping:
//   allreduce 2(H-1)B (rail i reduces and gathers shard i; leaders the whole buffer);
//   allgather and reducescatter n(H-1)B (each host receives, or sends on, the n-L_h blocks of
//   the other hosts: the least possible); broadcast (H-1)B.
TEST(Hier, CrossHostBytesMatchClosedForm) {
  const size_t count = 1001, B = count * sizeof(int64_t);
  for (const Mapping& m : kMappings) {
    if (m.hostOf.empty()) continue;
    const size_t n = m.hostOf.size(), H = std::set<int>(m.hostOf.begin(), m.hostOf.end()).size();
    EXPECT_EQ(crossHostBytes(Coll::AllReduce, Algo::Hier, m.hostOf, count).total, 2 * (H - 1) * B) << m.name;
    EXPECT_EQ(crossHostBytes(Coll::AllGather, Algo::Hier, m.hostOf, count).total, n * (H - 1) * B) << m.name;
    EXPECT_EQ(crossHostBytes(Coll::ReduceScatter, Algo::Hier, m.hostOf, count).total, n * (H - 1) * B) << m.name;
    for (int root = 0; root < int(n); ++root)
      EXPECT_EQ(crossHostBytes(Coll::Broadcast, Algo::Hier, m.hostOf, count, root).total, (H - 1) * B) << m.name;
  }
}

// Rail allreduce spreads the inter-host traffic over every rank (one NIC each): a rank sends
// 2(H-1)/H of its shard of about B/L, up to rounding of the balanced pieces.
TEST(Hier, RailSpreadsInterHostTraffic) {
  const size_t count = 1001;
  for (const Mapping& m : kMappings) {
    if (m.hostOf.empty()) continue;
    std::map<int, int> sizes;
    for (int h : m.hostOf) ++sizes[h];
    const size_t H = sizes.size(), L = sizes.begin()->second;
    bool rail = true;
    for (auto [h, k] : sizes) rail = rail && size_t(k) == L;
    if (!rail || H < 2) continue;
    const size_t shard = (count + L - 1) / L, piece = (shard + H - 1) / H;
    EXPECT_LE(crossHostBytes(Coll::AllReduce, Algo::Hier, m.hostOf, count).maxPerRank,
              2 * (H - 1) * piece * sizeof(int64_t))
        << m.name;
  }
}

// Some host's ranks are not consecutive.
bool interleaved(const std::vector<int>& hostOf) {
  std::set<int> done;
  for (size_t r = 0; r < hostOf.size(); ++r) {
    if (r > 0 && hostOf[r] != hostOf[r - 1] && !done.insert(hostOf[r - 1]).second) return true;
    if (done.count(hostOf[r])) return true;
  }
  return false;
}

// Hier never sends more across hosts than the flat ring over the same mapping, and much less
// when a host holds several ranks; the measured numbers go to the test's XML properties.
TEST(Hier, BeatsFlatRingAcrossHosts) {
  const size_t count = 1001;
  for (const Mapping& m : kMappings) {
    if (m.hostOf.empty()) continue;
    const size_t n = m.hostOf.size(), H = std::set<int>(m.hostOf.begin(), m.hostOf.end()).size();
    for (Coll coll : kColls) {
      const size_t hier = crossHostBytes(coll, Algo::Hier, m.hostOf, count).total;
      const size_t ring = crossHostBytes(coll, Algo::Ring, m.hostOf, count).total;
      EXPECT_LE(hier, ring) << m.name << " " << algo::collName(coll);
      // A broadcast chain over contiguous hosts already crosses each host boundary once.
      const bool strict = H < n && H > 1 && (coll != Coll::Broadcast || interleaved(m.hostOf));
      if (strict) {
        EXPECT_LT(hier, ring) << m.name << " " << algo::collName(coll);
      }
      RecordProperty(std::string(m.name) + " " + std::string(algo::collName(coll)),
                     std::to_string(hier) + " vs ring " + std::to_string(ring));
    }
  }
}

}  // namespace
}  // namespace loom::test
