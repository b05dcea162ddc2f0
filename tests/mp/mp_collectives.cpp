// Multi-process check run under loomrun (or mpirun, torchrun, srun variables): every collective
// x type x op, in place and out of place, compared element-wise with a reference each rank
// computes by itself. Prints one line per failure and a summary; exits 1 on any wrong result.
//
// usage: mp_collectives [--counts 0,1,7,1023] [--types all|float,int32,...] [--colls all|allreduce,...]
//                       [--big BYTES]   (one extra allreduce/allgather pass of that size, float32)
#include <loom/loom.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "check_values.hpp"

using namespace loomtest;

namespace {

int rank = 0, nranks = 1;
loomComm_t comm = nullptr;
long checks = 0, failures = 0;

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

bool wanted(const std::vector<std::string>& list, const char* name) {
  if (list.empty() || list[0] == "all") return true;
  for (const auto& s : list)
    if (s == name) return true;
  return false;
}

void report(const char* what, loomDataType_t t, loomRedOp_t op, size_t count, bool inPlace, const char* detail) {
  ++failures;
  if (failures <= 20)
    std::fprintf(stderr, "rank %d: WRONG %s type=%s op=%d count=%zu %s: %s\n", rank, what, loom::mem::typeName(t),
                 static_cast<int>(op), count, inPlace ? "in-place" : "out-of-place", detail);
}

// Runs the call and reports a non-success code.
bool ok(loomResult_t r, const char* what, loomDataType_t t, loomRedOp_t op, size_t count, bool inPlace) {
  if (r == loomSuccess) return true;
  char msg[512];
  std::snprintf(msg, sizeof msg, "returned %s: %s", loomGetErrorString(r), loomGetLastError(comm));
  report(what, t, op, count, inPlace, msg);
  return false;
}

// Checks out[0..count) against expect(i) (an integer-valued reference).
void verify(const char* what, loomDataType_t t, loomRedOp_t op, size_t count, bool inPlace, const void* out,
            const std::function<int64_t(size_t)>& expect, loomRedOp_t cmpOp = loomSum) {
  ++checks;
  for (size_t i = 0; i < count; ++i) {
    if (!matches(t, cmpOp, nranks, out, i, expect(i))) {
      char msg[256];
      std::snprintf(msg, sizeof msg, "element %zu is %g, expected %lld", i, loom::mem::loadAsDouble(t, out, i),
                    static_cast<long long>(expect(i)));
      report(what, t, op, count, inPlace, msg);
      return;
    }
  }
}

using Buf = std::vector<uint8_t>;

void checkAllReduce(loomDataType_t t, loomRedOp_t op, size_t n, bool inPlace, bool reduceOnly, int root) {
  const size_t sz = loom::mem::typeSize(t);
  Buf in(n * sz + 1), out(n * sz + 1, 0xee);
  fillInput(t, op, rank, in.data(), 0, n);
  void* recv = inPlace ? in.data() : out.data();
  const char* what = reduceOnly ? "reduce" : "allreduce";
  loomResult_t r = reduceOnly ? loomReduce(in.data(), recv, n, t, op, root, comm, nullptr)
                              : loomAllReduce(in.data(), recv, n, t, op, comm, nullptr);
  if (!ok(r, what, t, op, n, inPlace)) return;
  if (reduceOnly && rank != root) return;
  verify(what, t, op, n, inPlace, recv, [&](size_t i) { return reduced(t, op, nranks, i); }, op);
}

void checkBroadcast(loomDataType_t t, size_t n, bool inPlace, int root) {
  const size_t sz = loom::mem::typeSize(t);
  Buf in(n * sz + 1), out(n * sz + 1, 0xee);
  fillInput(t, loomSum, rank == root ? root : rank + 100, in.data(), 0, n);
  void* recv = inPlace ? in.data() : out.data();
  if (!ok(loomBroadcast(in.data(), recv, n, t, root, comm, nullptr), "broadcast", t, loomSum, n, inPlace)) return;
  verify("broadcast", t, loomSum, n, inPlace, recv, [&](size_t i) { return inputValue(t, loomSum, root, i); });
}

void checkAllGather(loomDataType_t t, size_t n, bool inPlace) {
  const size_t sz = loom::mem::typeSize(t);
  Buf in(n * sz + 1), out(nranks * n * sz + 1, 0xee);
  uint8_t* send = inPlace ? out.data() + rank * n * sz : in.data();
  fillInput(t, loomSum, rank, send, 0, n);
  if (!ok(loomAllGather(send, out.data(), n, t, comm, nullptr), "allgather", t, loomSum, n, inPlace)) return;
  verify("allgather", t, loomSum, nranks * n, inPlace, out.data(),
         [&](size_t i) { return inputValue(t, loomSum, static_cast<int>(i / n), i % n); });
}

void checkReduceScatter(loomDataType_t t, loomRedOp_t op, size_t n, bool inPlace) {
  const size_t sz = loom::mem::typeSize(t);
  Buf in(nranks * n * sz + 1), out(n * sz + 1, 0xee);
  fillInput(t, op, rank, in.data(), 0, nranks * n);
  void* recv = inPlace ? in.data() + rank * n * sz : out.data();
  if (!ok(loomReduceScatter(in.data(), recv, n, t, op, comm, nullptr), "reducescatter", t, op, n, inPlace)) return;
  verify("reducescatter", t, op, n, inPlace, recv, [&](size_t i) { return reduced(t, op, nranks, rank * n + i); }, op);
}

void checkAllToAll(loomDataType_t t, size_t n, bool inPlace) {
  const size_t sz = loom::mem::typeSize(t);
  Buf in(nranks * n * sz + 1), out(nranks * n * sz + 1, 0xee);
  fillInput(t, loomSum, rank, in.data(), 0, nranks * n);
  void* recv = inPlace ? in.data() : out.data();
  if (!ok(loomAllToAll(in.data(), recv, n, t, comm, nullptr), "alltoall", t, loomSum, n, inPlace)) return;
  verify("alltoall", t, loomSum, nranks * n, inPlace, recv, [&](size_t i) {
    return inputValue(t, loomSum, static_cast<int>(i / n), rank * n + i % n);
  });
}

// Rank r sends (r + p) % 3 * base elements to p, packed with a one-element gap.
void checkAllToAllv(loomDataType_t t, size_t base) {
  const size_t sz = loom::mem::typeSize(t);
  auto cnt = [&](int from, int to) { return static_cast<size_t>((from + to) % 3) * base; };
  std::vector<size_t> sc(nranks), sd(nranks), rc(nranks), rd(nranks);
  size_t so = 0, ro = 0;
  for (int p = 0; p < nranks; ++p) {
    sc[p] = cnt(rank, p), sd[p] = so, so += sc[p] + 1;
    rc[p] = cnt(p, rank), rd[p] = ro, ro += rc[p] + 1;
  }
  Buf in(so * sz + 1), out(ro * sz + 1, 0);
  for (int p = 0; p < nranks; ++p)  // element k to p carries value of index p*1000+k
    for (size_t k = 0; k < sc[p]; ++k) storeValue(t, in.data(), sd[p] + k, inputValue(t, loomSum, rank, p * 1000 + k));
  if (!ok(loomAllToAllv(in.data(), sc.data(), sd.data(), out.data(), rc.data(), rd.data(), t, comm, nullptr),
          "alltoallv", t, loomSum, base, false))
    return;
  ++checks;
  for (int p = 0; p < nranks; ++p)
    for (size_t k = 0; k < rc[p]; ++k)
      if (!matches(t, loomSum, nranks, out.data(), rd[p] + k, inputValue(t, loomSum, p, rank * 1000 + k))) {
        report("alltoallv", t, loomSum, base, false, "block mismatch");
        return;
      }
}

void checkGather(loomDataType_t t, size_t n, bool inPlace, int root) {
  const size_t sz = loom::mem::typeSize(t);
  Buf in(n * sz + 1), out(nranks * n * sz + 1, 0xee);
  uint8_t* send = inPlace && rank == root ? out.data() + rank * n * sz : in.data();
  fillInput(t, loomSum, rank, send, 0, n);
  if (!ok(loomGather(send, out.data(), n, t, root, comm, nullptr), "gather", t, loomSum, n, inPlace)) return;
  if (rank != root) return;
  verify("gather", t, loomSum, nranks * n, inPlace, out.data(),
         [&](size_t i) { return inputValue(t, loomSum, static_cast<int>(i / n), i % n); });
}

void checkScatter(loomDataType_t t, size_t n, bool inPlace, int root) {
  const size_t sz = loom::mem::typeSize(t);
  Buf in(nranks * n * sz + 1), out(n * sz + 1, 0xee);
  fillInput(t, loomSum, root, in.data(), 0, nranks * n);
  void* recv = inPlace && rank == root ? in.data() + rank * n * sz : out.data();
  if (!ok(loomScatter(in.data(), recv, n, t, root, comm, nullptr), "scatter", t, loomSum, n, inPlace)) return;
  verify("scatter", t, loomSum, n, inPlace, recv, [&](size_t i) { return inputValue(t, loomSum, root, rank * n + i); });
}

// A ring shift as one group: send to the next rank, receive from the previous.
void checkSendRecv(loomDataType_t t, size_t n) {
  const size_t sz = loom::mem::typeSize(t);
  Buf in(n * sz + 1), out(n * sz + 1, 0xee);
  fillInput(t, loomSum, rank, in.data(), 0, n);
  int next = (rank + 1) % nranks, prev = (rank + nranks - 1) % nranks;
  loomGroupStart();
  loomResult_t a = loomSend(in.data(), n, t, next, comm, nullptr);
  loomResult_t b = loomRecv(out.data(), n, t, prev, comm, nullptr);
  loomResult_t c = loomGroupEnd();
  if (!ok(a != loomSuccess ? a : b != loomSuccess ? b : c, "sendrecv", t, loomSum, n, false)) return;
  verify("sendrecv", t, loomSum, n, false, out.data(), [&](size_t i) { return inputValue(t, loomSum, prev, i); });
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> counts = {0, 1, 7, 1023, 70001};
  std::vector<std::string> types = {"all"}, colls = {"all"};
  size_t big = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--counts") {
      counts.clear();
      for (auto& c : split(v)) counts.push_back(std::strtoull(c.c_str(), nullptr, 10));
    } else if (k == "--types") types = split(v);
    else if (k == "--colls") colls = split(v);
    else if (k == "--big") big = std::strtoull(v.c_str(), nullptr, 10);
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  if (loomCommInitFromEnv(&comm) != loomSuccess) {
    std::fprintf(stderr, "init failed: %s\n", loomGetLastError(nullptr));
    return 3;
  }
  loomCommUserRank(comm, &rank);
  loomCommCount(comm, &nranks);
  const loomRedOp_t ops[] = {loomSum, loomProd, loomMax, loomMin, loomAvg};
  const int roots[] = {0, nranks - 1, nranks / 2};

