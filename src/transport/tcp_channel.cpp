// TCP channel: a peer's messages are cut into fragments of kTcpFragBytes, and fragment g of
// the pair (counted over all messages) travels on socket g % nsocks, so both sides know where
// every fragment goes without negotiation. Each fragment is a 40-byte Frame header plus
// payload; a sender batches up to 8 queued fragments of one socket into one sendmsg. A copy
// receive reads straight into the destination; a reduce receive reads into a per-socket
// staging buffer and reduces as whole elements arrive. Small frames are read ahead into a
// per-socket inbox, as many as have arrived in one call, and copied out as their receives come.
// Sockets are nonblocking and edge-triggered in one epoll set; per-socket ready flags avoid
// needless syscalls, and a short read clears the flag (the socket is empty until epoll says).
//
// Control frames (heartbeat, bye: a header alone) are queued only on a socket with nothing
// else queued, so they fall between data frames. A receiver reads a header and the payload it
// expects in one readv; when the header turns out to be a control frame, the bytes that landed
// in the payload area begin the next frame and are moved back (rare: control frames come at
// most every LOOM_FAILURE_DETECT/3 seconds on an idle socket). With no receive posted, frames are
// taken from the inbox up to the first data header, which waits for its receive.
#include <sys/socket.h>
#include <sys/uio.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "core/log.hpp"
#include "transport/crc32c.hpp"
#include "transport/fabric_impl.hpp"

namespace loom::transport {

namespace {
constexpr size_t kHdr = sizeof(wire::Frame);
constexpr int kBatch = 8;
constexpr size_t kReduceStep = 64 << 10;  // reduce once this much has been staged
constexpr size_t kInboxBytes = 4096;      // read-ahead for small frames (TcpSock::inbox)
constexpr size_t kTcpBurstBytes = 4 << 20;  // one socket's bytes per progress pass, each way
std::atomic<uint64_t> gReads{0};          // testhooks::tcpReads
}  // namespace

uint64_t testhooks::tcpReads() { return gReads.load(std::memory_order_relaxed); }

void FabricImpl::queueTcpSend(Peer& p, uint64_t seq, size_t bytes) {
  const char* buf = p.sends.back().buf;
  uint64_t n = fragCount(bytes, wire::kTcpFragBytes);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t off = i * wire::kTcpFragBytes;
    TcpSock& s = p.socks[p.sendFrag++ % p.socks.size()];
    FragRef f{seq, off, std::min<uint64_t>(wire::kTcpFragBytes, bytes - off)};
    f.data = buf ? buf + off : nullptr;
    f.msgBytes = bytes;
    s.sendFrags.push_back(f);
  }
}

void FabricImpl::queueTcpRecv(Peer& p, uint64_t seq, size_t bytes) {
  uint64_t n = fragCount(bytes, wire::kTcpFragBytes);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t off = i * wire::kTcpFragBytes;
    TcpSock& s = p.socks[p.recvFrag++ % p.socks.size()];
    s.recvFrags.push_back(FragRef{seq, off, std::min<uint64_t>(wire::kTcpFragBytes, bytes - off)});
  }
}

int FabricImpl::pollTcp(int timeoutMs) {
  epoll_event ev[64];
  int n = epoll_->wait(ev, 64, timeoutMs);
  for (int i = 0; i < n; ++i) {
    if (ev[i].data.u64 == os::Epoll::kWakeTag) continue;
    auto [peer, idx] = sockOfTag_[ev[i].data.u64];
    TcpSock& s = peers_[peer].socks[idx];
    uint32_t e = ev[i].events;
    if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s.readable = true;
    if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s.hangup = true;
    if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) s.writable = true;
  }
  return n;
}

bool FabricImpl::progressTcp(int rank, Peer& p) {
  bool moved = false;
  for (TcpSock& s : p.socks) {
    if (s.eof) {
      if (!s.recvFrags.empty() || !s.sendFrags.empty()) {
        tcpBroken(rank, p, s, "connection closed");
        return true;
      }
      continue;
    }
    if (!s.sendFrags.empty() && s.writable) moved |= tcpSend(rank, p, s);
    if (!status_.isOk()) return true;
  }
  for (TcpSock& s : p.socks) {
    if (!s.recvFrags.empty() && (s.readable || s.holding())) moved |= tcpRecv(rank, p, s);
    if (!status_.isOk()) return true;
  }
  return moved;
}

