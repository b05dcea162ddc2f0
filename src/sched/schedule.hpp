// The schedule IR: what one rank does for one collective, as a list of steps with dependencies.
// Algorithms (src/algo) produce schedules; the validator checks them; the executor runs them
// over a transport; the simulator runs N of them in one process; the cost model reads them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace loom::sched {

// Which buffer a span refers to. Input/Output are the user's send/recv buffers (they may alias
// when the call is in place); Scratch is per-operation memory of Schedule::scratchBytes.
enum class Buf : uint8_t { Input, Output, Scratch };

struct Span {
  Buf buf = Buf::Input;
  size_t offset = 0;  // bytes
  size_t bytes = 0;
};

enum class StepKind : uint8_t {
  Send,        // send src to peer
  Recv,        // receive from peer into dst
  RecvReduce,  // receive from peer; dst = src op incoming (src may equal dst)
  Copy,        // dst = src
  Reduce,      // dst = dst op src
};

struct Step {
  StepKind kind = StepKind::Copy;
  int peer = -1;  // Send/Recv/RecvReduce only
  Span src;       // Send, RecvReduce (local operand), Copy, Reduce
  Span dst;       // Recv, RecvReduce, Copy, Reduce
  uint32_t firstDep = 0;  // index into Schedule::deps
  uint32_t numDeps = 0;   // steps (earlier indices) that must complete before this one starts
};

// Message matching is FIFO per ordered pair: the k-th Send from a to b (in step-index order)
// matches the k-th Recv/RecvReduce at b from a (in step-index order), and their sizes must be
// equal. There are no tags, so an executor must post messages to each peer in step order.
struct Schedule {
  std::vector<Step> steps;
  std::vector<uint32_t> deps;
  size_t scratchBytes = 0;
  std::string algorithm;  // e.g. "ring", for diagnostics

  // Appends a step depending on the given earlier steps; returns its index.
  uint32_t add(const Step& step, std::initializer_list<uint32_t> after = {});
  uint32_t add(const Step& step, const std::vector<uint32_t>& after);
};

// Helpers so generators read like prose.
// "No step" in step-index tables (a dependency not taken, a channel's end).
inline constexpr uint32_t kNoStep = UINT32_MAX;

inline bool isMessage(StepKind k) { return k == StepKind::Send || k == StepKind::Recv || k == StepKind::RecvReduce; }

inline Span in(size_t off, size_t bytes) { return {Buf::Input, off, bytes}; }
inline Span out(size_t off, size_t bytes) { return {Buf::Output, off, bytes}; }
inline Span scratch(size_t off, size_t bytes) { return {Buf::Scratch, off, bytes}; }
Step send(int peer, Span src);
Step recv(int peer, Span dst);
Step recvReduce(int peer, Span localOperand, Span dst);
Step copy(Span src, Span dst);
Step reduce(Span src, Span dst);

}  // namespace loom::sched
