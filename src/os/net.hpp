// Sockets: numeric addresses, interface selection with NCCL's NCCL_SOCKET_IFNAME syntax, and
// the few nonblocking TCP helpers the bootstrap and the TCP transport share.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/deadline.hpp"
#include "core/status.hpp"
#include "os/fd.hpp"

namespace loom::os {

struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;

  int family() const { return storage.ss_family; }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }
  uint16_t port() const;
  void setPort(uint16_t port);
  std::string host() const;      // numeric, without brackets or scope
  std::string toString() const;  // "1.2.3.4:5" or "[::1]:5"
  // Numeric host (IPv4, IPv6, optionally "%scope") and port; no name resolution.
  static Result<SockAddr> parse(const std::string& host, uint16_t port);
};

struct Interface {
  std::string name;
  SockAddr addr;  // port 0
  bool loopback = false;
};

// Up interfaces with an IPv4 or IPv6 address (IPv6 link-local addresses last per interface).
std::vector<Interface> listInterfaces();

// NCCL syntax: "eth,ib" prefixes; "^docker,lo" excludes prefixes; "=eth0" exact names
// ("^=..." excludes exact names); an "eth0:port" item's port is ignored. Empty spec matches
// everything.
bool interfaceMatches(const std::string& spec, const std::string& name);

// Interfaces the default choice skips: container and VM bridges.
inline constexpr const char* kDefaultIfnameExclude = "^docker,veth,virbr";

// The address to listen on, of `family` ("", "AF_INET"/"inet"/"ipv4"/"4", "AF_INET6"/...),
// IPv4 first unless a family is given: the first interface matching `ifnameSpec`; by default
// the first non-loopback one outside kDefaultIfnameExclude (link-local IPv6 skipped), else
// loopback (127.0.0.1 even when getifaddrs lists nothing). Used by the bootstrap root and
// the TCP transport alike.
Result<Interface> selectInterface(const std::string& ifnameSpec, const std::string& family);

Status setNonblocking(int fd);
void setNoDelay(int fd);
void setBufferSizes(int fd, size_t bytes);  // SO_SNDBUF and SO_RCVBUF; best effort; 0: the kernel's
// TCP_CONGESTION (e.g. "cubic"); false when the kernel refuses it (not loaded, not allowed).
bool setCongestionControl(int fd, const std::string& name);
std::string congestionControl(int fd);  // empty when unknown
std::string defaultCongestionControl();  // net.ipv4.tcp_congestion_control; empty when unknown
// Loopback, or the address of one of `interfaces` (listInterfaces(), read once by the caller).
bool isLocalAddress(const SockAddr& a, const std::vector<Interface>& interfaces);

// A listening TCP socket (nonblocking, CLOEXEC) bound to addr (port 0: any); `bound` gets the
// actual address.
Result<UniqueFd> listenTcp(const SockAddr& addr, SockAddr* bound, int backlog = 128);
// Starts a nonblocking connect; *inProgress is true while EINPROGRESS. bufferBytes > 0 sets the
// socket buffers before connecting (so the TCP window scale can use them); a congestion control
// name is set before connecting too (best effort: the kernel's choice when it refuses).
Result<UniqueFd> connectTcp(const SockAddr& addr, bool* inProgress, size_t bufferBytes = 0,
                            const std::string& congestion = {});
// The pending error of a connecting socket (0 when connected).
int socketError(int fd);

// Blocking-style helpers over a socket (blocking or not: they never block in send/recv) with
// a poll-based deadline. Errors: loomTimeout at the deadline, loomRemoteError when the peer
// closes, loomSystemError (with errno, e.g. ECONNRESET) otherwise.
Status writeAll(int fd, const void* buf, size_t bytes, Deadline deadline);
Status readAll(int fd, void* buf, size_t bytes, Deadline deadline);
Status writeAll(int fd, const void* buf, size_t bytes, int timeoutMs);
Status readAll(int fd, void* buf, size_t bytes, int timeoutMs);

}  // namespace loom::os
