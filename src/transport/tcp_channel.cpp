// TCP channel: a peer's messages are cut into fragments of kTcpFragBytes, and fragment g of
// the pair (counted over all messages) travels on socket g % nsocks, so both sides know where
// every fragment goes without negotiation. Each fragment is a 32-byte Frame header plus
// payload; a sender batches up to 8 queued fragments of one socket into one sendmsg. A copy
// receive reads straight into the destination; a reduce receive reads into a per-socket
// staging buffer and reduces as whole elements arrive. Sockets are nonblocking and
// edge-triggered in one epoll set; per-socket ready flags avoid needless syscalls.
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

#include "core/log.hpp"
#include "transport/fabric_impl.hpp"

namespace loom::transport {

namespace {
constexpr size_t kHdr = sizeof(wire::Frame);
constexpr int kBatch = 8;
constexpr size_t kReduceStep = 64 << 10;  // reduce once this much has been staged
}  // namespace

void FabricImpl::queueTcpSend(Peer& p, uint64_t seq, size_t bytes) {
  uint64_t n = fragCount(bytes, wire::kTcpFragBytes);
  for (uint64_t i = 0; i < n; ++i) {
    uint64_t off = i * wire::kTcpFragBytes;
    TcpSock& s = p.socks[p.sendFrag++ % p.socks.size()];
    s.sendFrags.push_back(FragRef{seq, off, std::min<uint64_t>(wire::kTcpFragBytes, bytes - off)});
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

void FabricImpl::pollTcp(int timeoutMs) {
  epoll_event ev[64];
  int n = epoll_->wait(ev, 64, timeoutMs);
  for (int i = 0; i < n; ++i) {
    if (ev[i].data.u64 == os::Epoll::kWakeTag) continue;
    auto [peer, idx] = sockOfTag_[ev[i].data.u64];
    TcpSock& s = peers_[peer].socks[idx];
    uint32_t e = ev[i].events;
    if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) s.readable = true;
    if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR)) s.writable = true;
  }
}

bool FabricImpl::progressTcp(int rank, Peer& p) {
  bool moved = false;
  for (TcpSock& s : p.socks) {
    if (!s.sendFrags.empty() && s.writable) moved |= tcpSend(rank, p, s);
    if (!status_.isOk()) return true;
  }
  for (TcpSock& s : p.socks) {
    if (!s.recvFrags.empty() && s.readable) moved |= tcpRecv(rank, p, s);
    if (!status_.isOk()) return true;
  }
  return moved;
}

bool FabricImpl::tcpSend(int rank, Peer& p, TcpSock& s) {
  bool moved = false;
  while (!s.sendFrags.empty() && s.writable) {
    iovec iov[2 * kBatch];
    wire::Frame hdr[kBatch];
    int niov = 0;
    int nfr = static_cast<int>(std::min<size_t>(kBatch, s.sendFrags.size()));
    for (int i = 0; i < nfr; ++i) {
      const FragRef& f = s.sendFrags[i];
      const SendOp& op = p.sends[f.seq - p.sendBase];
      hdr[i] = wire::Frame{wire::kFrameMagic, 0, f.len, op.bytes, f.offset};
      size_t skip = i == 0 ? s.sendDone : 0;
      if (skip < kHdr) iov[niov++] = {reinterpret_cast<char*>(&hdr[i]) + skip, kHdr - skip};
      size_t payloadSkip = skip > kHdr ? skip - kHdr : 0;
      if (f.len > payloadSkip) iov[niov++] = {const_cast<char*>(op.buf) + f.offset + payloadSkip, f.len - payloadSkip};
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
      fail(remoteError(fmt::format("connection to rank {} ({}) failed: {}", rank, p.where, std::strerror(errno)), rank));
      return true;
    }
    moved = true;
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

bool FabricImpl::tcpRecv(int rank, Peer& p, TcpSock& s) {
  bool moved = false;
  while (!s.recvFrags.empty() && s.readable) {
    const FragRef f = s.recvFrags.front();
    RecvOp& op = p.recvs[f.seq - p.recvBase];
    const bool reduce = op.sink.reduce != nullptr;
    if (reduce && s.staging.size() < wire::kTcpFragBytes) s.staging.resize(wire::kTcpFragBytes);
    iovec iov[2];
    int niov = 0;
    if (s.recvDone < kHdr) iov[niov++] = {reinterpret_cast<char*>(&s.inHdr) + s.recvDone, kHdr - s.recvDone};
    size_t got = s.recvDone > kHdr ? s.recvDone - kHdr : 0;
    char* dst = reduce ? s.staging.data() : static_cast<char*>(op.sink.dst) + f.offset;
    if (f.len > got) iov[niov++] = {dst + got, f.len - got};
    ssize_t n = ::readv(s.fd.get(), iov, niov);
    if (n == 0) {
      fail(remoteError(fmt::format("rank {} ({}) closed the connection", rank, p.where), rank));
      return true;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        s.readable = false;
        break;
      }
      fail(remoteError(fmt::format("connection to rank {} ({}) failed: {}", rank, p.where, std::strerror(errno)), rank));
      return true;
    }
    moved = true;
    bool hadHeader = s.recvDone >= kHdr;
    s.recvDone += static_cast<size_t>(n);
    if (!hadHeader && s.recvDone >= kHdr) {
      const wire::Frame& h = s.inHdr;
      if (h.magic != wire::kFrameMagic) {
        fail(remoteError(fmt::format("bad frame from rank {} ({}): magic {:08x}", rank, p.where, h.magic), rank));
        return true;
      }
      if (h.msgBytes != op.bytes) {
        fail(remoteError(fmt::format("message size mismatch with rank {}: it sent {} bytes, the receive expects {} bytes", rank,
                                     h.msgBytes, op.bytes), rank));
        return true;
      }
      if (h.fragBytes != f.len || h.offset != f.offset) {
        fail(remoteError(fmt::format("bad frame from rank {} ({}): {} bytes at {}, expected {} at {}", rank, p.where,
                                     h.fragBytes, h.offset, f.len, f.offset), rank));
        return true;
      }
    }
    got = s.recvDone > kHdr ? s.recvDone - kHdr : 0;
    if (reduce) {
      size_t ready = (got - s.reduced) / op.sink.elemSize * op.sink.elemSize;
      if (ready >= kReduceStep || (got == f.len && ready > 0)) {
        deliver(op.sink, f.offset + s.reduced, s.staging.data() + s.reduced, ready);
        s.reduced += ready;
      }
    }
    if (s.recvDone == kHdr + f.len) {
      s.recvDone = 0;
      s.reduced = 0;
      s.recvFrags.pop_front();
      if (--op.fragsLeft == 0) complete(op.done, Status::ok());
      while (!p.recvs.empty() && p.recvs.front().fragsLeft == 0) {
        p.recvs.pop_front();
        ++p.recvBase;
      }
    }
  }
  return moved;
}

}  // namespace loom::transport