bool FabricImpl::tcpSend(int rank, Peer& p, TcpSock& s) {
  bool moved = false;
  size_t burst = 0;  // a pass stops at kTcpBurstBytes: other peers, and liveness, get their turn
  while (!s.sendFrags.empty() && s.writable && !s.eof && burst < kTcpBurstBytes) {
    iovec iov[2 * kBatch];
    wire::Frame hdr[kBatch];
    int niov = 0;
    int nfr = static_cast<int>(std::min<size_t>(kBatch, s.sendFrags.size()));
    for (int i = 0; i < nfr; ++i) {
      FragRef& f = s.sendFrags[i];
      const bool data = f.type == wire::FrameType::Data;
      if (!f.crcDone) {  // once per fragment, before its first byte goes out
        f.crcDone = true;
        if (data && cfg_.checksum) f.crc = crc32c(f.data, f.len);
        if (data && f.len > 0 && takeCorruption()) {
          s.ownedPayload.assign(f.data, f.data + f.len);
          s.ownedPayload[f.len / 2] ^= 0x5a;
          f.data = s.ownedPayload.data();
        }
      }
      hdr[i] = wire::Frame{};
      hdr[i].magic = wire::kFrameMagic;
      hdr[i].type = static_cast<uint8_t>(f.type);
      hdr[i].flags = data && cfg_.checksum ? wire::kFlagCrc : 0;
      hdr[i].crc = f.crc;
      hdr[i].fragBytes = f.len;
      hdr[i].msgBytes = f.msgBytes;
      hdr[i].offset = f.offset;
      size_t skip = i == 0 ? s.sendDone : 0;
      if (skip < kHdr) iov[niov++] = {reinterpret_cast<char*>(&hdr[i]) + skip, kHdr - skip};
      size_t payloadSkip = skip > kHdr ? skip - kHdr : 0;
      if (f.len > payloadSkip) iov[niov++] = {const_cast<char*>(f.data) + payloadSkip, f.len - payloadSkip};
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(niov);
    ssize_t n = ::sendmsg(s.fd.get(), &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        s.writable = false;
        break;
      }
      tcpBroken(rank, p, s, fmt::format("send failed: {}", std::strerror(errno)));
      return true;
    }
    moved = true;
    s.lastSend = Clock::now();
    burst += static_cast<size_t>(n);
    checkPacer_.moved(static_cast<size_t>(n));
    size_t left = static_cast<size_t>(n);
    while (left > 0) {
      const FragRef f = s.sendFrags.front();
      size_t remaining = kHdr + f.len - s.sendDone;
      if (left < remaining) {
        s.sendDone += left;
        break;
      }
      left -= remaining;
      s.sendDone = 0;
      s.sendFrags.pop_front();
      if (f.seq == kNoOp) continue;  // control frame, or a fragment orphaned by a failure
      SendOp& op = p.sends[f.seq - p.sendBase];
      if (--op.fragsLeft == 0) complete(op.done, Status::ok());
    }
    // Fragments on different sockets finish out of order; retire finished sends in order.
    while (!p.sends.empty() && p.sends.front().fragsLeft == 0) {
      p.sends.pop_front();
      ++p.sendBase;
    }
  }
  return moved;
}

Status checkFrame(const wire::Frame& h, uint64_t msgBytes, const FragRef& f, int rank, const std::string& where) {
  if (h.magic != wire::kFrameMagic)
    return remoteError(fmt::format("bad frame from rank {} ({}): magic {:08x}", rank, where, h.magic), rank);
  if (h.type != static_cast<uint8_t>(wire::FrameType::Data))
    return remoteError(fmt::format("bad frame from rank {} ({}): type {} where data was expected", rank, where, h.type), rank);
  if (h.msgBytes != msgBytes)
    return remoteError(fmt::format("message size mismatch with rank {}: it sent {} bytes, the receive expects {} bytes",
                                   rank, h.msgBytes, msgBytes), rank);
  if (h.fragBytes != f.len || h.offset != f.offset)
    return remoteError(fmt::format("bad frame from rank {} ({}): {} bytes at {}, expected {} at {}", rank, where,
                                   h.fragBytes, h.offset, f.len, f.offset), rank);
  return Status::ok();
}

// Where the payload of the incoming frame bound to recvFrags.front() goes.
char* FabricImpl::tcpPayloadDst(Peer& p, TcpSock& s) {
  const FragRef& f = s.recvFrags.front();
  RecvOp& op = p.recvs[f.seq - p.recvBase];
  if (!op.sink.reduce) return static_cast<char*>(op.sink.dst) + f.offset;
  if (s.staging.size() < wire::kTcpFragBytes) s.staging.resize(wire::kTcpFragBytes);
  return s.staging.data();
}

