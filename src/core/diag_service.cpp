#include "core/diag_service.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "core/log.hpp"
#include "os/net.hpp"

namespace loom::core {

namespace {

constexpr int kQueryMs = 300;  // a query must arrive whole within this, or the asker is dropped

diagwire::Query makeQuery(const bootstrap::Secret& secret, uint64_t commId, uint64_t seq, int from) {
  diagwire::Query q{};
  std::memcpy(q.magic, diagwire::kMagic, sizeof q.magic);
  std::memcpy(q.secret, secret.data(), sizeof q.secret);
  q.commId = commId;
  q.seq = seq;
  q.fromRank = from;
  return q;
}

std::string peerName(int fd) {
  os::SockAddr a;
  a.len = sizeof a.storage;
  if (getpeername(fd, a.get(), &a.len) != 0) return "?";
  return a.toString();
}

}  // namespace

std::string snapshotToJson(int rank, const ProgressSnapshot& s) {
  nlohmann::json j{{"rank", rank},          {"issued", s.issued},   {"running", s.running},
                   {"what", s.runningWhat}, {"seconds", s.runningSeconds},
                   {"waiting_on", s.waitingOn}, {"finished", s.finished}};
  return j.dump();
}

Result<ProgressSnapshot> snapshotFromJson(const std::string& text) {
  ProgressSnapshot s;
  const char* field = "(document)";
  try {
    auto j = nlohmann::json::parse(text);
    // A call number: get<uint64_t>() would cast a float or a negative number (1e97 is undefined
    // behaviour), so only a non-negative integer is taken.
    auto callNumber = [&j](const char* name) {
      const auto& v = j.at(name);
      if (!v.is_number_unsigned()) throw std::invalid_argument("expected a non-negative integer, got " + v.dump());
      return v.get<uint64_t>();
    };
    field = "issued";
    s.issued = callNumber(field);
    field = "running";
    s.running = callNumber(field);
    field = "what";
    s.runningWhat = j.at(field).get<std::string>();
    field = "seconds";
    s.runningSeconds = j.at(field).get<double>();
    field = "waiting_on";
    s.waitingOn = j.at(field).get<std::string>();
    field = "finished";
    s.finished = callNumber(field);
  } catch (const std::exception& e) {
    return invalidArgument(fmt::format("diagnostics reply: bad field '{}': {}", field, e.what()));
  }
  return s;
}

Result<std::unique_ptr<DiagService>> DiagService::start(const bootstrap::Secret& secret, uint64_t commId, int rank,
                                                        std::shared_ptr<const ProgressBoard> board) {
  auto addr = ControlPort::chosenAddress();
  if (!addr.isOk()) return addr.takeStatus();
  os::SockAddr bound;
  auto fd = os::listenTcp(addr.value(), &bound, 64);
  if (!fd.isOk()) return fd.takeStatus();
  std::unique_ptr<DiagService> d(new DiagService());
  d->secret_ = secret;
  d->commId_ = commId;
  d->rank_ = rank;
  d->board_ = std::move(board);
  d->listener_ = std::move(fd.value());
  d->stop_ = os::UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!d->stop_.valid()) return systemError("eventfd", errno);
  d->address_ = {bound.host(), bound.port()};
  d->thread_ = std::thread([p = d.get()] { p->serve(); });
  return d;
}

DiagService::~DiagService() {
  uint64_t one = 1;
  if (write(stop_.get(), &one, sizeof one) < 0) LOOM_DEBUG("diagnostics: eventfd write failed");
  if (thread_.joinable()) thread_.join();
}

