// Shared by the test_algo_* suites: builds every rank's schedule for one call, validates the
// set, simulates it over real buffers (in place where asked) and compares each rank's result
// element-wise with a reference computed directly from the input formula.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "algo/algorithms.hpp"
#include "algo/layout.hpp"
#include "sched/simulator.hpp"
#include "sched/validator.hpp"

namespace loom::test {

using algo::Algo;
using algo::Coll;
using algo::CollArgs;

template <typename T>
void sumFn(void* d, const void* a, const void* b, size_t n) {
  for (size_t i = 0; i < n; ++i) static_cast<T*>(d)[i] = static_cast<const T*>(a)[i] + static_cast<const T*>(b)[i];
}
template <typename T>
void maxFn(void* d, const void* a, const void* b, size_t n) {
  for (size_t i = 0; i < n; ++i)
    static_cast<T*>(d)[i] = std::max(static_cast<const T*>(a)[i], static_cast<const T*>(b)[i]);
}

// Element i of rank r's Input (as laid out in collective.hpp); distinct per rank and index.
inline int64_t inputValue(int r, size_t i) { return int64_t(r) * 1000003 + int64_t(i % 99991) * 7 + 1; }

struct Case {
  Coll coll = Coll::AllReduce;
  Algo algo = Algo::Ring;
  int nranks = 1;
  size_t count = 0;
  bool inPlace = false;
  int root = 0;
  size_t chunkBytes = 4096;
  uint64_t seed = 1;
  std::vector<int> hostOf = {};  // CollArgs::hostOf (empty: one host)
  bool neighboursFirst = false;  // CollArgs::neighboursFirst
  std::string describe() const {
    std::string hosts;
    for (int h : hostOf) hosts += (hosts.empty() ? " hosts=" : ",") + std::to_string(h);
    return std::string(algo::collName(coll)) + "/" + std::string(algo::algoName(algo)) + " n=" +
           std::to_string(nranks) + " count=" + std::to_string(count) + (inPlace ? " inplace" : "") +
           " root=" + std::to_string(root) + " chunk=" + std::to_string(chunkBytes) + hosts +
           (neighboursFirst ? " neighbours-first" : "");
  }
};

// Alltoallv: rank r sends (r + 2j + count) % 5 + count/3 elements to j, packed with a gap of
// one element between blocks so displacements matter.
inline void alltoallvArgs(CollArgs& a) {
  const int n = a.nranks;
  auto cnt = [&](int from, int to) { return size_t((from + 2 * to + a.count) % 5 + a.count / 3); };
  a.sendCounts.assign(n, 0);
  a.sendDispls.assign(n, 0);
  a.recvCounts.assign(n, 0);
  a.recvDispls.assign(n, 0);
  size_t so = 0, ro = 0;
  for (int j = 0; j < n; ++j) {
    a.sendCounts[j] = cnt(a.rank, j);
    a.sendDispls[j] = so;
    so += a.sendCounts[j] + 1;
    a.recvCounts[j] = cnt(j, a.rank);
    a.recvDispls[j] = ro;
    ro += a.recvCounts[j] + 1;
  }
}

inline CollArgs argsFor(const Case& c, int rank, size_t elemSize) {
  CollArgs a;
  a.coll = c.coll;
  a.rank = rank;
  a.nranks = c.nranks;
  a.count = c.count;
  a.elemSize = elemSize;
  a.root = c.root;
  a.inPlace = c.inPlace;
  a.chunkBytes = c.chunkBytes;
  a.hostOf = c.hostOf;
  a.neighboursFirst = c.neighboursFirst;
  if (c.coll == Coll::AllToAllv) alltoallvArgs(a);
  return a;
}

// Runs one case with element type T and combining op `op` (reference uses the same op).
template <typename T>
testing::AssertionResult runCase(const Case& c, mem::ReduceFn reduce, T (*op)(T, T)) {
  const int n = c.nranks;
  const size_t es = sizeof(T);
  std::vector<CollArgs> args;
  std::vector<sched::Schedule> scheds;
  std::vector<sched::BufferSizes> sizes;
  for (int r = 0; r < n; ++r) {
    args.push_back(argsFor(c, r, es));
    auto s = algo::makeSchedule(c.algo, args.back());
    if (!s) return testing::AssertionFailure() << c.describe() << ": makeSchedule: " << s.status().message();
    scheds.push_back(std::move(*s));
    sizes.push_back(algo::bufferSizes(args.back()));
  }
  if (Status st = sched::validate(scheds, sizes); !st)
    return testing::AssertionFailure() << c.describe() << ": validate: " << st.message();

  // Storage: one region per rank holding Input and Output (overlapping when aliased).
  std::vector<std::vector<T>> inStore(n), outStore(n);
  std::vector<sched::RankBuffers> bufs(n);
  std::vector<std::vector<T>> inputs(n);  // the pristine Input, for the reference
  const T garbage = static_cast<T>(-777);
  for (int r = 0; r < n; ++r) {
    const auto& z = sizes[r];
    inputs[r].resize(z.inputBytes / es);
    for (size_t i = 0; i < inputs[r].size(); ++i) inputs[r][i] = static_cast<T>(inputValue(r, i));
    if (z.aliased) {
      int64_t inBase = std::max<int64_t>(0, -z.outputOffset), outBase = inBase + z.outputOffset;
      size_t total = std::max<int64_t>(inBase + z.inputBytes, outBase + z.outputBytes);
      inStore[r].assign(total / es + 1, garbage);
      T* base = inStore[r].data();
      bufs[r] = {base + inBase / es, z.inputBytes, base + outBase / es, z.outputBytes};
    } else {
      inStore[r].assign(z.inputBytes / es + 1, garbage);
      outStore[r].assign(z.outputBytes / es + 1, garbage);
      bufs[r] = {inStore[r].data(), z.inputBytes, outStore[r].data(), z.outputBytes};
    }
    std::copy(inputs[r].begin(), inputs[r].end(), static_cast<T*>(bufs[r].input));
  }
  if (Status st = sched::simulate(scheds, bufs, reduce, es, c.seed); !st)
    return testing::AssertionFailure() << c.describe() << ": simulate: " << st.message();

  const size_t cnt = c.count;
  auto in = [&](int r, size_t i) { return inputs[r][i]; };
  auto combine = [&](auto at) {
    T v = at(0);
    for (int q = 1; q < n; ++q) v = op(v, at(q));
    return v;
  };
  for (int r = 0; r < n; ++r) {
    const T* o = static_cast<const T*>(bufs[r].output);
    std::vector<T> want;  // empty means "Output undefined on this rank"
    switch (c.coll) {
      case Coll::AllReduce:
        for (size_t i = 0; i < cnt; ++i) want.push_back(combine([&](int q) { return in(q, i); }));
        break;
      case Coll::Reduce:
        if (r == c.root)
          for (size_t i = 0; i < cnt; ++i) want.push_back(combine([&](int q) { return in(q, i); }));
        break;
      case Coll::Broadcast:
        for (size_t i = 0; i < cnt; ++i) want.push_back(in(c.root, i));
        break;
      case Coll::AllGather:
        for (int j = 0; j < n; ++j)
          for (size_t i = 0; i < cnt; ++i) want.push_back(in(j, i));
        break;
      case Coll::ReduceScatter:
        for (size_t i = 0; i < cnt; ++i) want.push_back(combine([&](int q) { return in(q, r * cnt + i); }));
        break;
      case Coll::AllToAll:
        for (int j = 0; j < n; ++j)
          for (size_t i = 0; i < cnt; ++i) want.push_back(in(j, r * cnt + i));
        break;
      case Coll::Gather:
        if (r == c.root)
          for (int j = 0; j < n; ++j)
            for (size_t i = 0; i < cnt; ++i) want.push_back(in(j, i));
        break;
      case Coll::Scatter:
        for (size_t i = 0; i < cnt; ++i) want.push_back(in(c.root, r * cnt + i));
        break;
      case Coll::AllToAllv: {
        // Gaps stay as they were (garbage, or the in-place input).
        want.resize(sizes[r].outputBytes / es);
        for (size_t i = 0; i < want.size(); ++i) want[i] = o[i];
        for (int j = 0; j < n; ++j)
          for (size_t i = 0; i < args[r].recvCounts[j]; ++i)
            want[args[r].recvDispls[j] + i] = in(j, args[j].sendDispls[r] + i);
        break;
      }
      default: break;
    }
    for (size_t i = 0; i < want.size(); ++i)
      if (o[i] != want[i])
        return testing::AssertionFailure() << c.describe() << ": rank " << r << " output[" << i << "] = " << +o[i]
                                           << ", want " << +want[i];
    if (!c.inPlace) {  // out of place, Input is read-only
      const T* ip = static_cast<const T*>(bufs[r].input);
      for (size_t i = 0; i < inputs[r].size(); ++i)
        if (ip[i] != inputs[r][i])
          return testing::AssertionFailure() << c.describe() << ": rank " << r << " input[" << i << "] modified";
    }
  }
  return testing::AssertionSuccess();
}

template <typename T>
T addOp(T a, T b) {
  return a + b;
}
template <typename T>
T maxOp(T a, T b) {
  return std::max(a, b);
}

inline testing::AssertionResult runInt64Sum(const Case& c) { return runCase<int64_t>(c, sumFn<int64_t>, addOp<int64_t>); }

}  // namespace loom::test
