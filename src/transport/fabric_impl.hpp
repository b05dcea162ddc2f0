// Private: the one Fabric implementation. It keeps, per peer, the FIFO of posted sends and
// receives and the state of the channel serving that peer (self, shm or tcp). The channel
// code lives in self/shm/tcp .cpp files as member functions of FabricImpl.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <atomic>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "mem/copy.hpp"
#include "os/epoll.hpp"
#include "os/fd.hpp"
#include "os/net.hpp"
#include "os/shm.hpp"
#include "transport/fabric.hpp"
#include "transport/check_pacer.hpp"
#include "transport/oneway_judge.hpp"
#include "transport/shm_store_judge.hpp"
#include "transport/queue.hpp"
#include "transport/shm_fragments.hpp"
#include "transport/wire.hpp"

namespace loom::transport {

struct SendOp {
  const char* buf = nullptr;
  size_t bytes = 0;
  size_t pos = 0;          // shm: bytes already copied into the ring
  uint64_t fragsLeft = 0;  // fragments not yet handed over
  Completion* done = nullptr;
  size_t frag = 0;         // shm: fragment size (shmFragBytes)
  bool cma = false;        // shm: goes as a CmaDesc; the receiver copies the bytes itself
  bool cmaPublished = false;
  uint64_t cmaSlot = 0;    // ring index of the descriptor; done once the tail passes it
  bool cmaMayWait = false;  // the receive will be a copy: a one-way sender waits for it (cmaWaitUs)
  Clock::time_point cmaWaitSince{};  // when it started to
  bool judged = false;     // part of a long one-way stream: its completion feeds Peer::oneWay
};

struct RecvOp {
  RecvSink sink;
  size_t bytes = 0;
  size_t pos = 0;
  uint64_t fragsLeft = 0;
  Completion* done = nullptr;
  size_t frag = 0;  // shm: fragment size (shmFragBytes)
};

// Number of fragments of a message: a 0-byte message is one header-only fragment.
inline uint64_t fragCount(size_t bytes, size_t fragBytes) {
  return bytes == 0 ? 1 : (bytes + fragBytes - 1) / fragBytes;
}

constexpr uint64_t kNoOp = ~uint64_t{0};  // FragRef::seq of frames that complete no operation

struct FragRef {
  uint64_t seq = 0;  // message sequence number within the peer's send (or recv) FIFO, or kNoOp
  uint64_t offset = 0;
  uint64_t len = 0;
  // send side only
  const char* data = nullptr;  // payload of this fragment
  uint64_t msgBytes = 0;
  wire::FrameType type = wire::FrameType::Data;
  bool crcDone = false;  // crc computed (once, before the first byte goes out)
  uint32_t crc = 0;
};

struct TcpSock {
  os::UniqueFd fd;
  bool readable = true;  // edge-triggered: cleared on EAGAIN or a short read, set by epoll events
  bool hangup = false;   // epoll reported the peer's end of stream (or an error): read to the end
  bool writable = true;
  Queue<FragRef> sendFrags;
  size_t sendDone = 0;  // bytes (frame header + payload) of sendFrags.front() written
  Queue<FragRef> recvFrags;
  size_t recvDone = 0;     // bytes (header + payload) of the incoming frame read
  bool hdrChecked = false;  // inHdr is a data frame bound to recvFrags.front() (or discarded)
  bool discard = false;     // the incoming data frame has no receive (fabric failed): drop it
  wire::Frame inHdr{};
  std::vector<char> staging;  // reduce receives (and discarded payloads) land here first
  std::vector<char> inbox;    // bytes read ahead of the frame being received (small frames)
  size_t inboxAt = 0, inboxEnd = 0;  // inbox[inboxAt, inboxEnd) is still to be taken
  // Bytes of the peer's that are here but not yet delivered: a data header read while no receive
  // was posted (it waits for one), or frames read ahead. The socket may be empty meanwhile.
  bool holding() const { return (recvDone >= sizeof(wire::Frame) && !hdrChecked) || inboxAt < inboxEnd; }
  size_t reduced = 0;         // payload bytes of the front fragment already reduced
  // liveness
  Clock::time_point lastSend{};
  bool byeSeen = false;  // the peer said bye on this socket: EOF next is a clean close
  bool eof = false;      // closed or broken: neither read nor written any more
  std::vector<char> ownedPayload;  // frame payload kept by us (orphaned by a failure, test corruption)
};

// One direction of a shm ring as seen by this rank.
struct ShmRing {
  wire::RingCtl* ctl = nullptr;
  char* slots = nullptr;
  size_t slotStride = 0;
  size_t slotBytes = 0;
  uint32_t nslots = 0;
  uint64_t mine = 0;    // producer: slots published; consumer: slots consumed (authoritative)
  uint64_t cached = 0;  // producer: last seen tail
  char* slot(uint64_t i) const { return slots + (i % nslots) * slotStride; }
  // Consumer: the producer has published slot `mine` (its header's seq says so).
  bool published() const {
    return reinterpret_cast<const wire::SlotHeader*>(slot(mine))->seq.load(std::memory_order_acquire) == mine + 1;
  }
};

enum class PeerKind : uint8_t { None, Self, Shm, Tcp };

// Segment geometry (shm_channel.cpp, shm_board.cpp).
constexpr size_t kPage = 4096;
constexpr size_t kBoardPrefaultBytes = 8 << 20;  // boards up to this are faulted in whole at connect
inline size_t roundUp(size_t v, size_t a) { return (v + a - 1) / a * a; }

// What a peer's address blob ("loomfab1 <hex host id> <pid> <pid ns> <shm name|-> <tcp host|-> <port>")
// says. The decoders below are pure (bytes in, verdict out) so fuzz/fuzz_transport_wire.cpp can
// drive them directly.
struct PeerAddress {
  std::string hostId;
  pid_t pid = 0;
  uint64_t pidns = 0;
  std::string shmName;  // empty: none
  std::string tcpHost;  // empty: none
  uint16_t port = 0;
};
std::string formatAddress(const PeerAddress& a);
Result<PeerAddress> parseAddress(const std::string& blob);

// Why a TCP Hello is unacceptable to a rank with config c, or empty (tcp_setup.cpp).
std::string checkHello(const wire::Hello& h, const FabricConfig& c);

// A received TCP frame header against the fragment expected next on that socket (message of
// msgBytes bytes); the error names rank and where (tcp_channel.cpp).
Status checkFrame(const wire::Frame& h, uint64_t msgBytes, const FragRef& expect, int rank, const std::string& where);

// A peer's shm segment header (segBytes mapped) against what it announced: every ring and slot
// must lie inside the mapping (shm_channel.cpp).
Status checkSegHeader(const wire::SegHeader& h, size_t segBytes, int rank, int nranks, uint64_t commId);

struct Peer {
  PeerKind kind = PeerKind::None;
  Queue<SendOp> sends;
  Queue<RecvOp> recvs;
  uint64_t sendBase = 0;  // sequence number of sends.front()
  uint64_t recvBase = 0;
  // shm
  os::ShmSegment seg;  // the peer's segment (holds our outbound ring and its doorbell)
  wire::Doorbell* bell = nullptr;
  bool bellDue = false;  // we published or freed a slot of this peer since the last ringDueBells()
  uint64_t copyRecvsShown = 0;  // what we last stored in our RingCtl::copyRecvsBelow for this peer
  OneWayJudge oneWay;           // ring or single copy for long one-way streams to this peer
  StoreJudge stores;            // plain or streaming stores into its ring's slots
  // Judged ring messages fully in the ring, until its tail passes their last slot (`end`): only
  // then has the receiver all of one, which is when the judge counts it done.
  struct RingDrain {
    uint64_t end = 0;
    size_t bytes = 0;
  };
  Queue<RingDrain> ringDrains;
  // When the last queued send of a judged ring stream was written (the sender may then leave to
  // do other work and see the drain late): drains up to ringQuietEnd count as done by then.
  Clock::time_point ringQuietAt{};
  uint64_t ringQuietEnd = 0;
  ShmRing out, in;
  pid_t pid = 0;
  bool pidCheckable = false;  // same pid namespace
  Clock::time_point lastCheck{};
  const wire::Liveness* live = nullptr;  // in the peer's segment
  const wire::BoardCtl* boardCtl = nullptr;  // the peer's board, in its segment
  const char* boardEntries = nullptr;
  // liveness (all kinds)
  std::string host;  // host part of the peer's host id, for messages
  bool closed = false;  // destroyed its fabric cleanly (bye / closed flag)
  bool dead = false;
  Clock::time_point lastRecv{};  // tcp: last byte from this peer
  // tcp
  std::string where;  // peer's listen address, for messages
  std::vector<TcpSock> socks;
  uint64_t sendFrag = 0, recvFrag = 0;  // fragments assigned so far (socket = n % nsocks)
};

// Consumes one pending testhooks::corruptNextFragment() request (liveness.cpp).
bool takeCorruption();

class FabricImpl final : public Fabric {
 public:
  explicit FabricImpl(const FabricConfig& c);
  ~FabricImpl() override;
  Status init();

