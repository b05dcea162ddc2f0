// What a launcher told this process: rank, size, local rank and where to rendezvous.
//
// Precedence: LOOM_* (loomrun, or a hand-made LOOM_ROOT_ADDR setup), then Open MPI, then
// torchrun, then Slurm. Launchers other than loomrun hand out no unique id, so the id is built
// from an address every rank can compute (LOOM_ROOT_ADDR, MASTER_ADDR, the first Slurm node,
// or a file rank 0 publishes on a single host) and a secret derived from per-job values or
// taken from LOOM_SECRET; rank 0 starts the root server there. docs/launchers.md has the rules.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "bootstrap/bootstrap.hpp"
#include "bootstrap/launch_env.hpp"
#include "bootstrap/root_server.hpp"
#include "bootstrap/wire.hpp"
#include "core/log.hpp"
#include "os/process.hpp"

namespace loom::bootstrap {

namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

Result<int64_t> envInt(const char* name, int64_t lo, int64_t hi, const char* hint) {
  auto v = env(name);
  if (!v) return invalidUsage(fmt::format("{} is not set{}", name, hint));
  int64_t out = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), out);
  if (ec != std::errc() || ptr != v->data() + v->size())
    return invalidArgument(fmt::format("{}='{}' is not an integer", name, *v));
  if (out < lo || out > hi) return invalidArgument(fmt::format("{}={} is out of range [{}, {}]", name, out, lo, hi));
  return out;
}

// Reads rank/size/local-rank variables and checks them against each other.
Status readRanks(LaunchEnv& e, const char* rankVar, const char* sizeVar, const char* localVar, const char* hint) {
  auto size = envInt(sizeVar, 1, 1 << 20, hint);
  if (!size) return size.takeStatus();
  auto rank = envInt(rankVar, 0, 1 << 20, hint);
  if (!rank) return rank.takeStatus();
  if (*rank >= *size) return invalidArgument(fmt::format("{}={} is not below {}={}", rankVar, *rank, sizeVar, *size));
  e.rank = static_cast<int>(*rank);
  e.nranks = static_cast<int>(*size);
  if (localVar && env(localVar)) {
    auto local = envInt(localVar, 0, 1 << 20, "");
    if (!local) return local.takeStatus();
    e.localRank = static_cast<int>(*local);
  }
  return Status::ok();
}

// LOOM_SECRET when set (mixed with the generation for later communicators), else derived.
Result<Secret> jobSecret(const std::string& derivedFrom, int generation) {
  if (auto hex = env("LOOM_SECRET")) {
    Secret s{};
    if (!wire::secretFromHex(*hex, &s)) return invalidArgument("LOOM_SECRET must be 32 hex digits");
    if (generation == 0) return s;
    return wire::deriveSecret(fmt::format("{}:{}", *hex, generation));
  }
  return wire::deriveSecret(fmt::format("{}:{}", derivedFrom, generation));
}

// Rank 0 listens on the wildcard address at `port` and joins through loopback; the others
// build the id from host:port. `source` names the variables for error messages.
Result<loomUniqueId> rendezvousAt(int rank, const std::string& host, uint16_t port, const Secret& secret,
                                  const std::string& source, Deadline deadline) {
  auto addr = wire::resolve(host, port, AF_UNSPEC);
  if (rank != 0) {
    if (!addr) return invalidArgument(fmt::format("{}: {}", source, addr.status().message()));
    return encodeId({addr->host(), port, secret});
  }
  bool v6 = addr && addr->family() == AF_INET6;
  auto id = createRootAtUntil(v6 ? "::" : "0.0.0.0", port, secret, deadline);
  if (!id) return Status(id.status().code(), fmt::format("{}: {}", source, id.status().message()));
  auto decoded = decodeId(*id);
  if (!decoded) return decoded.takeStatus();
  decoded->host = v6 ? "::1" : "127.0.0.1";
  return encodeId(*decoded);
}

// LOOM_ROOT_ADDR=host:port, when set, overrides the launcher's own rendezvous.
std::optional<Result<loomUniqueId>> rootAddrOverride(int rank, const Secret& secret, Deadline deadline) {
  auto text = env("LOOM_ROOT_ADDR");
  if (!text) return std::nullopt;
  std::string host;
  uint16_t port = 0;
  if (!wire::splitHostPort(*text, &host, &port) || port == 0)
    return Result<loomUniqueId>(invalidArgument(fmt::format("LOOM_ROOT_ADDR='{}' is not host:port", *text)));
  return rendezvousAt(rank, host, port, secret, "LOOM_ROOT_ADDR=" + *text, deadline);
}

