// The transports of one communicator behind one small nonblocking contract.
//
// A Fabric connects this rank to every other rank: over shared memory to ranks with the same
// host id, over TCP to the others (LOOM_TRANSPORT=shm|tcp forces one). Messages to one peer are
// delivered in posting order (FIFO per ordered pair, no tags). All methods except wake() and
// abort() are called by one thread at a time (the thread driving the communicator's progress).
//
// Set-up runs in three steps around the bootstrap's exchanges:
//   1. Fabric::create()      create own endpoints (shm segment, TCP listener); address() is the
//                            opaque blob to publish to the other ranks;
//   2. connect(addresses)    after the bootstrap all-gathered every rank's address();
//   3. finishSetup()         after a bootstrap barrier: every peer has mapped our segment, so its
//                            name is unlinked now (nothing is left in /dev/shm if a rank dies).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/deadline.hpp"
#include "core/status.hpp"
#include "mem/reduce.hpp"
#include "transport/wire.hpp"

namespace loom::transport {

enum class Kind : uint8_t { Auto, Shm, Tcp };

struct FabricConfig {
  int rank = 0;
  int nranks = 1;
  uint8_t secret[16] = {};   // data connections must prove it
  uint64_t commId = 0;       // distinguishes communicators of one job (in shm names and hellos)
  std::string hostId;        // ranks with equal hostId may use shm (LOOM_HOST_ID or detected)
  Kind force = Kind::Auto;   // LOOM_TRANSPORT
  int nsocks = 2;            // LOOM_NSOCKS
  std::string ifname;        // LOOM_SOCKET_IFNAME (NCCL syntax)
  std::string family;        // LOOM_SOCKET_FAMILY ("", "AF_INET", "AF_INET6")
  size_t tcpBufferBytes = 4 << 20;
  std::string tcpCongestion = "auto";  // LOOM_TCP_CONGESTION: "auto", "system" or an algorithm
  size_t shmSlotBytes = 256 << 10;
  int shmSlots = 8;
  // LOOM_SHM_CMA_BYTES: shm messages of at least this many bytes go in one copy, the receiver
  // reading the sender's buffer (process_vm_readv), where the peer can; 0: never.
  size_t shmCmaBytes = 0;
  // LOOM_SHM_BOARD_BYTES / LOOM_SHM_BOARD_DEPTH: the board's entries (payload bytes, how many).
  size_t boardBytes = 16 << 10;
  int boardDepth = 64;
  int spinUs = 50;
  int yieldUs = 0;  // after the spin: poll with sched_yield this long before sleeping (shm waits)
  // How long a one-way single-copy candidate whose receive will be a copy waits for that receive
  // before it takes the ring (postSend's peerCopies): a broadcast root that reaches the call
  // first, in place, has nothing else to do, and its receiver is usually a microsecond behind.
  int cmaWaitUs = 10;
  // LOOM_SHM_STREAM_STORES: how ring slots of 32 KiB and more are written: -1 the faster of plain
  // and streaming stores as timed (shm_store_judge.hpp), 0 plain, 1 streaming.
  int shmStreamStores = -1;
  double failureDetectSeconds = 5;  // LOOM_FAILURE_DETECT: tcp heartbeat timeout (beats every third of it)
  bool checksum = false;            // LOOM_CHECKSUM: CRC32C per tcp frame and shm fragment
};

// Where incoming bytes of a receive go: plain copy into dst, or dst = operand op incoming.
struct RecvSink {
  void* dst = nullptr;
  const void* operand = nullptr;    // used when reduce != nullptr; may equal dst
  mem::ReduceFn reduce = nullptr;   // null: copy
  size_t elemSize = 1;              // fragments handed to reduce are multiples of this
};

// Completion record of a posted message; written only by the progress-driving thread.
struct Completion {
  bool done = false;
  Status status;
};

class Fabric {
 public:
  static Result<std::unique_ptr<Fabric>> create(const FabricConfig& config);
  virtual ~Fabric() = default;

  virtual std::string address() const = 0;
  virtual Status connect(const std::vector<std::string>& addresses, Deadline deadline) = 0;
  virtual Status finishSetup() = 0;

  // Which transport serves `peer` ("shm", "tcp", "self").
  virtual const char* transportOf(int peer) const = 0;

  // Queue messages. Sizes of matching send and receive must be equal; a mismatch completes
  // the receive with loomRemoteError naming both sizes. Buffers stay owned by the caller and
  // must stay valid until the completion is done.
  // `atRest`: the bytes were not just written by this rank (a user's input), so a shm receiver
  // may copy them straight from our memory (LOOM_SHM_CMA_BYTES); data a schedule just produced
  // is hot in our cache and goes through the ring. `peerCopies`: the peer's receive will be a
  // plain copy, so a one-way sender may wait for it a little (cmaWaitUs) rather than take the ring.
  virtual void postSend(int peer, const void* buf, size_t bytes, Completion* done, bool atRest = true,
                        bool peerCopies = false) = 0;
  virtual void postRecv(int peer, size_t bytes, const RecvSink& sink, Completion* done) = 0;
  // Shm messages from this size may go single copy (LOOM_SHM_CMA_BYTES); 0: none do (switched off,
  // or LOOM_CHECKSUM, which covers ring fragments only).
  virtual size_t singleCopyBytes() const { return 0; }

