// Rendezvous: how ranks of a communicator find each other before any transport exists.
//
// A unique id is an address (IPv4 or IPv6, port) plus a 128-bit random secret. A root server
// listens there; each rank connects, proves the secret, and joins rounds of all-gather (every
// rank contributes a blob, every rank receives all blobs in rank order). The root refuses a
// connection without the secret, a second claim on one rank, or a rank out of range, and every
// wait has a deadline whose error names the missing ranks.
#pragma once

#include <loom/loom.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/deadline.hpp"
#include "core/status.hpp"

namespace loom::bootstrap {

using Secret = std::array<uint8_t, 16>;

// The decoded form of loomUniqueId.
struct RendezvousId {
  std::string host;  // numeric address
  uint16_t port = 0;
  Secret secret{};
};
loomUniqueId encodeId(const RendezvousId& id);
Result<RendezvousId> decodeId(const loomUniqueId& raw);  // validates magic, family, lengths
std::string idToHex(const loomUniqueId& raw);              // for LOOM_UNIQUE_ID
Result<loomUniqueId> idFromHex(const std::string& hex);

// Starts a root server on a free port of a local interface (LOOM_SOCKET_IFNAME rules) in a
// background thread of this process, serving one communicator of any size; returns its id.
// The thread ends when all ranks have closed or LOOM_INIT_TIMEOUT passes.
Result<loomUniqueId> createRoot();
// Starts a root server bound to host:port with the given secret (rank 0 under torchrun, srun...).
Result<loomUniqueId> createRootAt(const std::string& host, uint16_t port, const Secret& secret);

class Bootstrap {
 public:
  // Connects to the root of `id` as `rank` of `nranks`.
  static Result<std::unique_ptr<Bootstrap>> join(const loomUniqueId& id, int rank, int nranks, Deadline deadline);
  virtual ~Bootstrap() = default;

  // Every rank contributes `mine`; returns all contributions in rank order. On expiry the
  // error names the ranks that have not contributed.
  virtual Result<std::vector<std::string>> allGather(const std::string& mine, Deadline deadline) = 0;
  virtual Status barrier(Deadline deadline) = 0;
  virtual const Secret& secret() const = 0;
  virtual int rank() const = 0;
  virtual int nranks() const = 0;
};

// What a launcher told this process.
struct LaunchEnv {
  int rank = -1;
  int nranks = -1;
  int localRank = -1;
  std::string launcher;  // "loom", "loomrun", "torchrun", "mpirun", "srun"
  loomUniqueId id{};     // rank 0 may have started the root server to produce it
};

// Reads LOOM_* (precedence), then torchrun, Open MPI and Slurm variables. Rank 0 starts the
// root server where the launcher has no id to hand out.
Result<LaunchEnv> fromEnvironment(Deadline deadline);

}  // namespace loom::bootstrap