  std::string address() const override;
  Status connect(const std::vector<std::string>& addresses, Deadline deadline) override;
  Status finishSetup() override;
  const char* transportOf(int peer) const override;
  void postSend(int peer, const void* buf, size_t bytes, Completion* done, bool atRest = true,
                bool peerCopies = false) override;
  void postRecv(int peer, size_t bytes, const RecvSink& sink, Completion* done) override;
  bool progress() override;
  bool progressStarted() override;
  bool progressPass(bool busyLocally);  // progress() and progressStarted()
  void waitForActivity(int timeoutMs) override;
  void wake() override;
  void setSpinMicros(int us) override { cfg_.spinUs = us; }
  void setYieldMicros(int us) override { cfg_.yieldUs = us; }
  void setOneWayProbeBelow(double bytesPerSecond) override { oneWayProbeBelow_ = bytesPerSecond; }
  size_t boardBytes() const override { return boardReady_ ? boardBytes_ : 0; }
  size_t singleCopyBytes() const override { return cfg_.checksum ? 0 : cfg_.shmCmaBytes; }
  bool boardFree(uint64_t call) override;
  char* boardPayload(uint64_t call) override { return boardSlot(boardEntries_, call) + wire::kBoardHeaderBytes; }
  void boardPublish(uint64_t call, const wire::BoardTag& tag, size_t bytes) override;
  const wire::BoardHeader* boardEntry(int peer, uint64_t call) override;
  void boardFinish(uint64_t call) override;
  void abort() override;
  void cancelPending(const Status& why) override { fail(why); }
  Status status() const override { return status_; }
  void checkPeers() override;
  std::vector<int> failedPeers() const override;

