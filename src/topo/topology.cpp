// Job assembly from per-rank host descriptions, and Linux cpulist text.
#include "topo/topology.hpp"

#include <algorithm>

#include <charconv>
#include <map>

namespace loom::topo {

int nearestNic(const Host& host, int numa) {
  int best = -1;
  if (numa >= 0) {
    for (size_t i = 0; i < host.nics.size(); ++i) {
      if (host.nics[i].numa != numa) continue;
      if (best < 0 || host.nics[i].gbps > host.nics[best].gbps) best = static_cast<int>(i);
    }
    if (best >= 0) return best;
  }
  for (size_t i = 0; i < host.nics.size(); ++i)
    if (best < 0 || host.nics[i].gbps > host.nics[best].gbps) best = static_cast<int>(i);
  return best;
}

Topology assemble(const std::vector<Host>& perRankHost) {
  Topology topo;
  std::map<std::string, int> indexOf;  // hostId -> host index
  std::vector<int> localCount;
  for (const Host& h : perRankHost) {
    std::string id = h.hostId.empty() ? h.hostname : h.hostId;
    auto [it, inserted] = indexOf.emplace(id, static_cast<int>(topo.hosts.size()));
    if (inserted) {
      topo.hosts.push_back(h);
      topo.hosts.back().hostId = id;
      topo.hosts.back().callerNuma = -1;  // per process: lives in RankPlace
      localCount.push_back(0);
    }
    RankPlace place;
    place.host = it->second;
    place.localRank = localCount[it->second]++;
    place.numa = h.callerNuma;
    place.nic = nearestNic(topo.hosts[it->second], h.callerNuma);
    topo.ranks.push_back(place);
  }
  return topo;
}

double nicGBps(const Host& host) {
  double gbps = 0;
  for (const auto& nic : host.nics) gbps += nic.gbps;
  return gbps / 8;
}

double lastLevelCacheBytes(const Host& host) {
  int level = 0;
  double bytes = 0;
  for (const auto& c : host.caches) {
    if (c.type == "instruction" || c.level < level) continue;
    if (c.level > level) level = c.level, bytes = 0;
    bytes += static_cast<double>(c.bytes) * std::max(c.count, 1);
  }
  return bytes;
}

std::vector<int> hostIndexOf(const Topology& topo) {
  std::vector<int> out;
  out.reserve(topo.ranks.size());
  for (const RankPlace& r : topo.ranks) out.push_back(r.host);
  return out;
}

Result<Topology> placeJob(const Topology& file, const std::vector<int>& hostOfRank) {
  const size_t n = hostOfRank.size();
  if (!file.ranks.empty()) {
    if (file.ranks.size() != n)
      return invalidArgument("topology file places " + std::to_string(file.ranks.size()) + " ranks, the job has " +
                             std::to_string(n));
    return file;
  }
  Topology topo = file;
  std::vector<int> localCount(file.hosts.size(), 0);
  for (size_t r = 0; r < n; ++r) {
    int h = hostOfRank[r];
    if (h < 0 || h >= static_cast<int>(file.hosts.size()))
      return invalidArgument("rank " + std::to_string(r) + " runs on host " + std::to_string(h) +
                             " of the job, but the topology file describes " + std::to_string(file.hosts.size()) +
                             " host(s)");
    topo.ranks.push_back(RankPlace{h, localCount[h]++, -1, -1});
  }
  for (RankPlace& p : topo.ranks) {
    const Host& host = topo.hosts[p.host];
    if (!host.numa.empty()) p.numa = host.numa[p.localRank * host.numa.size() / localCount[p.host]].id;
    p.nic = nearestNic(host, p.numa);
  }
  return topo;
}

std::string formatCpuList(const std::vector<int>& cpus) {
  std::string out;
  for (size_t i = 0; i < cpus.size();) {
    size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(cpus[i]);
    if (j > i) out += '-' + std::to_string(cpus[j]);
    i = j + 1;
  }
  return out;
}

bool parseCpuList(std::string_view text, std::vector<int>* out) {
  out->clear();
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  if (text.empty()) return true;
  auto number = [&](int* v) {
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), *v);
    if (ec != std::errc() || *v < 0) return false;
    text.remove_prefix(p - text.data());
    return true;
  };
  for (;;) {
    int a = 0, b = 0;
    if (!number(&a)) return false;
    b = a;
    if (!text.empty() && text.front() == '-') {
      text.remove_prefix(1);
      if (!number(&b) || b < a || b - a > (1 << 20)) return false;
    }
    if (!out->empty() && a <= out->back()) return false;  // ascending, no repeats
    for (int c = a; c <= b; ++c) out->push_back(c);
    if (text.empty()) return true;
    if (text.front() != ',') return false;
    text.remove_prefix(1);
  }
}

}  // namespace loom::topo
