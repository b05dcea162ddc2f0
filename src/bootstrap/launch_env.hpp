// Launcher-environment helpers (private; exposed for tests).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.hpp"

namespace loom::bootstrap {

// Expands a Slurm host list such as "node[01-04,07],gpu[1-2]-ib,login" into host names, in
// order. Several bracket groups in one name expand as a product. Errors name `var`.
Result<std::vector<std::string>> expandNodelist(const std::string& list, const std::string& var = "nodelist");

// The rendezvous port used under srun: 20000 + ((job id * 1000003 + step id) mod 8192),
// below Linux's ephemeral range.
constexpr uint16_t kSlurmPortBase = 20000;
constexpr uint32_t kSlurmPortSpan = 8192;
uint16_t slurmPort(uint64_t jobId, uint64_t stepId);

// torchrun's own TCPStore listens on MASTER_PORT; Loom's root uses MASTER_PORT + this.
constexpr int kTorchrunPortOffset = 1;

}  // namespace loom::bootstrap