 private:
  void fail(Status st);  // sticky: completes everything pending with st
  // liveness (liveness.cpp)
  void markDead(int rank, const std::string& how);
  std::string who(int rank) const;  // "rank N (host H, pid P)"
  void maybeCheckPeers();           // checkPeers() when due; cheap otherwise
  void checkTcpPeer(int rank, Peer& p, Clock::time_point now);
  void checkShmPeer(int rank, Peer& p);
  void sayBye();
  int checkIntervalMs() const;
  // A socket broke (EOF or error): a clean close after bye, else a failure.
  void tcpBroken(int rank, Peer& p, TcpSock& s, const std::string& how);
  void complete(Completion* c, const Status& st) {
    c->status = st;
    c->done = true;
  }

  // self (fabric.cpp)
  bool progressSelf(Peer& p);
  // shm single copy (shm_cma.cpp)
  // LOOM_TCP_CONGESTION for the listener (inherited by accepted sockets) and for a connection
  // to `peer` given this machine's interfaces; empty: the system's (tcp_setup.cpp).
  std::string listenerCongestion() const;
  std::string congestionTo(const os::SockAddr& peer, const std::vector<os::Interface>& local) const;
  void probeCma(int rank, Peer& p);  // at connect: can we read `rank`'s memory? (RingCtl::cmaOk)
  bool wantsCma(const Peer& p, size_t bytes) const;
  // Now: is this rank's core better off leaving the copy of a message to `to` (see shm_cma.cpp)?
  // `longOneWay`: the answer came from the long one-way stream rule (Peer::oneWay judges it).
  bool cmaPays(const Peer& to, size_t at, bool busyLocally, bool* longOneWay) const;
  // Tells `p` which of its next messages have a copy receive posted here (RingCtl::copyRecvsBelow);
  // only a large copy receive or a finished reduce receive can change what it may use.
  void showCopyRecvs(Peer& p);
  void publishCma(Peer& p, SendOp& s, char* slot);
  // Copies (or reduces) the next bytes of a kFlagCma message; false when the fabric failed.
  bool readCma(int rank, Peer& p, RecvOp& rv, const char* slot);
  // Tells p.oneWay which judged ring messages the receiver has drained, the ring's tail being
  // `tail` (Peer::ringDrains).
  void noteRingDrains(Peer& p, uint64_t tail);
  // Copies a fragment into p's ring slot with the stores p.stores judges faster (shm_store_judge.hpp).
  void fillSlot(Peer& p, char* dst, const char* src, size_t len);
  void revokeCma();  // in fail(): receivers must not trust buffers we are about to give back
  // shm (shm_channel.cpp)
  Status createSegment();
  Status connectShm(int rank, const PeerAddress& a);
  // busyLocally (progressStarted: this rank is in the middle of local work): a single-copy
  // candidate leaves the copy to its receiver at any size, and one whose receive will be a copy
  // but is not posted yet waits for it.
  bool progressShm(int rank, Peer& p, Clock::time_point* now, bool busyLocally);
  void finishSend(Peer& p);  // the front send is done
  void finishRecv(Peer& p);  // the front receive is done
  bool shmReady() const;  // some pending shm op can move now
  void ringDueBells();
  void sleepOnBell(int timeoutMs);
  // board (shm_board.cpp)
  size_t boardRegionBytes() const;  // the board's share of the segment, whole pages
  void placeBoard(char* base, wire::SegHeader* h);  // in our new segment
  Status connectBoard(int rank, Peer& p, const wire::SegHeader& h);
  void prefaultBoards();  // once boardReady_ is known
  size_t boardStride() const { return wire::kLine + boardBytes_; }  // entry to entry
  char* boardSlot(const char* entries, uint64_t call) const {
    return const_cast<char*>(entries) + (call % boardDepth_) * boardStride();
  }
  // `rung`: whoever changes the word rings our doorbell (else waits poll it).
  void watchBoard(const std::atomic<uint64_t>* word, uint64_t atLeast, bool rung) {
    boardWatch_ = word;
    boardWatchAt_ = atLeast;
    boardWatchRung_ = rung;
  }
  void ringBoardPeers();  // after a publish: wake peers asleep on the board
  // tcp (tcp_channel.cpp, tcp_setup.cpp)
  Status createListener();
  Status connectTcp(const std::vector<PeerAddress>& addrs, Deadline deadline);
  void queueTcpSend(Peer& p, uint64_t seq, size_t bytes);
  void queueTcpRecv(Peer& p, uint64_t seq, size_t bytes);
  bool progressTcp(int rank, Peer& p);
  bool tcpSend(int rank, Peer& p, TcpSock& s);
  bool tcpRecv(int rank, Peer& p, TcpSock& s);
  bool tcpDigest(int rank, Peer& p, TcpSock& s);  // handle what the last read completed; false: failed
  bool tcpFinishFrame(int rank, Peer& p, TcpSock& s);
  char* tcpPayloadDst(Peer& p, TcpSock& s);
  iovec tcpFrameRest(Peer& p, TcpSock& s);  // where the frame being received goes on, and how much
  void takeFromInbox(Peer& p, TcpSock& s);  // moves read-ahead bytes into the frame being received
  int pollTcp(int timeoutMs);  // epoll_wait and mark sockets ready; the number of events
  template <typename Ready>
  bool yieldPoll(int timeoutMs, Ready ready);

