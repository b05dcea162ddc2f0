// Topology <-> JSON. Output keeps the declaration order of the structs so dumps are readable and
// byte-stable; input checks every field it knows and names the failing one by path
// ("hosts[0].nics[1].gbps: expected a number, got \"fast\""). Unknown keys are ignored so newer
// files still load. Absent fields take the struct defaults, except `version` and `hosts`.
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "topo/topology.hpp"

namespace loom::topo {
namespace {

using Json = nlohmann::json;
using OJson = nlohmann::ordered_json;

// ---- output

OJson number(double v) {
  // Whole numbers print without ".0" so hand-written files and dumps look alike.
  if (std::floor(v) == v && std::fabs(v) < 9e15) return static_cast<int64_t>(v);
  return v;
}

OJson hostJson(const Host& h) {
  OJson j;
  j["hostname"] = h.hostname;
  j["hostId"] = h.hostId;
  if (!h.source.empty()) j["source"] = h.source;
  j["sockets"] = h.sockets;
  j["cores"] = h.cores;
  j["pus"] = h.pus;
  j["memBytes"] = h.memBytes;
  j["numa"] = OJson::array();
  for (const Numa& n : h.numa)
    j["numa"].push_back({{"id", n.id}, {"socket", n.socket}, {"cpus", formatCpuList(n.cpus)},
                         {"cores", n.cores}, {"memBytes", n.memBytes}});
  j["caches"] = OJson::array();
  for (const Cache& c : h.caches)
    j["caches"].push_back({{"level", c.level}, {"type", c.type}, {"bytes", c.bytes}, {"count", c.count}});
  j["pci"] = OJson::array();
  for (const PciDevice& d : h.pci)
    j["pci"].push_back({{"bus", d.bus}, {"className", d.className}, {"vendorDevice", d.vendorDevice},
                        {"parentBridge", d.parentBridge}, {"osDevices", d.osDevices}});
  j["nics"] = OJson::array();
  for (const Nic& n : h.nics)
    j["nics"].push_back({{"name", n.name}, {"gbps", number(n.gbps)}, {"numa", n.numa}, {"pciBus", n.pciBus}});
  j["gpus"] = OJson::array();
  for (const Gpu& g : h.gpus) {
    OJson links = OJson::array();
    for (const NvLink& l : g.links)
      links.push_back({{"peer", l.peer}, {"count", l.count}, {"gbpsPerLink", number(l.gbpsPerLink)}});
    j["gpus"].push_back({{"index", g.index}, {"name", g.name}, {"pciBus", g.pciBus}, {"numa", g.numa},
                         {"memBytes", g.memBytes}, {"links", links}});
  }
  if (h.callerNuma >= 0) j["callerNuma"] = h.callerNuma;
  return j;
}

std::string dump(const OJson& j, int indent) { return j.dump(indent) + (indent >= 0 ? "\n" : ""); }

// ---- input: a local exception carries the first problem out of the recursive reader; it never
// leaves this file.

struct LoadError {
  std::string message;
};

[[noreturn]] void fail(const std::string& path, const std::string& problem) {
  throw LoadError{(path.empty() ? "(top level)" : path) + ": " + problem};
}

std::string shown(const Json& v) {
  std::string s = v.dump();
  return s.size() > 60 ? s.substr(0, 57) + "..." : s;
}

std::string join(const std::string& path, const char* key) { return path.empty() ? key : path + "." + key; }
std::string at(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

void requireObject(const Json& v, const std::string& path) {
  if (!v.is_object()) fail(path, "expected an object, got " + shown(v));
}

const Json* member(const Json& obj, const std::string& path, const char* key, bool required) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) fail(join(path, key), "missing");
    return nullptr;
  }
  return &*it;
}

int64_t getInt(const Json& obj, const std::string& path, const char* key, int64_t def, int64_t min,
               bool required = false) {
  const Json* v = member(obj, path, key, required);
  if (!v) return def;
  if (!v->is_number_integer()) fail(join(path, key), "expected an integer, got " + shown(*v));
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(INT32_MAX))
    fail(join(path, key), "out of range: " + shown(*v));
  int64_t x = v->get<int64_t>();
  if (x < min || x > INT32_MAX) fail(join(path, key), "expected an integer >= " + std::to_string(min) + ", got " + shown(*v));
  return x;
}