void DiagService::serve() {
  for (;;) {
    pollfd fds[2] = {{listener_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (poll(fds, 2, -1) < 0 && errno != EINTR) return;
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    os::UniqueFd c(accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (c.valid()) answer(c.get(), peerName(c.get()));
  }
}

void DiagService::answer(int fd, const std::string& from) {
  diagwire::Query q{};
  Status st = os::readAll(fd, &q, sizeof q, kQueryMs);
  std::string why;
  if (!st.isOk()) why = "incomplete query (" + st.message() + ")";
  else if (std::memcmp(q.magic, diagwire::kMagic, sizeof q.magic) != 0) why = "not a loom diagnostics query";
  else if (std::memcmp(q.secret, secret_.data(), sizeof q.secret) != 0) why = "wrong secret";
  else if (q.commId != commId_) why = "another communicator";
  if (!why.empty()) {
    LOOM_WARN("diagnostics port of rank {}: dropped a connection from {}: {}", rank_, from, why);
    return;
  }
  std::string body = snapshotToJson(rank_, board_->snapshot());
  uint32_t len = static_cast<uint32_t>(body.size());
  uint8_t hdr[4] = {static_cast<uint8_t>(len), static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len >> 16),
                    static_cast<uint8_t>(len >> 24)};
  if (os::writeAll(fd, hdr, 4, kQueryMs).isOk()) (void)os::writeAll(fd, body.data(), body.size(), kQueryMs);
}

std::vector<PeerAnswer> askPeers(const std::vector<ControlAddress>& addrs, int self, const bootstrap::Secret& secret,
                                 uint64_t commId, uint64_t seq, Deadline deadline,
                                 const std::function<bool()>& cancelled) {
  struct Conn {
    os::UniqueFd fd;
    bool connected = false;
    std::string in;
    bool done = false;
  };
  const int n = static_cast<int>(addrs.size());
  std::vector<PeerAnswer> out(n);
  std::vector<Conn> conns(n);
  const diagwire::Query q = makeQuery(secret, commId, seq, self);
  auto finish = [&](int r, PeerAnswer::Kind k, std::string detail) {
    out[r].kind = k;
    out[r].detail = std::move(detail);
    conns[r].done = true;
    conns[r].fd.reset();
  };
  for (int r = 0; r < n; ++r) {
    out[r].rank = r;
    if (r == self || addrs[r].port == 0) {
      conns[r].done = true;
      out[r].kind = PeerAnswer::Kind::Bad;
      out[r].detail = r == self ? "self" : "no diagnostics port";
      continue;
    }
    auto a = os::SockAddr::parse(addrs[r].host, addrs[r].port);
    bool inProgress = false;
    auto fd = a.isOk() ? os::connectTcp(a.value(), &inProgress) : Result<os::UniqueFd>(a.status());
    if (!fd.isOk()) {
      finish(r, PeerAnswer::Kind::Bad, fd.status().message());
      continue;
    }
    conns[r].fd = std::move(fd.value());
  }
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<int> who;
    for (int r = 0; r < n; ++r) {
      if (conns[r].done) continue;
      fds.push_back({conns[r].fd.get(), static_cast<short>(conns[r].connected ? POLLIN : POLLOUT), 0});
      who.push_back(r);
    }
    if (fds.empty() || deadline.expired() || (cancelled && cancelled())) break;
    if (poll(fds.data(), fds.size(), std::min(deadline.remainingMs(50), 50)) <= 0) continue;
    for (size_t i = 0; i < fds.size(); ++i) {
      int r = who[i];
      Conn& c = conns[r];
      if (!fds[i].revents) continue;
      if (!c.connected) {
        int err = os::socketError(c.fd.get());
        if (err == ECONNREFUSED) {
          finish(r, PeerAnswer::Kind::Gone, "nothing listens any more: it has left");
        } else if (err != 0) {
          finish(r, PeerAnswer::Kind::Silent, fmt::format("unreachable ({})", std::strerror(err)));
        } else if (send(c.fd.get(), &q, sizeof q, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof q)) {
          finish(r, PeerAnswer::Kind::Bad, "query not sent");
        } else {
          c.connected = true;
        }
        continue;
      }
      char buf[4096];
      ssize_t got = recv(c.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (got <= 0) {
        finish(r, PeerAnswer::Kind::Gone, "closed the connection without answering");
        continue;
      }
      c.in.append(buf, static_cast<size_t>(got));
      if (c.in.size() < 4) continue;
      const auto* h = reinterpret_cast<const uint8_t*>(c.in.data());
      uint32_t len = h[0] | h[1] << 8 | h[2] << 16 | static_cast<uint32_t>(h[3]) << 24;
      if (len > diagwire::kMaxReply) {
        finish(r, PeerAnswer::Kind::Bad, fmt::format("reply of {} bytes is too long", len));
        continue;
      }
      if (c.in.size() < 4 + static_cast<size_t>(len)) continue;
      auto snap = snapshotFromJson(c.in.substr(4, len));
      if (!snap.isOk()) {
        finish(r, PeerAnswer::Kind::Bad, snap.status().message());
        continue;
      }
      out[r].snap = snap.value();
      finish(r, PeerAnswer::Kind::Answered, "");
    }
  }
  for (int r = 0; r < n; ++r)
    if (!conns[r].done) finish(r, PeerAnswer::Kind::Silent, "");
  return out;
}

std::string describeHang(uint64_t seq, double askedSeconds, const std::vector<PeerAnswer>& answers) {
  std::vector<std::string> never, silent, gone, inIt;
  std::vector<int> suspects;
  for (const auto& a : answers) {
    switch (a.kind) {
      case PeerAnswer::Kind::Bad: break;  // self, or nothing to learn
      case PeerAnswer::Kind::Gone: gone.push_back(fmt::format("rank {} ({})", a.rank, a.detail)); break;
      case PeerAnswer::Kind::Silent:
        suspects.push_back(a.rank);
        silent.push_back(a.detail.empty() ? fmt::format("rank {}", a.rank) : fmt::format("rank {} ({})", a.rank, a.detail));
        break;
      case PeerAnswer::Kind::Answered: {
        const auto& s = a.snap;
        // The operation's text is published once it has been stuck for a while.
        std::string what = s.runningWhat.empty() ? fmt::format("#{}", s.running) : s.runningWhat;
        if (s.issued < seq) {
          suspects.push_back(a.rank);
          never.push_back(s.running ? fmt::format("rank {} (still in {} for {:.1f} s{}{})", a.rank, what,
                                                  s.runningSeconds, s.waitingOn.empty() ? "" : ", waiting on: ",
                                                  s.waitingOn)
                                    : fmt::format("rank {} (idle; last issued #{})", a.rank, s.issued));
        } else if (s.running && !s.waitingOn.empty()) {
          inIt.push_back(fmt::format("rank {} in {} waits on: {}", a.rank, what, s.waitingOn));
        }
        break;
      }
    }
  }
  auto list = [](const std::vector<std::string>& v) {
    constexpr size_t kShow = 8;
    std::string out;
    for (size_t i = 0; i < v.size() && i < kShow; ++i) out += (i ? ", " : "") + v[i];
    if (v.size() > kShow) out += fmt::format(" and {} more", v.size() - kShow);
    return out;
  };
  std::string out;
  if (!never.empty()) out += fmt::format("; never reached #{}: {}", seq, list(never));
  if (!silent.empty()) out += fmt::format("; no answer within {:.1f} s (stopped, hung or unreachable): {}", askedSeconds, list(silent));
  if (!gone.empty()) out += "; gone: " + list(gone);
  if (!inIt.empty()) out += "; " + list(inIt);
  if (!suspects.empty()) {
    std::string s;
    for (size_t i = 0; i < suspects.size() && i < 16; ++i) s += (i ? ", " : "") + std::to_string(suspects[i]);
    if (suspects.size() > 16) s += ", ...";
    out += fmt::format("; suspect rank{} {}", suspects.size() > 1 ? "s" : "", s);
  } else if (out.empty()) {
    out = "; every other rank reached it";
  }
  return out;
}

}  // namespace loom::core
