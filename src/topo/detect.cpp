// Host detection. The Basic level reads only sysfs and sysconf, so every rank can afford it at
// init; the Full level adds hwloc (PCI tree) and NVML (GPUs, NVLinks). NICs always come from
// sysfs (/sys/class/net), whose root is configurable so tests can use a fake tree.
#include <dirent.h>
#include <sched.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <climits>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include "core/log.hpp"
#include "topo/detect_internal.hpp"

namespace loom::topo {
namespace detail {

bool readText(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return false;
  *out = ss.str();
  return true;
}

bool readInt(const std::string& path, int64_t* out) {
  std::string text;
  if (!readText(path, &text)) return false;
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (end == text.c_str() || errno != 0) return false;
  *out = v;
  return true;
}

static bool isPciAddress(const std::string& s) {
  // dddd:bb:dd.f in hex
  if (s.size() != 12 || s[4] != ':' || s[7] != ':' || s[10] != '.') return false;
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9, 11})
    if (!std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
  return true;
}

std::string pciBusOfPath(const std::string& path) {
  std::string last;
  std::stringstream ss(path);
  std::string part;
  while (std::getline(ss, part, '/'))
    if (isPciAddress(part)) last = part;
  return last;
}

std::string normalizePciBus(std::string bus) {
  for (char& c : bus) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t colon = bus.find(':');
  if (colon != std::string::npos && colon > 4) bus.erase(0, colon - 4);
  return bus;
}

int pciNuma(const std::string& sysfsRoot, const std::string& bus) {
  int64_t v = -1;
  if (bus.empty() || !readInt(sysfsRoot + "/bus/pci/devices/" + bus + "/numa_node", &v)) return -1;
  return v < 0 ? -1 : static_cast<int>(v);
}

}  // namespace detail

