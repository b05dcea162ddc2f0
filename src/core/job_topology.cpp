// The job's topology: every rank detects its own host (the cheap sysfs level) and sends it in
// its init card; the cards give each rank the whole job (hosts, ranks per host, local ranks,
// nearest NIC) and the cost model its placement. LOOM_TOPO_FILE replaces detection with a
// description of machines that are not here; LOOM_TOPO_DUMP_FILE has rank 0 save the result.
#include <fmt/format.h>

#include <algorithm>

#include "core/communicator.hpp"
#include "core/init_card.hpp"
#include "core/log.hpp"
#include "core/params.hpp"

namespace loom::core {


Result<std::string> Communicator::describeHost(const std::string& hostId) {
  if (!params::getString("LOOM_TOPO_FILE").empty()) return std::string();
  topo::DetectOptions options;
  options.level = topo::DetectLevel::Basic;
  options.hostId = hostId;
  auto host = topo::detectHost(options);
  if (!host.isOk()) return Status(host.status().code(), "topology detection: " + host.status().message());
  return topo::hostToJson(host.value());
}

Status Communicator::setUpTopology(const std::vector<InitCard>& cards) {
  // Hosts by first appearance of their id; the transports use the same ids.
  std::vector<std::string> ids;
  std::vector<int> hostOf;
  for (const auto& c : cards) {
    auto it = std::find(ids.begin(), ids.end(), c.hostId);
    hostOf.push_back(static_cast<int>(it - ids.begin()));
    if (it == ids.end()) ids.push_back(c.hostId);
  }
  const std::string file = params::getString("LOOM_TOPO_FILE");
  if (!file.empty()) {
    auto loaded = topo::loadFile(file);
    if (!loaded.isOk()) return invalidArgument("LOOM_TOPO_FILE: " + loaded.status().message());
    auto placed = topo::placeJob(loaded.value(), hostOf);
    if (!placed.isOk()) return invalidArgument("LOOM_TOPO_FILE: " + placed.status().message());
    topology_ = std::move(placed.value());
  } else {
    std::vector<topo::Host> hosts;
    for (size_t r = 0; r < cards.size(); ++r) {
      auto h = topo::hostFromJson(cards[r].host);
      if (!h.isOk())
        return remoteError(fmt::format("rank {} sent a malformed host description: {}", r, h.status().message()),
                           static_cast<int>(r));
      hosts.push_back(std::move(h.value()));
    }
    topology_ = topo::assemble(hosts);
  }
  placement_.hostOf = topo::hostIndexOf(topology_);
  placement_.readTransportParams();
  placement_.coresOfHost.clear();
  placement_.nicGbpsOfHost.clear();
  placement_.cacheBytesOfHost.clear();
  for (const auto& h : topology_.hosts) {
    placement_.nicGbpsOfHost.push_back(topo::nicGBps(h));
    placement_.coresOfHost.push_back(std::max(h.cores, 1));
    placement_.cacheBytesOfHost.push_back(topo::lastLevelCacheBytes(h));
  }
  // Detected hosts: the cores this job may use (affinity) rather than all the host has.
  if (file.empty())
    for (size_t r = 0; r < cards.size(); ++r) {
      int& cores = placement_.coresOfHost[placement_.hostOf[r]];
      cores = std::min(cores, std::max(cards[r].cores, 1));
    }
  if (rank_ == 0) {
    if (std::string dump = params::getString("LOOM_TOPO_DUMP_FILE"); !dump.empty()) {
      Status s = topo::dumpFile(topology_, dump);
      if (!s.isOk()) LOOM_WARN("LOOM_TOPO_DUMP_FILE: {}", s.message());
    }
  }
  return {};
}

}  // namespace loom::core