bool FabricImpl::tcpRecv(int rank, Peer& p, TcpSock& s) {
  bool moved = false;
  bool tookAhead = false;
  size_t burst = 0;  // as in tcpSend
  for (;;) {
    if (!tcpDigest(rank, p, s)) return true;
    if (s.eof) break;
    if (s.recvDone >= kHdr && !s.hdrChecked) break;  // a data header waits for its receive
    if (s.inboxAt < s.inboxEnd) {  // bytes read ahead belong to the frame being received
      takeFromInbox(p, s);
      tookAhead = true;
      continue;
    }
    if (!s.readable || burst >= kTcpBurstBytes) break;
    iovec iov[2];
    int niov = 0;
    bool ahead = false;
    if (s.recvDone < kHdr) {
      // Small frames are read ahead into the inbox, as many as have arrived: one call for a
      // run of them, where a header and its payload were two (a receive is often posted only
      // after its frame arrived). Larger expected payloads go straight to their destination.
      const bool expectingLarge =
          !s.recvFrags.empty() && status_.isOk() && s.recvFrags.front().len + kHdr > kInboxBytes;
      if (s.recvDone == 0 && !expectingLarge) {
        if (s.inbox.size() < kInboxBytes) s.inbox.resize(kInboxBytes);
        iov[niov++] = {s.inbox.data(), kInboxBytes};
        ahead = true;
      } else {
        iov[niov++] = tcpFrameRest(p, s);
        // Expecting data: read its payload in the same call (the header may still be control).
        if (!s.recvFrags.empty() && status_.isOk() && s.recvFrags.front().len > 0)
          iov[niov++] = {tcpPayloadDst(p, s), s.recvFrags.front().len};
      }
    } else {
      iov[niov++] = tcpFrameRest(p, s);
    }
    ssize_t n = ::readv(s.fd.get(), iov, niov);
    gReads.fetch_add(1, std::memory_order_relaxed);
    if (n == 0) {
      tcpBroken(rank, p, s, "connection closed");
      return true;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        s.readable = false;
        break;
      }
      tcpBroken(rank, p, s, fmt::format("receive failed: {}", std::strerror(errno)));
      return true;
    }
    moved = true;
    p.lastRecv = Clock::now();
    burst += static_cast<size_t>(n);
    checkPacer_.moved(static_cast<size_t>(n));
    size_t asked = 0;
    for (int i = 0; i < niov; ++i) asked += iov[i].iov_len;
    // A short read emptied the socket: edge-triggered epoll reports whatever arrives next, so
    // asking again would only be told EAGAIN (a system call per message saved). Not once the
    // peer has hung up: its end of stream came with the event already seen, and only a read
    // that returns 0 tells it.
    if (static_cast<size_t>(n) < asked && !s.hangup) s.readable = false;
    if (ahead) {
      s.inboxAt = 0;
      s.inboxEnd = static_cast<size_t>(n);
    } else {
      s.recvDone += static_cast<size_t>(n);
    }
  }
  // Frames read ahead count as received when they are taken, as a header held for its receive
  // does (checkTcpPeer): the peer's later heartbeats queue behind them.
  if (tookAhead) {
    p.lastRecv = Clock::now();
    moved = true;
  }
  return moved;
}

// The rest of the frame being received: of its header, or once the header has been checked (and
// bound to a receive, or to be discarded), of its payload.
iovec FabricImpl::tcpFrameRest(Peer& p, TcpSock& s) {
  if (s.recvDone < kHdr) return {reinterpret_cast<char*>(&s.inHdr) + s.recvDone, kHdr - s.recvDone};
  const size_t got = s.recvDone - kHdr;
  char* dst = s.discard ? s.staging.data() : tcpPayloadDst(p, s);
  return {dst + got, s.inHdr.fragBytes - got};
}

// Feeds the frame being received from the inbox, as much of it as was read ahead (a header no
// further until it has been checked: tcpRecv stops at a header waiting for its receive).
void FabricImpl::takeFromInbox(Peer& p, TcpSock& s) {
  const iovec to = tcpFrameRest(p, s);
  const size_t take = std::min(s.inboxEnd - s.inboxAt, to.iov_len);
  std::memcpy(to.iov_base, s.inbox.data() + s.inboxAt, take);
  s.inboxAt += take;
  s.recvDone += take;
}