Result<LaunchEnv> fromLoom(int gen, Deadline deadline) {
  LaunchEnv e;
  LOOM_TRY(readRanks(e, "LOOM_RANK", "LOOM_WORLD_SIZE", "LOOM_LOCAL_RANK", " (loomrun sets it)"));
  if (auto hex = env("LOOM_UNIQUE_ID")) {
    auto id = idFromHex(*hex);
    if (!id) return invalidArgument("LOOM_UNIQUE_ID: " + id.status().message());
    e.id = *id;
    e.launcher = "loomrun";
    return e;
  }
  if (!env("LOOM_ROOT_ADDR"))
    return invalidUsage("LOOM_RANK is set but neither LOOM_UNIQUE_ID nor LOOM_ROOT_ADDR says where to rendezvous");
  auto secret = jobSecret(fmt::format("loom:{}:{}", *env("LOOM_ROOT_ADDR"), e.nranks), gen);
  if (!secret) return secret.takeStatus();
  auto id = *rootAddrOverride(e.rank, *secret, deadline);
  if (!id) return id.takeStatus();
  e.id = *id;
  e.launcher = "loom";
  return e;
}

Result<LaunchEnv> fromTorchrun(int gen, Deadline deadline) {
  LaunchEnv e;
  e.launcher = "torchrun";
  LOOM_TRY(readRanks(e, "RANK", "WORLD_SIZE", "LOCAL_RANK", " (torchrun sets RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)"));
  auto master = env("MASTER_ADDR");
  auto mport = envInt("MASTER_PORT", 1, 65535 - kTorchrunPortOffset, " (torchrun sets it)");
  std::string run = env("TORCHELASTIC_RUN_ID").value_or("");
  std::string restart = env("TORCHELASTIC_RESTART_COUNT").value_or("0");
  std::string basis = fmt::format("torchrun:{}:{}:{}:{}:{}", run, master.value_or(""), mport ? *mport : 0, e.nranks,
                                  restart);
  auto secret = jobSecret(basis, gen);
  if (!secret) return secret.takeStatus();
  if (auto over = rootAddrOverride(e.rank, *secret, deadline)) {
    if (!*over) return over->takeStatus();
    e.id = **over;
    return e;
  }
  if (!master) return invalidUsage("MASTER_ADDR is not set (torchrun sets it; or set LOOM_ROOT_ADDR=host:port)");
  if (!mport) return mport.takeStatus();
  uint16_t port = static_cast<uint16_t>(*mport + kTorchrunPortOffset);
  auto id = rendezvousAt(e.rank, *master, port,
                         *secret, fmt::format("MASTER_ADDR={} MASTER_PORT+{}={}", *master, kTorchrunPortOffset, port),
                         deadline);
  if (!id) return id.takeStatus();
  e.id = *id;
  return e;
}

// Single host under mpirun: rank 0 listens on loopback and publishes "host port" in a file.
Result<loomUniqueId> mpirunFile(int rank, const std::string& jobId, int gen, const Secret& secret, Deadline deadline) {
  std::string dir = env("OMPI_MCA_orte_jobfam_session_dir").value_or("");
  struct stat st{};
  if (dir.empty() || ::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) dir = "/tmp";
  std::string path = fmt::format("{}/loom-rendezvous-{}-{}", dir, jobId, gen);
  if (rank == 0) {
    auto id = createRootAtUntil("127.0.0.1", 0, secret, deadline);
    if (!id) return id.takeStatus();
    auto decoded = decodeId(*id);
    std::string tmp = fmt::format("{}.{}.tmp", path, ::getpid());
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << decoded->host << ' ' << decoded->port << '\n';
      if (!out.good()) return systemError("cannot write the rendezvous file " + tmp, errno);
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) return systemError("cannot rename to " + path, errno);
    return *id;
  }
  for (int sleepMs = 5;; sleepMs = std::min(sleepMs * 2, 100)) {
    std::ifstream in(path);
    std::string host;
    unsigned port = 0;
    if (in >> host >> port && port > 0 && port < 65536) return encodeId({host, static_cast<uint16_t>(port), secret});
    if (deadline.expired())
      return timeoutError(fmt::format("mpirun: rank 0 did not publish the rendezvous file {} before the deadline", path));
    std::this_thread::sleep_for(std::chrono::milliseconds(std::min(sleepMs, deadline.remainingMs())));
  }
}

