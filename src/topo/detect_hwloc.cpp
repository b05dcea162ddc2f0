// Full detection through hwloc: packages, cores, PUs, NUMA nodes, caches and the PCI tree with
// the OS devices (NICs, disks, InfiniBand ports) under it. hwloc's I/O discovery costs ~10 ms
// more than the CPU part on a small VM, which is why it is not the default at init.
// hwloc_topology_t is a pointer: the once-loaded topology below lives for the whole process.
#include <hwloc.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <tuple>

#include "topo/detect_internal.hpp"

namespace loom::topo::detail {
namespace {

using PciAttr = hwloc_obj_attr_u::hwloc_pcidev_attr_s;  // nested in the C union

std::string busText(const PciAttr& a) {
  char buf[32];
  snprintf(buf, sizeof(buf), "%04x:%02x:%02x.%01x", a.domain, a.bus, a.dev, a.func);
  return buf;
}

std::string className(unsigned cls) {
  switch (cls) {
    case 0x0100: return "SCSI storage";
    case 0x0101: return "IDE";
    case 0x0104: return "RAID";
    case 0x0106: return "SATA";
    case 0x0107: return "SAS";
    case 0x0108: return "NVMe";
    case 0x0180: return "Mass storage";
    case 0x0200: return "Ethernet";
    case 0x0207: return "InfiniBand";
    case 0x0280: return "Network";
    case 0x0300: return "VGA";
    case 0x0302: return "3D controller";
    case 0x0600: return "Host bridge";
    case 0x0604: return "PCI bridge";
    case 0x0680: return "Bridge";
    case 0x0c03: return "USB";
    case 0x1200: return "Accelerator";
    default: {
      char buf[24];
      snprintf(buf, sizeof(buf), "class 0x%04x", cls);
      return buf;
    }
  }
}

std::string vendorDevice(const PciAttr& a) {
  char buf[16];
  snprintf(buf, sizeof(buf), "%04x:%04x", a.vendor_id, a.device_id);
  return buf;
}

const PciAttr* pciAttr(hwloc_obj_t o) {
  if (o->type == HWLOC_OBJ_PCI_DEVICE) return &o->attr->pcidev;
  if (o->type == HWLOC_OBJ_BRIDGE && o->attr->bridge.upstream_type == HWLOC_OBJ_BRIDGE_PCI)
    return &o->attr->bridge.upstream.pci;
  return nullptr;
}

std::vector<int> cpusOf(hwloc_const_bitmap_t set) {
  std::vector<int> cpus;
  for (int i = hwloc_bitmap_first(set); i >= 0; i = hwloc_bitmap_next(set, i)) cpus.push_back(i);
  return cpus;
}

}  // namespace

// hwloc loads its plugins (libpciaccess, libudev, ...) on the first topology init and unloads them
// on the last destroy; repeating that leaks a little memory inside those libraries each time and
// races in libudev when ranks-as-threads detect at once. So the machine is loaded once per process
// and kept (read-only queries on a loaded topology are thread-safe).
static hwloc_topology_t loadedTopology() {
  static hwloc_topology_t topo = nullptr;
  static std::once_flag once;
  std::call_once(once, [] {
    hwloc_topology_t t;
    if (hwloc_topology_init(&t) != 0) return;
    // The whole machine, as the sysfs level sees it, not just the CPUs a cgroup allows us.
    hwloc_topology_set_flags(t, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
    hwloc_topology_set_io_types_filter(t, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    hwloc_topology_set_icache_types_filter(t, HWLOC_TYPE_FILTER_KEEP_ALL);  // as the sysfs level reports
    if (hwloc_topology_load(t) != 0) {
      hwloc_topology_destroy(t);
      return;
    }
    topo = t;
  });
  return topo;
}

Status detectHwloc(Host* host) {
  hwloc_topology_t t = loadedTopology();
  if (!t) return internalError("hwloc could not load this machine's topology");
  host->sockets = std::max(1, hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PACKAGE));
  host->cores = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_CORE);
  host->pus = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PU);

  int nNuma = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_NUMANODE);
  int nPkg = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PACKAGE);
  for (int i = 0; i < nNuma; ++i) {
    hwloc_obj_t o = hwloc_get_obj_by_type(t, HWLOC_OBJ_NUMANODE, i);
    Numa n;
    n.id = static_cast<int>(o->os_index);
    n.cpus = cpusOf(o->cpuset);
    n.cores = hwloc_get_nbobjs_inside_cpuset_by_type(t, o->cpuset, HWLOC_OBJ_CORE);
    n.memBytes = o->attr->numanode.local_memory;
    for (int p = 0; p < nPkg; ++p) {
      hwloc_obj_t pkg = hwloc_get_obj_by_type(t, HWLOC_OBJ_PACKAGE, p);
      if (!hwloc_bitmap_iszero(o->cpuset) && hwloc_bitmap_isincluded(o->cpuset, pkg->cpuset)) n.socket = p;
    }
    if (nPkg == 0) n.socket = 0;
    host->memBytes += n.memBytes;
    host->numa.push_back(std::move(n));
  }
  std::sort(host->numa.begin(), host->numa.end(), [](const Numa& a, const Numa& b) { return a.id < b.id; });

  std::map<std::tuple<int, std::string, uint64_t>, int> caches;
  for (int type = HWLOC_OBJ_L1CACHE; type <= HWLOC_OBJ_L3ICACHE; ++type) {
    auto ty = static_cast<hwloc_obj_type_t>(type);
    int n = hwloc_get_nbobjs_by_type(t, ty);
    for (int i = 0; i < n; ++i) {
      hwloc_obj_t o = hwloc_get_obj_by_type(t, ty, i);
      const auto& c = o->attr->cache;
      std::string kind = c.type == HWLOC_OBJ_CACHE_DATA ? "data"
                         : c.type == HWLOC_OBJ_CACHE_INSTRUCTION ? "instruction" : "unified";
      ++caches[{static_cast<int>(c.depth), kind, c.size}];
    }
  }
  for (const auto& [key, n] : caches)
    host->caches.push_back(Cache{std::get<0>(key), std::get<1>(key), std::get<2>(key), n});

  std::vector<hwloc_obj_t> pciObjs;
  for (hwloc_obj_t o = hwloc_get_next_pcidev(t, nullptr); o; o = hwloc_get_next_pcidev(t, o)) pciObjs.push_back(o);
  for (hwloc_obj_t o = hwloc_get_next_bridge(t, nullptr); o; o = hwloc_get_next_bridge(t, o)) pciObjs.push_back(o);
  for (hwloc_obj_t o : pciObjs) {
    const PciAttr* a = pciAttr(o);
    if (!a) continue;  // host bridges have no PCI address
    PciDevice d;
    d.bus = busText(*a);
    d.className = className(a->class_id);
    d.vendorDevice = vendorDevice(*a);
    for (hwloc_obj_t p = o->parent; p && p->type == HWLOC_OBJ_BRIDGE; p = p->parent) {
      if (const PciAttr* pa = pciAttr(p)) {
        d.parentBridge = busText(*pa);
        break;
      }
    }
    for (hwloc_obj_t c = o->io_first_child; c; c = c->next_sibling)
      if (c->type == HWLOC_OBJ_OS_DEVICE && c->name) d.osDevices.emplace_back(c->name);
    host->pci.push_back(std::move(d));
  }
  std::sort(host->pci.begin(), host->pci.end(), [](const PciDevice& a, const PciDevice& b) { return a.bus < b.bus; });
  return Status::ok();
}

}  // namespace loom::topo::detail
