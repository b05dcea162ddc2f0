// Human-readable tree of a topology for `loom topo`: host, then sockets and their NUMA nodes, caches,
// PCI devices under their bridges, NICs, GPUs with NVLinks, and the ranks placed on the host.
#include <fmt/format.h>

#include <functional>
#include <map>

#include "topo/topology.hpp"

namespace loom::topo {
namespace {

std::string bytesText(uint64_t b) {
  if (b == 0) return "?";
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) v /= 1024, ++u;
  return v == static_cast<double>(static_cast<uint64_t>(v)) ? fmt::format("{} {}", static_cast<uint64_t>(v), units[u])
                                                             : fmt::format("{:.1f} {}", v, units[u]);
}

std::string speedText(double gbps) { return gbps > 0 ? fmt::format("{:g} Gb/s", gbps) : "speed unknown"; }
std::string numaText(int numa) { return numa >= 0 ? fmt::format("numa {}", numa) : "numa ?"; }

std::string cacheName(const Cache& c) {
  return fmt::format("L{}{}", c.level, c.type == "data" ? "d" : c.type == "instruction" ? "i" : "");
}

void renderPci(const Host& h, std::string& out) {
  if (h.pci.empty()) return;
  out += fmt::format("  pci ({} devices)\n", h.pci.size());
  std::map<std::string, std::vector<const PciDevice*>> children;
  std::map<std::string, bool> known;
  for (const PciDevice& d : h.pci) known[d.bus] = true;
  for (const PciDevice& d : h.pci) children[known.count(d.parentBridge) ? d.parentBridge : ""].push_back(&d);
  std::function<void(const std::string&, int)> walk = [&](const std::string& parent, int depth) {
    for (const PciDevice* d : children[parent]) {
      std::string os;
      for (const std::string& n : d->osDevices) os += (os.empty() ? " [" : ", ") + n;
      if (!os.empty()) os += "]";
      out += fmt::format("{:{}}{} {} {}{}\n", "", 4 + 2 * depth, d->bus, d->className, d->vendorDevice, os);
      if (depth < 16) walk(d->bus, depth + 1);
    }
  };
  walk("", 0);
}

}  // namespace

std::string renderTree(const Topology& topo) {
  std::string out;
  size_t gpus = 0;
  for (const Host& h : topo.hosts) gpus += h.gpus.size();
  out += fmt::format("topology: {} host{}, {} rank{}, {} GPU{}\n", topo.hosts.size(), topo.hosts.size() == 1 ? "" : "s",
                     topo.ranks.size(), topo.ranks.size() == 1 ? "" : "s", gpus, gpus == 1 ? "" : "s");
  for (size_t hi = 0; hi < topo.hosts.size(); ++hi) {
    const Host& h = topo.hosts[hi];
    out += fmt::format("host {} {}{}: {} socket{}, {} cores, {} PUs, {}{}\n", hi, h.hostname,
                       h.hostId != h.hostname ? fmt::format(" (id {})", h.hostId) : "", h.sockets,
                       h.sockets == 1 ? "" : "s", h.cores, h.pus, bytesText(h.memBytes),
                       h.source.empty() ? "" : fmt::format(" [{} detection]", h.source));
    // Sockets with their NUMA nodes; nodes of unknown socket are listed after.
    std::map<int, std::vector<const Numa*>> bySocket;
    for (const Numa& n : h.numa) bySocket[n.socket].push_back(&n);
    for (const auto& [socket, nodes] : bySocket) {
      std::string indent = "  ";
      if (socket >= 0) {
        out += fmt::format("  socket {}\n", socket);
        indent = "    ";
      }
      for (const Numa* n : nodes)
        out += fmt::format("{}numa {}: cpus {}, {} cores, {}\n", indent, n->id, formatCpuList(n->cpus), n->cores,
                           bytesText(n->memBytes));
    }
    if (!h.caches.empty()) {
      std::string list;
      for (const Cache& c : h.caches)
        list += fmt::format("{}{} {} x{}", list.empty() ? "" : ", ", cacheName(c), bytesText(c.bytes), c.count);
      out += fmt::format("  caches: {}\n", list);
    }
    renderPci(h, out);
    for (size_t i = 0; i < h.nics.size(); ++i) {
      const Nic& n = h.nics[i];
      out += fmt::format("  nic {} {}: {}, {}{}\n", i, n.name, speedText(n.gbps), numaText(n.numa),
                         n.pciBus.empty() ? "" : ", pci " + n.pciBus);
    }
    for (const Gpu& g : h.gpus) {
      out += fmt::format("  gpu {} {}: {}, {}{}\n", g.index, g.name.empty() ? "?" : g.name, bytesText(g.memBytes),
                         numaText(g.numa), g.pciBus.empty() ? "" : ", pci " + g.pciBus);
      for (const NvLink& l : g.links)
        out += fmt::format("    nvlink x{} -> {} ({:g} Gb/s each, {:g} GB/s total)\n", l.count,
                           l.peer < 0 ? std::string("nvswitch") : fmt::format("gpu {}", l.peer), l.gbpsPerLink,
                           l.gbpsPerLink * l.count / 8);
    }
    std::string ranks;
    int n = 0;
    for (size_t r = 0; r < topo.ranks.size(); ++r) {
      const RankPlace& p = topo.ranks[r];
      if (p.host != static_cast<int>(hi)) continue;
      ++n;
      std::string nic = p.nic >= 0 && p.nic < static_cast<int>(h.nics.size()) ? h.nics[p.nic].name : "-";
      ranks += fmt::format("    rank {} (local {}): {}, nic {}\n", r, p.localRank, numaText(p.numa), nic);
    }
    if (n > 0) out += fmt::format("  ranks ({})\n{}", n, ranks);
  }
  return out;
}

}  // namespace loom::topo
