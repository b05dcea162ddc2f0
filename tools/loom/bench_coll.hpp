// One collective as `loom bench` sees it: its nccl-tests size semantics, bus-bandwidth factor,
// buffers, the call itself (in or out of place, blocking or not), and the element-wise check.
#pragma once

#include <loom/loom.h>

#include <loom/loom.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "algo/algorithms.hpp"

namespace loom::bench {

enum class Coll { AllReduce, AllGather, ReduceScatter, Broadcast, Reduce, AllToAll, Gather, Scatter, SendRecv };

inline constexpr Coll kAllColls[] = {Coll::AllReduce, Coll::AllGather, Coll::ReduceScatter,
                                     Coll::Broadcast, Coll::Reduce,    Coll::AllToAll,
                                     Coll::Gather,    Coll::Scatter,   Coll::SendRecv};

const char* collName(Coll c);
std::optional<Coll> parseColl(const std::string& s);
bool hasOp(Coll c);
// The library's name for a collective; nullopt for sendrecv (a group, not one collective).
std::optional<algo::Coll> libraryColl(Coll c);
bool hasRoot(Coll c);
// nccl-tests' busbw / algbw: allreduce 2(n-1)/n; allgather, reducescatter, alltoall, gather,
// scatter (n-1)/n; broadcast, reduce, sendrecv 1.
double busFactor(Coll c, int nranks);

// Element counts for one row, as nccl-tests' getCollByteCount computes them from the "size"
// requested on the command line.
struct Layout {
  size_t sendCount = 0, recvCount = 0;
  size_t paramCount = 0;  // the count passed to the call: the "count" column
  size_t bytes = 0;       // max(send, recv) bytes: the "size" column; algbw = bytes / time
};
Layout layoutFor(Coll c, size_t requestedBytes, size_t typeSize, int nranks);

// One bench buffer: page-aligned plain memory (-R 0), as device buffers are aligned (malloc'd
// neighbours sit 16 bytes past a multiple of 4 KiB from each other, glibc's memcpy between such
// addresses crawls (src/mem/copy.hpp), and the bench would time the allocator's placement rather
// than the library), or loomMemAlloc's memory (-R 1: huge pages, as nccl-tests' -R uses
// ncclMemAlloc).
class BenchBuffer {
 public:
  explicit BenchBuffer(bool loomMemory) : loomMemory_(loomMemory) {}
  // At least `bytes`, zero-filled and written (so that timing runs touch real pages); the old
  // contents are dropped. False: out of memory (the buffer is then empty).
  bool growTo(size_t bytes);
  uint8_t* data() const { return loomMemory_ ? loom_.data() : plain_.get(); }
  size_t size() const { return n_; }

 private:
  bool loomMemory_;
  loom::HostBuffer<uint8_t> loom_{0};                                  // -R 1
  std::unique_ptr<uint8_t, decltype(&std::free)> plain_{nullptr, &std::free};  // -R 0
  size_t n_ = 0;
};

// A sweep's buffers, allocated once at its largest layout, as nccl-tests and the bench/compare
// peers allocate theirs: on this VM the first passes over freshly allocated pages run slow (a
// 32 MiB memcpy into new, memset pages: 14-19 ms, then 3-4.6 ms, settling at 2.4 ms by the
// sixth), so buffers made anew for every size timed that at the large sizes' few iterations.
struct BenchBuffers {
  explicit BenchBuffers(bool loomMemory) : send(loomMemory), recv(loomMemory) {}
  BenchBuffer send, recv;
  // Grows (never shrinks) to hold `layout` of `elem`-byte elements (+1 element each, so that a
  // zero count still has a valid pointer), touching every new page.
  bool reserveFor(const Layout& layout, size_t elem);
  static size_t sendBytes(const Layout& l, size_t elem) { return (l.sendCount + 1) * elem; }
  static size_t recvBytes(const Layout& l, size_t elem) { return (l.recvCount + 1) * elem; }
};

// Buffers and calls for one (collective, type, op, root, size) on one rank.
class CollRun {
 public:
  CollRun(Coll c, loomComm_t comm, int rank, int nranks, loomDataType_t type, loomRedOp_t op, int root,
          size_t requestedBytes, BenchBuffers& buffers);

  const Layout& layout() const { return layout_; }
  // The communicator later calls run on (--algos races several over the same buffers).
  void setComm(loomComm_t comm) { comm_ = comm; }
  // Issues one operation; with request == nullptr it blocks. sendrecv always blocks (a group).
  loomResult_t issue(bool inPlace, loomRequest_t* request);
  // Writes the known inputs for the next issue(inPlace).
  void fillInputs(bool inPlace);
  // Elements of this rank's result that differ from the independent reference (0 on ranks
  // that receive nothing, e.g. non-roots of reduce and gather).
  size_t countWrong(bool inPlace) const;
  // Test hook (LOOM_BENCH_CORRUPT): damages one result element on the rank that checks it.
  void corruptOne(bool inPlace);

 private:
  uint8_t* sendPtr(bool inPlace);
  uint8_t* recvPtr(bool inPlace);
  const uint8_t* resultPtr(bool inPlace) const;
  size_t resultCount() const;
  bool checksHere() const;

  Coll coll_;
  loomComm_t comm_;
  int rank_, nranks_;
  loomDataType_t type_;
  loomRedOp_t op_;
  int root_;
  size_t elem_;
  Layout layout_;
  std::span<uint8_t> send_, recv_;  // this layout's part of the sweep's buffers
};

}  // namespace loom::bench