  // Moves data without blocking; true if anything moved or completed. A failure (peer gone,
  // bad frame, abort) makes the fabric sticky-failed: every pending and later completion is
  // completed with that error.
  virtual bool progress() = 0;
  // As progress(), for a rank in the middle of local work (the executor calls it while copies or
  // reductions of its own are queued or running): single-copy candidates leave the copy to their
  // receivers at any size, this core being busy, and one whose receive will be a copy but is not
  // posted yet waits for it rather than take the ring (a normal pass decides once the work is done).
  virtual bool progressStarted() = 0;
  // Blocks up to timeoutMs until progress() may find work, wake() is called, or abort().
  virtual void waitForActivity(int timeoutMs) = 0;
  // Any thread: interrupt waitForActivity.
  virtual void wake() = 0;
  // Any thread: fail everything pending (loomRemoteError "aborted") at the next progress().
  virtual void abort() = 0;
  // Completes every pending message with `why` now and makes the fabric sticky-failed with it,
  // so the caller may free the buffers and completions it posted (an operation that timed out
  // or was abandoned must not leave the fabric pointing into freed memory). Same thread rules
  // as progress(); liveness work goes on as after any failure.
  virtual void cancelPending(const Status& why) = 0;
  // The sticky failure, ok while healthy.
  virtual Status status() const = 0;
  // Liveness work the core runs about every 100 ms even when idle: sends due tcp heartbeats,
  // reads heartbeats and bye frames, checks shm peers' processes. A dead peer makes the fabric
  // sticky-failed with loomRemoteError "rank N (host H, pid P) failed: <how>" (peer() == N).
  // It keeps working after a failure (heartbeats go on, so survivors do not suspect this rank
  // while they shrink). progress() and waitForActivity() run the same checks when due.
  // Same thread rules as progress().
  virtual void checkPeers() {}
  // Peers known to have failed (not those that destroyed their fabric cleanly), ascending.
  virtual std::vector<int> failedPeers() const { return {}; }
  // How long waitForActivity spins before sleeping; the core sets it once it knows how many
  // ranks share this host's cores.
  virtual void setSpinMicros(int us) = 0;
  // How long a shm wait then polls with sched_yield before it sleeps: with more ranks than cores
  // the peer we wait for gets our core at once, instead of after a futex sleep and wake.
  virtual void setYieldMicros(int us) = 0;
  // Long one-way shm streams go through the ring; where the ring moves them slower than this
  // (bytes per second), the sender tries single copy and keeps the faster (oneway_judge.hpp). 0:
  // never (the default).
  virtual void setOneWayProbeBelow(double bytesPerSecond) {}

  // ---- The board (shm_board.cpp) ----
  // Where the ranks of a one-host communicator post small inputs for one-shot collectives: each
  // rank owns a ring of entries in its segment that every peer reads, so a rank writes its input
  // once and a small collective costs one cache-line handoff per peer, with no per-message
  // queueing. Board calls are numbered from 0 in issue order, equal on all ranks. Same thread
  // rules as progress(); every wait goes through waitForActivity, which wakes on board news.
  // Payload bytes per entry; 0 when there is no board (a peer not on shm, or a single rank).
  virtual size_t boardBytes() const { return 0; }
  // This rank's entry for `call` is free: every rank finished call - depth. Else false, and
  // waitForActivity wakes when that may change.
  virtual bool boardFree(uint64_t /*call*/) { return false; }
  // Where this rank writes the payload of `call` (once boardFree(call)).
  virtual char* boardPayload(uint64_t /*call*/) { return nullptr; }
  // Publishes this rank's entry for `call`: payload written, `bytes` of it, described by `tag`.
  virtual void boardPublish(uint64_t /*call*/, const wire::BoardTag& /*tag*/, size_t /*bytes*/) {}
  // `peer`'s entry for `call` once published (this rank's own too), else null (and
  // waitForActivity wakes when it may be). The payload follows at +kBoardHeaderBytes.
  virtual const wire::BoardHeader* boardEntry(int /*peer*/, uint64_t /*call*/) { return nullptr; }
  // This rank has read all it needs of `call`; its peers may reuse those entries.
  virtual void boardFinish(uint64_t /*call*/) {}
};

namespace testhooks {
// Test hook, only for tests: the next data fragment any fabric of this process sends (tcp
// frame or shm slot) gets one payload byte flipped after its checksum was computed, as if
// corrupted on the way. The sender's buffer is not touched.
void corruptNextFragment();
// Single-copy messages this process has published so far (shm_cma.cpp).
uint64_t singleCopySends();
// Single-copy descriptors this process has withdrawn (a failed sender revokes each unread one).
uint64_t singleCopyRevokes();
// Futex sleeps on a doorbell this process has made (shm_channel.cpp's sleepOnBell).
uint64_t bellSleeps();
// Receive system calls (readv) this process has made on tcp sockets (tcp_channel.cpp).
uint64_t tcpReads();
}  // namespace testhooks

}  // namespace loom::transport