uint64_t getBytes(const Json& obj, const std::string& path, const char* key) {
  const Json* v = member(obj, path, key, false);
  if (!v) return 0;
  if (!v->is_number_integer() || (!v->is_number_unsigned() && v->get<int64_t>() < 0))
    fail(join(path, key), "expected a byte count (integer >= 0), got " + shown(*v));
  return v->get<uint64_t>();
}

double getNumber(const Json& obj, const std::string& path, const char* key) {
  const Json* v = member(obj, path, key, false);
  if (!v) return 0;
  if (!v->is_number()) fail(join(path, key), "expected a number, got " + shown(*v));
  double x = v->get<double>();
  if (!(x >= 0)) fail(join(path, key), "expected a number >= 0, got " + shown(*v));
  return x;
}

std::string getString(const Json& obj, const std::string& path, const char* key, bool required = false) {
  const Json* v = member(obj, path, key, required);
  if (!v) return {};
  if (!v->is_string()) fail(join(path, key), "expected a string, got " + shown(*v));
  return v->get<std::string>();
}

const Json& getArray(const Json& obj, const std::string& path, const char* key, bool required = false) {
  static const Json kEmpty = Json::array();
  const Json* v = member(obj, path, key, required);
  if (!v) return kEmpty;
  if (!v->is_array()) fail(join(path, key), "expected an array, got " + shown(*v));
  return *v;
}

