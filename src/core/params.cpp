#include "core/params.hpp"

#include <cassert>
#include <charconv>
#include <cstdlib>

#include "core/log.hpp"

namespace loom::params {

const std::vector<Param>& all() {
  static const std::vector<Param> table = {
      {"LOOM_TIMEOUT", Type::Double, "300", "Seconds an operation may wait before it fails with loomTimeout (0 = no limit)."},
      {"LOOM_TIMEOUT_REPORT", Type::Double, "1", "Seconds a rank whose operation timed out waits for the other ranks to say what they are doing; the error then names those that never reached the operation or did not answer (0: no report, no diagnostics port)."},
      {"LOOM_INIT_TIMEOUT", Type::Double, "60", "Seconds init and every bootstrap wait may take."},
      {"LOOM_TRANSPORT", Type::String, "auto", "auto (shm within a host, tcp across hosts), shm or tcp."},
      {"LOOM_ALGO", Type::String, "", "Force algorithms, e.g. 'ring' or 'allreduce:0-64K=tree,64K-=ring;broadcast=tree'; a forced ring or hier runs the chunk the cost model picks for it unless LOOM_CHUNK_SIZE is set."},
      {"LOOM_CALIBRATE", Type::Int, "1", "Measure the cost model's constants at init (rank 0, about 0.6 s) until three calibrations have been tried on this host, and cache the median of those kept; 0: never measure (the cache if any, else built-in defaults)."},
      {"LOOM_CHUNK_SIZE", Type::Bytes, "512K", "Pipelining unit of ring and chain algorithms."},
      {"LOOM_NSOCKS", Type::Int, "2", "TCP sockets per peer."},
      {"LOOM_SOCKET_IFNAME", Type::String, "", "Interfaces for TCP, NCCL syntax: 'eth,ib' prefixes, '^docker' excludes, '=eth0' exact."},
      {"LOOM_SOCKET_FAMILY", Type::String, "", "AF_INET or AF_INET6 to force an address family."},
      {"LOOM_TCP_CONGESTION", Type::String, "auto", "TCP congestion control of loom's sockets, chosen before each connection is made: 'auto' (cubic within one machine, the system's default across machines), 'system', or an algorithm the kernel allows (cubic, reno, bbr, ...)."},
      {"LOOM_TCP_BUFFER_BYTES", Type::Bytes, "4M", "Socket send/receive buffer size; 0: the kernel's default, which it tunes per connection."},
      {"LOOM_SHM_SLOT_BYTES", Type::Bytes, "256K", "Size of one slot of a shared-memory ring."},
      {"LOOM_SHM_SLOTS", Type::Int, "8", "Slots per shared-memory ring (one ring per ordered pair of local ranks)."},
      {"LOOM_SHM_BOARD_BYTES", Type::Bytes, "16K", "Payload bytes of one board entry: a collective whose input (per rank) fits runs one-shot on the shared board when the cost model picks algorithm 'board'; 0: no board."},
      {"LOOM_SHM_BOARD_DEPTH", Type::Int, "64", "Board entries per rank: how many board calls a rank may run ahead of the slowest."},
      {"LOOM_SHM_CMA_BYTES", Type::Bytes, "16K", "Shared-memory messages of at least this size go in one copy: the receiver reads the sender's buffer (process_vm_readv) where the OS lets it; 0: always through the ring (two copies)."},
      {"LOOM_SHM_STREAM_STORES", Type::Int, "-1", "How a sender writes shared-memory ring slots of 32 KiB and more: -1 plain or streaming (non-temporal) stores, whichever its copies time faster, checked again now and then (streaming wins where the two cores share no cache); 0: plain; 1: streaming."},
      {"LOOM_SHM_ONEWAY_PROBE_GBPS", Type::Double, "-1", "A long one-way shared-memory stream (past 1 MiB, nothing to wait for) goes through the ring; where the ring moves it slower than this many GB/s, the sender tries single copy and keeps the faster; -1: 1.5 times the calibrated single-copy rate beyond the caches (none where the calibration found single copy forbidden); 0: never."},
      {"LOOM_SPIN_US", Type::Int, "-1", "Microseconds to spin before sleeping when waiting; -1: 1000 when this host's ranks fit its cores, else 0 (sleep at once and let the peer run)."},
      {"LOOM_YIELD_US", Type::Int, "-1", "Microseconds a shared-memory wait polls with sched_yield (after the spin) before it sleeps; -1: 20000 when this host's ranks outnumber its cores (the peer gets the core at once), else 0."},
      {"LOOM_HOST_CPUS", Type::Int, "0", "CPUs this host's ranks share, for the spin and yield choices above; 0: this process's CPU affinity (loomrun sets it when it binds each rank to one CPU)."},
      {"LOOM_TUNING_FILE", Type::String, "", "Cost-model constants: loaded from this file, or measured and saved there (default: a per-hardware cache in ~/.cache/loom)."},
      {"LOOM_TOPO_FILE", Type::String, "", "Load the machine description from this JSON file instead of detecting it."},
      {"LOOM_TOPO_DUMP_FILE", Type::String, "", "Rank 0 writes the job's topology (every host, every rank's place) to this JSON file at init."},
      {"LOOM_HOST_ID", Type::String, "", "Override which ranks count as one host (ranks with equal ids share memory)."},
      {"LOOM_DEBUG", Type::String, "WARN", "Log level: NONE, ERROR, WARN, INFO, DEBUG, TRACE."},
      {"LOOM_DEBUG_FILE", Type::String, "", "Write logs here instead of stderr (%h host, %p pid)."},
      {"LOOM_RANK", Type::Int, "-1", "Rank of this process (set by loomrun; overrides launcher variables)."},
      {"LOOM_WORLD_SIZE", Type::Int, "-1", "Number of ranks (set by loomrun; overrides launcher variables)."},
      {"LOOM_LOCAL_RANK", Type::Int, "-1", "Rank within this host (set by loomrun)."},
      {"LOOM_UNIQUE_ID", Type::String, "", "Rendezvous id as hex (set by loomrun)."},
      {"LOOM_ROOT_ADDR", Type::String, "", "host:port where rank 0 hosts the rendezvous (mpirun/srun across hosts)."},
      {"LOOM_CHECK", Type::Int, "0", "1: before each collective, ranks compare operation, count, type, op and root, and fail on a mismatch."},
      {"LOOM_FAILURE_DETECT", Type::Double, "5", "Seconds within which a dead peer is detected (heartbeats over tcp, process liveness over shm)."},
      {"LOOM_CHECKSUM", Type::Int, "0", "1: every tcp frame and shm fragment carries a CRC32C of its payload, verified on receipt."},
      {"LOOM_SECRET", Type::String, "", "32 hex digits: the job secret when the launcher provides none."},
  };
  return table;
}

namespace {

const Param* find(std::string_view name) {
  for (const auto& p : all())
    if (name == p.name) return &p;
  assert(!"unregistered LOOM_* parameter");
  return nullptr;
}

// The environment value, or the default.
std::string raw(const Param& p) {
  const char* v = std::getenv(p.name);
  return (v && *v) ? std::string(v) : std::string(p.defaultValue);
}

}  // namespace

bool parseBytes(std::string_view text, uint64_t* out) {
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr == text.data()) return false;
  std::string_view rest(ptr, text.data() + text.size() - ptr);
  uint64_t mult = 1;
  if (rest == "" || rest == "B") mult = 1;
  else if (rest == "K" || rest == "k" || rest == "KB" || rest == "KiB") mult = 1ull << 10;
  else if (rest == "M" || rest == "MB" || rest == "MiB") mult = 1ull << 20;
  else if (rest == "G" || rest == "GB" || rest == "GiB") mult = 1ull << 30;
  else return false;
  if (value > UINT64_MAX / mult) return false;  // "20000000000G" would wrap
  *out = value * mult;
  return true;
}

