// The bootstrap root's protocol (see root_session.cpp for the loop that feeds it): a hello
// proves the job secret and claims a rank, ranks contribute to numbered all-gather rounds, and
// any job-level error is told to every connected rank so that all fail with one message.
#include <algorithm>

#include <fmt/format.h>

#include "core/log.hpp"
#include "bootstrap/root_session.hpp"

namespace loom::bootstrap::detail {

bool Session::handleFrame(Conn& c, FrameType type, std::string_view payload) {
  if (!c.authed) {
    if (type != FrameType::Hello) {
      LOOM_WARN("bootstrap root: {} sent frame type {} before a hello; closing it", c.peer, int(type));
      return false;
    }
    return handleHello(c, payload);
  }
  if (type != FrameType::Contribute || c.rank < 0) {
    LOOM_WARN("bootstrap root: unexpected frame type {} from {}; closing it", int(type), who(c));
    return false;
  }
  if (!failure_) handleContribute(c, payload);
  return true;
}

bool Session::handleHello(Conn& c, std::string_view payload) {
  wire::Hello hello;
  if (!wire::parseHello(payload, &hello)) {
    LOOM_WARN("bootstrap root: malformed hello from {}; closing it", c.peer);
    return false;
  }
  const uint32_t version = hello.version;
  const int32_t rank = hello.rank, nranks = hello.nranks, pid = hello.pid;
  const std::string& host = hello.host;
  unsigned char diff = 0;  // constant-time comparison
  for (size_t i = 0; i < 16; ++i) diff |= hello.secret[i] ^ secret_[i];
  if (diff != 0) {
    LOOM_WARN("bootstrap root: connection from {} presented a wrong secret (an id from another job?); closing it",
              c.peer);
    return false;
  }
  if (version != wire::kProtocolVersion) {
    LOOM_WARN("bootstrap root: {} speaks protocol {} (expected {}); closing it", c.peer, version,
              wire::kProtocolVersion);
    return false;
  }
  c.authed = true;
  if (failure_) {
    send(c, errorFrame(*failure_));
    return true;
  }
  std::string claimant = fmt::format("pid {} on {}", pid, host);
  if (nranks <= 0 || nranks > kMaxRanks) {
    fail(invalidUsage(fmt::format("{} joined with nranks={}, which is out of range", claimant, nranks)));
    send(c, errorFrame(*failure_));
    return true;
  }
  if (nranks_ < 0) {
    nranks_ = nranks;
    claims_.resize(nranks);
    rankFd_.assign(nranks, -1);
    left_.assign(nranks, false);
    blobs_.assign(nranks, std::nullopt);
  } else if (nranks != nranks_) {
    fail(invalidUsage(fmt::format("rank {} ({}) says nranks={} but earlier ranks said {}", rank, claimant, nranks,
                                  nranks_)));
    send(c, errorFrame(*failure_));
    return true;
  }
  if (rank < 0 || rank >= nranks_) {
    fail(invalidUsage(fmt::format("rank {} ({}) is out of range for {} ranks", rank, claimant, nranks_)));
    send(c, errorFrame(*failure_));
    return true;
  }
  if (claims_[rank].pid != 0 || !claims_[rank].host.empty()) {
    fail(invalidUsage(fmt::format("rank {} claimed by two processes: pid {} on {} and pid {} on {}", rank,
                                  claims_[rank].pid, claims_[rank].host, pid, host)));
    send(c, errorFrame(*failure_));
    return true;
  }
  claims_[rank] = {pid, host.empty() ? std::string(1, '?') : host};
  c.rank = rank;
  rankFd_[rank] = c.fd;
  ++joined_;
  wire::Writer w;
  w.i32(nranks_);
  send(c, std::make_shared<const std::string>(wire::frame(FrameType::Welcome, w.out())));
  return true;
}

void Session::handleContribute(Conn& c, std::string_view payload) {
  wire::Contribution in;
  if (!wire::parseContribution(payload, &in)) return fail(remoteError(fmt::format("{} sent a malformed round", who(c)), c.rank));
  const uint32_t round = in.round, waitMs = in.waitMs;
  if (round != round_ || blobs_[c.rank])
    return fail(remoteError(fmt::format("{} sent round {} while the rendezvous is at round {}{}", who(c), round, round_,
                                        blobs_[c.rank] ? " (twice)" : ""),
                            c.rank));
  if (contributed_ == 0) {
    roundStart_ = Clock::now();
    for (int q = 0; q < nranks_; ++q)
      if (left_[q])
        return fail(remoteError(fmt::format("{} started round {} but rank {} already left the rendezvous", who(c),
                                            round_, q),
                                q));
  }
  blobs_[c.rank] = std::string(in.blob);
  ++contributed_;
  if (waitMs != wire::kNoDeadline) {
    // Answer just before the client's own deadline so its error can name the missing ranks.
    auto margin = std::min<std::chrono::milliseconds>(100ms, std::chrono::milliseconds(waitMs / 5));
    c.waitUntil = Clock::now() + std::chrono::milliseconds(waitMs) - margin;
  }
  if (contributed_ == nranks_) completeRound();
}

void Session::completeRound() {
  size_t total = wire::kHeaderBytes + 8;
  for (const auto& b : blobs_) total += 4 + b->size();
  if (total > wire::kMaxFrameBytes)
    return fail(invalidUsage(fmt::format("bootstrap round {} gathers {} bytes, over the {} MiB frame limit", round_,
                                         total, wire::kMaxFrameBytes >> 20)));
  std::vector<std::string_view> views;
  views.reserve(blobs_.size());
  for (const auto& b : blobs_) views.emplace_back(*b);
  auto bytes = std::make_shared<const std::string>(wire::frame(FrameType::Gathered, wire::encodeGathered(round_, views)));
  for (int q = 0; q < nranks_; ++q) {
    auto it = conns_.find(rankFd_[q]);
    if (rankFd_[q] >= 0 && it != conns_.end()) {
      it->second->waitUntil = Clock::time_point::max();
      send(*it->second, bytes);
    }
    blobs_[q].reset();
  }
  contributed_ = 0;
  ++round_;
}

std::shared_ptr<const std::string> Session::errorFrame(const Status& s) {
  return std::make_shared<const std::string>(wire::frame(FrameType::Error, wire::encodeError(s)));
}

void Session::fail(Status s) {
  if (failure_) return;
  LOOM_WARN("bootstrap root: {}", s.message());
  failure_ = std::move(s);
  failedAt_ = Clock::now();
  auto bytes = errorFrame(*failure_);
  for (auto& [fd, c] : conns_)
    if (c->authed) send(*c, bytes);
}

std::string Session::missingText() const {
  std::vector<int> never, behind;
  for (int q = 0; q < nranks_; ++q) {
    if (blobs_[q]) continue;
    (claims_[q].host.empty() ? never : behind).push_back(q);
  }
  std::string out;
  if (!never.empty()) out = wire::rankList(never) + " never connected";
  if (!behind.empty())
    out += fmt::format("{}{} never reached round {}", out.empty() ? "" : "; ", wire::rankList(behind), round_);
  return out;
}

}  // namespace loom::bootstrap::detail