  for (int ti = 0; ti < loomNumTypes; ++ti) {
    auto t = static_cast<loomDataType_t>(ti);
    if (!wanted(types, loom::mem::typeName(t))) continue;
    for (size_t n : counts) {
      for (bool inPlace : {false, true}) {
        for (loomRedOp_t op : ops) {
          if (wanted(colls, "allreduce")) checkAllReduce(t, op, n, inPlace, false, 0);
          if (wanted(colls, "reducescatter")) checkReduceScatter(t, op, n, inPlace);
          if (wanted(colls, "reduce"))
            for (int root : roots) checkAllReduce(t, op, n, inPlace, true, root);
        }
        for (int root : roots) {
          if (wanted(colls, "broadcast")) checkBroadcast(t, n, inPlace, root);
          if (wanted(colls, "gather")) checkGather(t, n, inPlace, root);
          if (wanted(colls, "scatter")) checkScatter(t, n, inPlace, root);
        }
        if (wanted(colls, "allgather")) checkAllGather(t, n, inPlace);
        if (wanted(colls, "alltoall")) checkAllToAll(t, n, inPlace);
      }
      if (wanted(colls, "alltoallv")) checkAllToAllv(t, n);
      if (wanted(colls, "sendrecv")) checkSendRecv(t, n);
    }
  }
  if (wanted(colls, "barrier") && loomBarrier(comm, nullptr) != loomSuccess) report("barrier", loomUint8, loomSum, 0, false, loomGetLastError(comm));
  if (big) {
    size_t n = big / sizeof(float);
    checkAllReduce(loomFloat32, loomSum, n, false, false, 0);
    checkAllReduce(loomFloat32, loomSum, n, true, false, 0);
    checkAllGather(loomFloat32, n / nranks, false);
    checkReduceScatter(loomFloat32, loomSum, n / nranks, false);
    checkBroadcast(loomFloat32, n, false, nranks - 1);
  }
  loomCommDestroy(comm);
  std::printf("rank %d/%d: %ld checks, %ld wrong\n", rank, nranks, checks, failures);
  return failures ? 1 : 0;
}