int64_t getInt(std::string_view name) {
  const Param* p = find(name);
  if (!p) return 0;
  std::string v = raw(*p);
  int64_t out = 0;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc() || ptr != v.data() + v.size()) {
    LOOM_WARN("{}='{}' is not an integer; using {}", p->name, v, p->defaultValue);
    std::from_chars(p->defaultValue, p->defaultValue + std::char_traits<char>::length(p->defaultValue), out);
  }
  return out;
}

double getDouble(std::string_view name) {
  const Param* p = find(name);
  if (!p) return 0;
  std::string v = raw(*p);
  char* end = nullptr;
  double out = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || *end != '\0') {
    LOOM_WARN("{}='{}' is not a number; using {}", p->name, v, p->defaultValue);
    out = std::strtod(p->defaultValue, nullptr);
  }
  return out;
}

std::string getString(std::string_view name) {
  const Param* p = find(name);
  return p ? raw(*p) : std::string();
}

uint64_t getBytes(std::string_view name) {
  const Param* p = find(name);
  if (!p) return 0;
  std::string v = raw(*p);
  uint64_t out = 0;
  if (!parseBytes(v, &out)) {
    LOOM_WARN("{}='{}' is not a size; using {}", p->name, v, p->defaultValue);
    parseBytes(p->defaultValue, &out);
  }
  return out;
}

}  // namespace loom::params
