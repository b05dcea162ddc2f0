// Which local address the bootstrap root listens on.
#include "bootstrap/ifaddr.hpp"

#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <sstream>

#include <fmt/format.h>

#include "core/params.hpp"

namespace loom::bootstrap {

bool matchIfName(const std::string& spec, const std::string& ifname) {
  std::string s = spec;
  bool exclude = false, exact = false;
  if (!s.empty() && s[0] == '^') { exclude = true; s.erase(0, 1); }
  if (!s.empty() && s[0] == '=') { exact = true; s.erase(0, 1); }
  if (s.empty()) return !exclude;
  bool hit = false;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    auto colon = item.find(':');  // NCCL allows "eth0:port"; the port part is ignored here
    if (colon != std::string::npos) item.resize(colon);
    if (item.empty()) continue;
    if (exact ? ifname == item : ifname.compare(0, item.size(), item) == 0) { hit = true; break; }
  }
  return exclude ? !hit : hit;
}

std::vector<IfAddr> listInterfaces(int family) {
  std::vector<IfAddr> out;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return out;
  for (ifaddrs* it = list; it; it = it->ifa_next) {
    if (!it->ifa_addr || !(it->ifa_flags & IFF_UP)) continue;
    int fam = it->ifa_addr->sa_family;
    if (fam != AF_INET && fam != AF_INET6) continue;
    if (family != AF_UNSPEC && fam != family) continue;
    if (fam == AF_INET6) {
      auto* a6 = reinterpret_cast<sockaddr_in6*>(it->ifa_addr);
      if (IN6_IS_ADDR_LINKLOCAL(&a6->sin6_addr)) continue;
    }
    IfAddr a;
    a.name = it->ifa_name;
    std::memcpy(&a.addr, it->ifa_addr, fam == AF_INET ? sizeof(sockaddr_in) : sizeof(sockaddr_in6));
    a.loopback = (it->ifa_flags & IFF_LOOPBACK) != 0;
    out.push_back(a);
  }
  ::freeifaddrs(list);
  return out;
}

Result<IfAddr> pickRootAddress() {
  std::string fam = params::getString("LOOM_SOCKET_FAMILY");
  int family = AF_UNSPEC;
  if (fam == "AF_INET" || fam == "4" || fam == "ipv4") family = AF_INET;
  else if (fam == "AF_INET6" || fam == "6" || fam == "ipv6") family = AF_INET6;
  else if (!fam.empty()) return invalidArgument(fmt::format("LOOM_SOCKET_FAMILY='{}' is not AF_INET or AF_INET6", fam));

  std::vector<IfAddr> all = listInterfaces(family);
  // IPv4 first unless IPv6 was asked for (stable: keeps getifaddrs order within a family).
  std::stable_sort(all.begin(), all.end(), [](const IfAddr& a, const IfAddr& b) {
    return a.addr.ss_family == AF_INET && b.addr.ss_family != AF_INET;
  });
  std::string spec = params::getString("LOOM_SOCKET_IFNAME");
  if (!spec.empty()) {
    for (const auto& a : all)
      if (matchIfName(spec, a.name)) return a;
    return invalidArgument(fmt::format("LOOM_SOCKET_IFNAME='{}' matches no up interface with an address", spec));
  }
  for (const auto& a : all)
    if (!a.loopback && matchIfName("^docker,veth,virbr", a.name)) return a;
  for (const auto& a : all)
    if (a.loopback) return a;
  IfAddr lo;
  lo.name = "lo";
  auto* in = reinterpret_cast<sockaddr_in*>(&lo.addr);
  in->sin_family = AF_INET;
  in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  lo.loopback = true;
  return lo;
}

}  // namespace loom::bootstrap
