// What each rank tells every other at init, in one bootstrap all-gather: where to reach it
// (control port, diagnostics port, fabric address), which host it is on and how many cores it may use, and, from
// rank 0 only, the cost-model tuning every rank must share (so all pick the same algorithms).
#pragma once

#include <string>

#include "core/control_port.hpp"
#include "core/status.hpp"

namespace loom::core {

inline constexpr int kMaxCores = 1 << 20;  // far above any host; bounds a peer's claim

struct InitCard {
  ControlAddress control;
  ControlAddress diag;  // diagnostics port (DiagService); port 0: none (LOOM_TIMEOUT_REPORT=0)
  std::string hostId;
  int cores = 1;
  std::string fabric;  // Fabric::address()
  std::string tuning;  // cost::toJson(), rank 0 only
  std::string host;    // topo host JSON, when topology detection is on
};

std::string encodeCard(const InitCard& c);
// Errors say which field of whose card is wrong.
Result<InitCard> decodeCard(const std::string& text, int fromRank);

}  // namespace loom::core