Result<LaunchEnv> fromMpirun(int gen, Deadline deadline) {
  LaunchEnv e;
  e.launcher = "mpirun";
  LOOM_TRY(readRanks(e, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_LOCAL_RANK", ""));
  auto jobId = env("OMPI_MCA_ess_base_jobid");
  if (!jobId) jobId = env("PMIX_NAMESPACE");
  if (!jobId) return invalidUsage("OMPI_MCA_ess_base_jobid is not set (is this Open MPI's mpirun?)");
  auto key = env("OMPI_MCA_orte_precondition_transports");
  if (!key) key = env("OMPI_MCA_opal_precondition_transports");
  if (!key && !env("LOOM_SECRET"))
    return invalidUsage("OMPI_MCA_orte_precondition_transports is not set; set LOOM_SECRET (32 hex digits)");
  auto secret = jobSecret(fmt::format("mpirun:{}:{}:{}", key.value_or(""), *jobId, e.nranks), gen);
  if (!secret) return secret.takeStatus();
  if (auto over = rootAddrOverride(e.rank, *secret, deadline)) {
    if (!*over) return over->takeStatus();
    e.id = **over;
    return e;
  }
  auto nodes = env("OMPI_MCA_orte_num_nodes");
  auto localSize = env("OMPI_COMM_WORLD_LOCAL_SIZE");
  bool oneHost = (nodes && *nodes == "1") || (localSize && *localSize == std::to_string(e.nranks));
  if (!oneHost)
    return invalidUsage(fmt::format("mpirun across {} hosts: set LOOM_ROOT_ADDR=host:port to an address of rank 0's host",
                                    nodes.value_or("several")));
  auto id = mpirunFile(e.rank, *jobId, gen, *secret, deadline);
  if (!id) return id.takeStatus();
  e.id = *id;
  return e;
}

Result<LaunchEnv> fromSlurm(int gen, Deadline deadline) {
  LaunchEnv e;
  e.launcher = "srun";
  const char* sizeVar = env("SLURM_NTASKS") ? "SLURM_NTASKS" : "SLURM_NPROCS";
  LOOM_TRY(readRanks(e, "SLURM_PROCID", sizeVar, "SLURM_LOCALID", " (srun sets it)"));
  const char* jobVar = env("SLURM_JOB_ID") ? "SLURM_JOB_ID" : "SLURM_JOBID";
  const char* stepVar = env("SLURM_STEP_ID") ? "SLURM_STEP_ID" : "SLURM_STEPID";
  auto job = envInt(jobVar, 0, INT64_MAX, " (srun sets it)");
  if (!job) return job.takeStatus();
  auto step = envInt(stepVar, 0, INT64_MAX, " (run inside srun, not only salloc/sbatch)");
  if (!step) return step.takeStatus();
  auto secret = jobSecret(fmt::format("srun:{}:{}:{}", *job, *step, e.nranks), gen);
  if (!secret) return secret.takeStatus();
  if (auto over = rootAddrOverride(e.rank, *secret, deadline)) {
    if (!*over) return over->takeStatus();
    e.id = **over;
    return e;
  }
  const char* listVar = env("SLURM_STEP_NODELIST") ? "SLURM_STEP_NODELIST"
                        : env("SLURM_JOB_NODELIST") ? "SLURM_JOB_NODELIST"
                                                    : "SLURM_NODELIST";
  auto list = env(listVar);
  if (!list) return invalidUsage("SLURM_STEP_NODELIST is not set (srun sets it; or set LOOM_ROOT_ADDR=host:port)");
  auto hosts = expandNodelist(*list, listVar);
  if (!hosts) return hosts.takeStatus();
  const std::string& first = hosts->front();
  if (e.rank == 0) {
    std::string me = os::hostName();
    std::string shortMe = me.substr(0, me.find('.'));
    if (shortMe != first.substr(0, first.find('.')))
      LOOM_WARN("srun: rank 0 runs on {} but the first node of {} is {}; other ranks will look for the rendezvous "
                "there (use block distribution or set LOOM_ROOT_ADDR)",
                me, listVar, first);
  }
  uint16_t port = slurmPort(static_cast<uint64_t>(*job), static_cast<uint64_t>(*step));
  // Gen > 0 (a second communicator from the environment) uses the next port in the range.
  port = static_cast<uint16_t>(kSlurmPortBase + (port - kSlurmPortBase + gen) % kSlurmPortSpan);
  auto id = rendezvousAt(e.rank, first, port, *secret, fmt::format("{} (first node {}), port {}", listVar, first, port),
                         deadline);
  if (!id) return id.takeStatus();
  e.id = *id;
  return e;
}

// Parses one comma-separated range list inside brackets: "01-04,07".
Status expandRanges(const std::string& body, std::vector<std::string>* out, const std::string& var,
                    const std::string& list) {
  auto bad = [&](const std::string& why) { return invalidArgument(fmt::format("{}='{}' is malformed: {}", var, list, why)); };
  size_t pos = 0;
  while (pos <= body.size()) {
    size_t comma = body.find(',', pos);
    std::string item = body.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    size_t dash = item.find('-');
    std::string lo = item.substr(0, dash), hi = dash == std::string::npos ? lo : item.substr(dash + 1);
    // Not ::isdigit: a negative char (UTF-8, garbage) is undefined behaviour there.
    auto digits = [](const std::string& s) {
      return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (!digits(lo) || !digits(hi) || lo.size() > 9 || hi.size() > 9) return bad("range '" + item + "'");
    long a = std::stol(lo), b = std::stol(hi);
    if (a > b) return bad("range '" + item + "' is decreasing");
    if (out->size() + static_cast<size_t>(b - a) > (1u << 20)) return bad("too many hosts");
    for (long v = a; v <= b; ++v) {
      std::string s = std::to_string(v);
      if (s.size() < lo.size()) s.insert(0, lo.size() - s.size(), '0');  // keep zero padding
      out->push_back(s);
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return Status::ok();
}

}  // namespace

uint16_t slurmPort(uint64_t jobId, uint64_t stepId) {
  return static_cast<uint16_t>(kSlurmPortBase + (jobId * 1000003ull + stepId) % kSlurmPortSpan);
}

Result<std::vector<std::string>> expandNodelist(const std::string& list, const std::string& var) {
  auto bad = [&](const std::string& why) { return invalidArgument(fmt::format("{}='{}' is malformed: {}", var, list, why)); };
  std::vector<std::string> hosts;
  size_t pos = 0;
  while (pos < list.size()) {
    // One name runs to the next comma outside brackets.
    size_t end = pos;
    int depth = 0;
    for (; end < list.size(); ++end) {
      if (list[end] == '[') { if (depth++) return bad("nested '['"); }
      else if (list[end] == ']') { if (!depth--) return bad("unmatched ']'"); }
      else if (list[end] == ',' && depth == 0) break;
    }
    if (depth) return bad("unclosed '['");
    std::string name = list.substr(pos, end - pos);
    if (name.empty()) return bad("empty host name");
    // Expand bracket groups left to right as a product.
    std::vector<std::string> partial{""};
    size_t i = 0;
    while (i < name.size()) {
      size_t open = name.find('[', i);
      std::string text = name.substr(i, open == std::string::npos ? std::string::npos : open - i);
      for (auto& p : partial) p += text;
      if (open == std::string::npos) break;
      size_t close = name.find(']', open);
      std::vector<std::string> values;
      LOOM_TRY(expandRanges(name.substr(open + 1, close - open - 1), &values, var, list));
      if (partial.size() * values.size() > (1u << 20)) return bad("too many hosts");
      std::vector<std::string> next;
      for (const auto& p : partial)
        for (const auto& v : values) next.push_back(p + v);
      partial.swap(next);
      i = close + 1;
    }
    // The bound holds for the whole list, not only for each name ("a[0-999999],b[0-999999],...").
    if (hosts.size() + partial.size() > (1u << 20)) return bad("too many hosts");
    hosts.insert(hosts.end(), partial.begin(), partial.end());
    pos = end + 1;
    if (end == list.size() - 1 && list.back() == ',') return bad("trailing ','");
  }
  if (hosts.empty()) return bad("no hosts");
  return hosts;
}

Result<LaunchEnv> fromEnvironment(Deadline deadline) {
  // Each communicator built from the environment gets its own secret (and mpirun file, srun
  // port), so a second init never talks to the first one's root.
  static std::atomic<int> generations{0};
  int gen = generations.fetch_add(1);
  if (env("LOOM_RANK") || env("LOOM_UNIQUE_ID")) return fromLoom(gen, deadline);
  if (env("OMPI_COMM_WORLD_RANK")) return fromMpirun(gen, deadline);
  if (env("RANK") && (env("MASTER_ADDR") || env("TORCHELASTIC_RUN_ID"))) return fromTorchrun(gen, deadline);
  if (env("SLURM_PROCID") && (env("SLURM_STEP_ID") || env("SLURM_STEPID"))) return fromSlurm(gen, deadline);
  return invalidUsage(
      "no launcher found: set LOOM_RANK/LOOM_WORLD_SIZE/LOOM_UNIQUE_ID (loomrun), or run under torchrun (RANK, "
      "WORLD_SIZE, MASTER_ADDR, MASTER_PORT), mpirun (OMPI_COMM_WORLD_RANK) or srun (SLURM_PROCID, SLURM_STEP_ID)");
}

}  // namespace loom::bootstrap