Host readHost(const Json& j, const std::string& path) {
  requireObject(j, path);
  Host h;
  h.hostname = getString(j, path, "hostname", true);
  h.hostId = getString(j, path, "hostId");
  if (h.hostId.empty()) h.hostId = h.hostname;
  h.source = getString(j, path, "source");
  h.sockets = static_cast<int>(getInt(j, path, "sockets", 0, 0));
  h.cores = static_cast<int>(getInt(j, path, "cores", 0, 0));
  h.pus = static_cast<int>(getInt(j, path, "pus", 0, 0));
  h.memBytes = getBytes(j, path, "memBytes");
  const Json& numa = getArray(j, path, "numa");
  for (size_t i = 0; i < numa.size(); ++i) {
    std::string p = at(join(path, "numa"), i);
    requireObject(numa[i], p);
    Numa n;
    n.id = static_cast<int>(getInt(numa[i], p, "id", static_cast<int64_t>(i), 0));
    n.socket = static_cast<int>(getInt(numa[i], p, "socket", -1, -1));
    std::string cpus = getString(numa[i], p, "cpus");
    if (!parseCpuList(cpus, &n.cpus)) fail(join(p, "cpus"), "bad cpu list \"" + cpus + "\" (want e.g. \"0-31,64-95\")");
    n.cores = static_cast<int>(getInt(numa[i], p, "cores", 0, 0));
    n.memBytes = getBytes(numa[i], p, "memBytes");
    h.numa.push_back(std::move(n));
  }
  const Json& caches = getArray(j, path, "caches");
  for (size_t i = 0; i < caches.size(); ++i) {
    std::string p = at(join(path, "caches"), i);
    requireObject(caches[i], p);
    Cache c;
    c.level = static_cast<int>(getInt(caches[i], p, "level", 0, 1, true));
    c.type = getString(caches[i], p, "type");
    if (c.type.empty()) c.type = "unified";
    if (c.type != "data" && c.type != "instruction" && c.type != "unified")
      fail(join(p, "type"), "expected \"data\", \"instruction\" or \"unified\", got \"" + c.type + "\"");
    c.bytes = getBytes(caches[i], p, "bytes");
    c.count = static_cast<int>(getInt(caches[i], p, "count", 1, 0));
    h.caches.push_back(std::move(c));
  }
  const Json& pci = getArray(j, path, "pci");
  for (size_t i = 0; i < pci.size(); ++i) {
    std::string p = at(join(path, "pci"), i);
    requireObject(pci[i], p);
    PciDevice d;
    d.bus = getString(pci[i], p, "bus", true);
    d.className = getString(pci[i], p, "className");
    d.vendorDevice = getString(pci[i], p, "vendorDevice");
    d.parentBridge = getString(pci[i], p, "parentBridge");
    const Json& os = getArray(pci[i], p, "osDevices");
    for (size_t k = 0; k < os.size(); ++k) {
      if (!os[k].is_string()) fail(at(join(p, "osDevices"), k), "expected a string, got " + shown(os[k]));
      d.osDevices.push_back(os[k].get<std::string>());
    }
    h.pci.push_back(std::move(d));
  }
  const Json& nics = getArray(j, path, "nics");
  for (size_t i = 0; i < nics.size(); ++i) {
    std::string p = at(join(path, "nics"), i);
    requireObject(nics[i], p);
    Nic n;
    n.name = getString(nics[i], p, "name", true);
    n.gbps = getNumber(nics[i], p, "gbps");
    n.numa = static_cast<int>(getInt(nics[i], p, "numa", -1, -1));
    n.pciBus = getString(nics[i], p, "pciBus");
    h.nics.push_back(std::move(n));
  }
  const Json& gpus = getArray(j, path, "gpus");
  for (size_t i = 0; i < gpus.size(); ++i) {
    std::string p = at(join(path, "gpus"), i);
    requireObject(gpus[i], p);
    Gpu g;
    g.index = static_cast<int>(getInt(gpus[i], p, "index", static_cast<int64_t>(i), 0));
    g.name = getString(gpus[i], p, "name");
    g.pciBus = getString(gpus[i], p, "pciBus");
    g.numa = static_cast<int>(getInt(gpus[i], p, "numa", -1, -1));
    g.memBytes = getBytes(gpus[i], p, "memBytes");
    const Json& links = getArray(gpus[i], p, "links");
    for (size_t k = 0; k < links.size(); ++k) {
      std::string lp = at(join(p, "links"), k);
      requireObject(links[k], lp);
      NvLink l;
      l.peer = static_cast<int>(getInt(links[k], lp, "peer", -1, -1));
      l.count = static_cast<int>(getInt(links[k], lp, "count", 1, 1));
      l.gbpsPerLink = getNumber(links[k], lp, "gbpsPerLink");
      g.links.push_back(l);
    }
    h.gpus.push_back(std::move(g));
  }
  for (size_t i = 0; i < h.gpus.size(); ++i)
    for (size_t k = 0; k < h.gpus[i].links.size(); ++k) {
      int peer = h.gpus[i].links[k].peer;
      bool found = peer < 0;
      for (const Gpu& g : h.gpus) found |= g.index == peer;
      if (!found)
        fail(join(at(join(at(join(path, "gpus"), i), "links"), k), "peer"),
             "no GPU with index " + std::to_string(peer) + " on this host");
    }
  h.callerNuma = static_cast<int>(getInt(j, path, "callerNuma", -1, -1));
  return h;
}