bool FabricImpl::tcpDigest(int rank, Peer& p, TcpSock& s) {
  for (;;) {
    if (s.recvDone < kHdr || s.eof) return true;
    wire::Frame& h = s.inHdr;
    if (!s.hdrChecked) {
      if (h.magic != wire::kFrameMagic) {
        s.eof = true;  // the stream is garbage from here on
        fail(remoteError(fmt::format("bad frame from rank {} ({}): magic {:08x}", rank, p.where, h.magic), rank));
        return false;
      }
      if (h.type == static_cast<uint8_t>(wire::FrameType::Heartbeat) || h.type == static_cast<uint8_t>(wire::FrameType::Bye)) {
        if (h.fragBytes != 0) {
          s.eof = true;
          fail(remoteError(fmt::format("bad control frame from rank {} ({}): {} payload bytes", rank, p.where, h.fragBytes), rank));
          return false;
        }
        if (h.type == static_cast<uint8_t>(wire::FrameType::Bye)) {
          s.byeSeen = true;
          p.closed = true;
        }
        // Bytes past the header landed in the payload area of the expected fragment: they
        // begin the next frame. Move them where they belong.
        size_t extra = s.recvDone - kHdr;
        if (extra > 0) {
          char* area = tcpPayloadDst(p, s);
          std::memcpy(&s.inHdr, area, std::min(extra, kHdr));
          if (extra > kHdr) std::memmove(area, area + kHdr, extra - kHdr);
        }
        s.recvDone = extra;
        continue;
      }
      if (h.type != static_cast<uint8_t>(wire::FrameType::Data)) {
        s.eof = true;
        fail(remoteError(fmt::format("bad frame from rank {} ({}): type {}", rank, p.where, h.type), rank));
        return false;
      }
      if (s.recvFrags.empty()) {
        if (status_.isOk()) return true;  // held until its receive is posted
        if (h.fragBytes > wire::kTcpFragBytes) {
          s.eof = true;  // failed already; just stop reading garbage
          return true;
        }
        s.discard = true;  // failed: no receive will come; skip it to reach later heartbeats
        if (s.staging.size() < wire::kTcpFragBytes) s.staging.resize(wire::kTcpFragBytes);
      } else {
        const FragRef& f = s.recvFrags.front();
        if (Status st = checkFrame(h, p.recvs[f.seq - p.recvBase].bytes, f, rank, p.where); !st.isOk()) {
          s.eof = true;
          fail(std::move(st));
          return false;
        }
      }
      s.hdrChecked = true;
    }
    if (!s.discard) {
      const FragRef& f = s.recvFrags.front();
      RecvOp& op = p.recvs[f.seq - p.recvBase];
      size_t got = s.recvDone - kHdr;
      if (op.sink.reduce && !(h.flags & wire::kFlagCrc)) {  // with a checksum: reduce once verified
        size_t ready = (got - s.reduced) / op.sink.elemSize * op.sink.elemSize;
        if (ready >= kReduceStep || (got == f.len && ready > 0)) {
          deliver(op.sink, f.offset + s.reduced, s.staging.data() + s.reduced, ready);
          s.reduced += ready;
        }
      }
    }
    if (s.recvDone < kHdr + h.fragBytes) return true;
    if (!s.discard && !tcpFinishFrame(rank, p, s)) return false;
    s.recvDone = 0;
    s.reduced = 0;
    s.hdrChecked = false;
    s.discard = false;
  }
}

// The front fragment arrived whole: verify its checksum, finish a reduce, complete.
bool FabricImpl::tcpFinishFrame(int rank, Peer& p, TcpSock& s) {
  const FragRef f = s.recvFrags.front();
  RecvOp& op = p.recvs[f.seq - p.recvBase];
  const wire::Frame& h = s.inHdr;
  if (h.flags & wire::kFlagCrc) {
    const char* data = op.sink.reduce ? s.staging.data() : static_cast<const char*>(op.sink.dst) + f.offset;
    uint32_t got = crc32c(data, f.len);
    if (got != h.crc) {
      s.eof = true;
      fail(remoteError(fmt::format("checksum mismatch from rank {} (frame: {} bytes at offset {} of a {}-byte message, "
                                   "socket {}, tcp {}): CRC32C {:08x}, sender said {:08x}",
                                   rank, f.len, f.offset, h.msgBytes, &s - p.socks.data(), p.where, got, h.crc), rank));
      return false;
    }
    if (op.sink.reduce) deliver(op.sink, f.offset, s.staging.data(), f.len);
  }
  s.recvFrags.pop_front();
  if (--op.fragsLeft == 0) complete(op.done, Status::ok());
  while (!p.recvs.empty() && p.recvs.front().fragsLeft == 0) {
    p.recvs.pop_front();
    ++p.recvBase;
  }
  return true;
}

}  // namespace loom::transport