namespace {

using detail::readInt;
using detail::readText;

std::vector<std::string> listDir(const std::string& path) {
  std::vector<std::string> names;
  DIR* d = opendir(path.c_str());
  if (!d) return names;
  while (dirent* e = readdir(d))
    if (e->d_name[0] != '.') names.emplace_back(e->d_name);
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

bool readCpuList(const std::string& path, std::vector<int>* out) {
  std::string text;
  return readText(path, &text) && parseCpuList(text, out);
}

// "32K", "1024K", "2M" -> bytes
uint64_t parseCacheSize(const std::string& text) {
  char* end = nullptr;
  uint64_t v = std::strtoull(text.c_str(), &end, 10);
  if (end && (*end == 'K' || *end == 'k')) v <<= 10;
  else if (end && *end == 'M') v <<= 20;
  else if (end && *end == 'G') v <<= 30;
  return v;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// CPUs, sockets, cores, NUMA nodes and caches from /sys/devices/system. Reads each core and each
// cache instance once (covered CPUs are skipped), so large hosts stay cheap.
void detectCpusSysfs(const std::string& root, Host* host) {
  std::string cpuDir = root + "/devices/system/cpu";
  std::vector<int> online;
  if (!readCpuList(cpuDir + "/online", &online) || online.empty()) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    for (long i = 0; i < std::max(n, 1L); ++i) online.push_back(static_cast<int>(i));
  }
  int maxCpu = online.back();
  std::vector<int> coreOf(maxCpu + 1, -1), pkgOf(maxCpu + 1, -1);
  std::set<int64_t> packages;
  int cores = 0;
  for (int c : online) {
    if (coreOf[c] >= 0) continue;
    std::string topoDir = cpuDir + "/cpu" + std::to_string(c) + "/topology";
    int64_t pkg = 0;
    if (!readInt(topoDir + "/physical_package_id", &pkg) || pkg < 0) pkg = 0;
    std::vector<int> siblings;
    if (!readCpuList(topoDir + "/thread_siblings_list", &siblings) || siblings.empty()) siblings = {c};
    for (int s : siblings) {
      if (s > maxCpu || coreOf[s] >= 0) continue;
      coreOf[s] = cores;
      pkgOf[s] = static_cast<int>(pkg);
    }
    coreOf[c] = cores;
    pkgOf[c] = static_cast<int>(pkg);
    ++cores;
    packages.insert(pkg);
  }
  std::map<int64_t, int> socketIndex;
  for (int64_t p : packages) socketIndex.emplace(p, static_cast<int>(socketIndex.size()));
  host->pus = static_cast<int>(online.size());
  host->cores = cores;
  host->sockets = static_cast<int>(packages.size());

  std::vector<bool> isOnline(maxCpu + 1, false);
  for (int c : online) isOnline[c] = true;
  for (const std::string& name : listDir(root + "/devices/system/node")) {
    if (name.rfind("node", 0) != 0 || name.size() == 4 ||
        name.find_first_not_of("0123456789", 4) != std::string::npos)
      continue;
    Numa node;
    node.id = std::atoi(name.c_str() + 4);
    std::vector<int> cpus;
    readCpuList(root + "/devices/system/node/" + name + "/cpulist", &cpus);
    for (int c : cpus)
      if (c <= maxCpu && isOnline[c]) node.cpus.push_back(c);
    std::string meminfo;
    if (readText(root + "/devices/system/node/" + name + "/meminfo", &meminfo)) {
      size_t at = meminfo.find("MemTotal:");
      if (at != std::string::npos) node.memBytes = std::strtoull(meminfo.c_str() + at + 9, nullptr, 10) * 1024;
    }
    host->numa.push_back(std::move(node));
  }
  std::sort(host->numa.begin(), host->numa.end(), [](const Numa& a, const Numa& b) { return a.id < b.id; });
  if (host->numa.empty()) {
    Numa node;
    node.cpus = online;
    node.memBytes = static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    host->numa.push_back(std::move(node));
  }
  for (Numa& node : host->numa) {
    std::set<int> coreSet, socketSet;
    for (int c : node.cpus) {
      coreSet.insert(coreOf[c]);
      socketSet.insert(socketIndex[pkgOf[c]]);
    }
    node.cores = static_cast<int>(coreSet.size());
    node.socket = socketSet.size() == 1 ? *socketSet.begin() : -1;
    host->memBytes += node.memBytes;
  }

  // Caches: one instance per distinct shared_cpu_list, counted per (level, type, size).
  std::map<std::string, std::vector<bool>> covered;  // cache index -> CPUs already counted
  std::map<std::tuple<int, std::string, uint64_t>, int> counts;
  for (int c : online) {
    std::string cacheDir = cpuDir + "/cpu" + std::to_string(c) + "/cache";
    for (const std::string& idx : listDir(cacheDir)) {
      if (idx.rfind("index", 0) != 0) continue;
      auto& cov = covered[idx];
      if (cov.empty()) cov.assign(maxCpu + 1, false);
      if (cov[c]) continue;
      std::string dir = cacheDir + "/" + idx;
      int64_t level = 0;
      std::string type, size;
      if (!readInt(dir + "/level", &level) || !readText(dir + "/type", &type) || !readText(dir + "/size", &size))
        continue;
      std::vector<int> shared;
      if (!readCpuList(dir + "/shared_cpu_list", &shared) || shared.empty()) shared = {c};
      for (int s : shared)
        if (s <= maxCpu) cov[s] = true;
      type = trim(type);
      for (char& ch : type) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      ++counts[{static_cast<int>(level), type, parseCacheSize(size)}];
    }
  }
  for (const auto& [key, n] : counts)
    host->caches.push_back(Cache{std::get<0>(key), std::get<1>(key), std::get<2>(key), n});
}

// Physical network interfaces: skips lo and virtual interfaces (no device link).
void detectNics(const std::string& root, Host* host) {
  std::string netDir = root + "/class/net";
  for (const std::string& name : listDir(netDir)) {
    if (name == "lo") continue;
    std::string dev = netDir + "/" + name + "/device";
    char resolved[PATH_MAX];
    if (!realpath(dev.c_str(), resolved)) continue;
    Nic nic;
    nic.name = name;
    int64_t mbps = 0;
    // speed is -1 or unreadable (EINVAL) when the link is down or the driver does not know.
    if (readInt(netDir + "/" + name + "/speed", &mbps) && mbps > 0) nic.gbps = static_cast<double>(mbps) / 1000.0;
    int64_t numa = -1;
    if (readInt(dev + "/numa_node", &numa) && numa >= 0) nic.numa = static_cast<int>(numa);
    nic.pciBus = detail::pciBusOfPath(resolved);
    host->nics.push_back(std::move(nic));
  }
}

// NUMA node holding every CPU this process may run on; -1 when it spans several.
int callerNumaOf(const Host& host) {
  if (host.numa.size() == 1) return host.numa[0].id;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) return -1;
  int found = -1;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (!CPU_ISSET(c, &set)) continue;
    int node = -1;
    for (const Numa& n : host.numa)
      if (std::binary_search(n.cpus.begin(), n.cpus.end(), c)) node = n.id;
    if (node < 0) continue;  // offline CPU
    if (found >= 0 && node != found) return -1;
    found = node;
  }
  return found;
}

}  // namespace

Result<Host> detectHost(const DetectOptions& options) {
  Host host;
  if (!options.hostname.empty()) {
    host.hostname = options.hostname;
  } else {
    char name[256] = {};
    if (gethostname(name, sizeof(name) - 1) != 0) return systemError("gethostname", errno);
    host.hostname = name;
  }
  host.hostId = options.hostId.empty() ? host.hostname : options.hostId;
  if (options.level == DetectLevel::Full) {
    host.source = "full";
    Status s = detail::detectHwloc(&host);
    if (!s.isOk()) {
      LOOM_WARN("topology: hwloc failed ({}); using sysfs", s.message());
      Host fresh;
      fresh.hostname = host.hostname;
      fresh.hostId = host.hostId;
      fresh.source = "basic";
      host = std::move(fresh);
      detectCpusSysfs(options.sysfsRoot, &host);
    }
    if (options.gpus) detail::detectNvmlGpus(options.sysfsRoot, &host.gpus);
  } else {
    host.source = "basic";
    detectCpusSysfs(options.sysfsRoot, &host);
  }
  detectNics(options.sysfsRoot, &host);
  host.callerNuma = callerNumaOf(host);
  return host;
}

}  // namespace loom::topo