Topology readTopology(const Json& j) {
  requireObject(j, "");
  Topology t;
  t.version = static_cast<int>(getInt(j, "", "version", 0, 0, true));
  if (t.version != kTopoVersion)
    fail("version", "unsupported version " + std::to_string(t.version) + " (this build reads version " +
                        std::to_string(kTopoVersion) + ")");
  const Json& hosts = getArray(j, "", "hosts", true);
  std::map<std::string, size_t> ids;
  for (size_t i = 0; i < hosts.size(); ++i) {
    t.hosts.push_back(readHost(hosts[i], at("hosts", i)));
    auto [it, fresh] = ids.emplace(t.hosts.back().hostId, i);
    if (!fresh)
      fail(join(at("hosts", i), "hostId"), "\"" + it->first + "\" repeats hosts[" + std::to_string(it->second) + "]");
  }
  const Json& ranks = getArray(j, "", "ranks");
  std::map<std::pair<int, int>, size_t> local;  // (host, localRank) -> rank
  for (size_t r = 0; r < ranks.size(); ++r) {
    std::string p = at("ranks", r);
    requireObject(ranks[r], p);
    RankPlace place;
    place.host = static_cast<int>(getInt(ranks[r], p, "host", 0, 0, true));
    if (place.host >= static_cast<int>(t.hosts.size()))
      fail(join(p, "host"), std::to_string(place.host) + " out of range (" + std::to_string(t.hosts.size()) + " hosts)");
    place.localRank = static_cast<int>(getInt(ranks[r], p, "localRank", 0, 0, true));
    auto [it, fresh] = local.emplace(std::make_pair(place.host, place.localRank), r);
    if (!fresh)
      fail(join(p, "localRank"), std::to_string(place.localRank) + " repeats ranks[" + std::to_string(it->second) +
                                     "] on host " + std::to_string(place.host));
    place.numa = static_cast<int>(getInt(ranks[r], p, "numa", -1, -1));
    place.nic = static_cast<int>(getInt(ranks[r], p, "nic", -1, -1));
    size_t nics = t.hosts[place.host].nics.size();
    if (place.nic >= static_cast<int>(nics))
      fail(join(p, "nic"), std::to_string(place.nic) + " out of range (host " + std::to_string(place.host) + " has " +
                               std::to_string(nics) + " NICs)");
    t.ranks.push_back(place);
  }
  return t;
}

template <typename T, typename F>
Result<T> parseWith(std::string_view text, F read) {
  Json j;
  try {
    j = Json::parse(text.begin(), text.end());
  } catch (const Json::exception& e) {  // parse_error, and out_of_range for a number too large (fuzzer)
    std::string what = e.what();
    size_t cut = what.find("] ");
    return invalidArgument("JSON syntax: " + (cut == std::string::npos ? what : what.substr(cut + 2)));
  }
  try {
    return read(j);
  } catch (const LoadError& e) {
    return invalidArgument(e.message);
  }
}

}  // namespace

std::string hostToJson(const Host& host, int indent) { return dump(hostJson(host), indent); }

Result<Host> hostFromJson(std::string_view text) {
  return parseWith<Host>(text, [](const Json& j) { return readHost(j, ""); });
}

Result<Topology> assembleJson(const std::vector<std::string>& perRankHostJson) {
  std::vector<Host> hosts;
  hosts.reserve(perRankHostJson.size());
  for (size_t r = 0; r < perRankHostJson.size(); ++r) {
    Result<Host> h = hostFromJson(perRankHostJson[r]);
    if (!h) return invalidArgument("host description from rank " + std::to_string(r) + ": " + h.status().message());
    hosts.push_back(std::move(h.value()));
  }
  return assemble(hosts);
}

std::string toJson(const Topology& topo, int indent) {
  OJson j;
  j["version"] = topo.version;
  j["hosts"] = OJson::array();
  for (const Host& h : topo.hosts) j["hosts"].push_back(hostJson(h));
  j["ranks"] = OJson::array();
  for (const RankPlace& r : topo.ranks)
    j["ranks"].push_back({{"host", r.host}, {"localRank", r.localRank}, {"numa", r.numa}, {"nic", r.nic}});
  return dump(j, indent);
}

Result<Topology> fromJson(std::string_view text) {
  return parseWith<Topology>(text, [](const Json& j) { return readTopology(j); });
}

Result<Topology> loadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return systemError("topology file " + path, errno);
  std::ostringstream ss;
  ss << in.rdbuf();
  Result<Topology> t = fromJson(ss.str());
  if (!t) return invalidArgument(path + ": " + t.status().message());
  return t;
}

Status dumpFile(const Topology& topo, const std::string& path) {
  std::string text = toJson(topo, 2);
  std::ofstream out(path, std::ios::trunc);
  if (!out) return systemError("topology dump " + path, errno);
  out << text;
  out.flush();
  if (!out) return systemError("topology dump " + path, errno);
  return Status::ok();
}

}  // namespace loom::topo