  FabricConfig cfg_;
  int me_ = 0;
  int n_ = 1;
  std::string hostId_;
  uint64_t pidns_ = 0;
  std::vector<Peer> peers_;
  std::vector<int> shmPeers_, tcpPeers_;
  bool hasSelf_ = false;

  os::ShmSegment ownSeg_;
  wire::Doorbell localBell_{};  // used when there is no segment
  wire::Doorbell* bell_ = &localBell_;

  os::UniqueFd listener_;
  os::SockAddr listenAddr_;
  std::optional<os::Epoll> epoll_;
  std::vector<std::pair<int, int>> sockOfTag_;  // epoll tag -> (peer, socket index)

  Status status_;
  std::atomic<bool> aborted_{false};
  std::atomic<bool> wakePending_{false};
  size_t slotBytes_ = 0;
  std::vector<char> cmaStage_;  // a reduce receive's single-copy bytes land here first
  double oneWayProbeBelow_ = 0;  // setOneWayProbeBelow
  uint64_t cmaSent_ = 0, cmaRead_ = 0;  // single-copy messages, logged at teardown (LOOM_DEBUG=DEBUG)
  wire::Liveness* ownLive_ = nullptr;
  // the board
  size_t boardBytes_ = 0;       // payload bytes per entry
  uint32_t boardDepth_ = 0;     // entries per rank; 0: no board
  bool boardReady_ = false;     // every peer is on shm
  wire::BoardCtl* boardCtl_ = nullptr;
  char* boardEntries_ = nullptr;
  uint64_t boardFreeBelow_ = 0;  // calls below this may use our entry (known from peers' progress)
  // What a stalled board call waits for (shmReady): *boardWatch_ >= boardWatchAt_.
  const std::atomic<uint64_t>* boardWatch_ = nullptr;
  uint64_t boardWatchAt_ = 0;
  bool boardWatchRung_ = true;
  uint64_t boardCalls_ = 0;  // finished here, logged at teardown (LOOM_DEBUG=DEBUG)
  Clock::time_point nextCheck_{};
  CheckPacer checkPacer_;  // when maybeCheckPeers reads the clock
  // Bounds yield-polling: data moved (rings, sockets or the board) since the last yieldPoll,
  // which then restarts its window; a flag, not a clock read per movement.
  bool movedSinceYield_ = false;
  Clock::time_point lastMoved_{};
  std::vector<int> failed_;
};

}  // namespace loom::transport

namespace loom::transport {

// Hands `len` incoming bytes at message offset `off` to a receive: a copy, or a reduction
// of the operand with them. len is a multiple of elemSize (fragments are multiples of 64).
inline void deliver(const RecvSink& s, size_t off, const void* src, size_t len) {
  if (len == 0) return;
  char* dst = static_cast<char*>(s.dst) + off;
  if (s.reduce) {
    s.reduce(dst, static_cast<const char*>(s.operand) + off, src, len / s.elemSize);
  } else if (dst != src) {
    mem::copyBytes(dst, src, len);  // self-sends may overlap
  }
}

}  // namespace loom::transport
