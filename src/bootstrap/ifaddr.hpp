// Interface selection for the bootstrap root, with NCCL_SOCKET_IFNAME syntax (LOOM_SOCKET_IFNAME).
// Kept in one file so it can later merge with the transport's copy.
#pragma once

#include <sys/socket.h>

#include <string>
#include <vector>

#include "core/status.hpp"

namespace loom::bootstrap {

struct IfAddr {
  std::string name;
  sockaddr_storage addr{};
  bool loopback = false;
};

// NCCL rules: "eth,ib" prefixes; a leading '^' excludes the listed prefixes; a leading '='
// (after an optional '^') demands exact names. An empty spec matches everything.
bool matchIfName(const std::string& spec, const std::string& ifname);

// Up interfaces with an address of `family` (AF_UNSPEC for both), in getifaddrs order;
// IPv6 link-local addresses are skipped (they need a scope to be usable).
std::vector<IfAddr> listInterfaces(int family);

// The address the root binds: the first match of LOOM_SOCKET_IFNAME, or by default the first
// non-loopback interface (docker/veth/virbr excluded), else the loopback address. IPv4 is
// preferred unless LOOM_SOCKET_FAMILY says AF_INET6.
Result<IfAddr> pickRootAddress();

}  // namespace loom::bootstrap
