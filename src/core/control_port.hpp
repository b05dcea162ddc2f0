// Each rank reserves a TCP port at init (bound, not listening, so early connections are
// refused and retried rather than stuck in a backlog) and publishes it with its host address.
// When a split or shrink makes a rank the leader of a new communicator, it hosts that
// communicator's rendezvous on this port, so the survivors find it without any exchange over a
// possibly broken parent communicator.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.hpp"
#include "os/fd.hpp"
#include "os/net.hpp"

namespace loom::core {

struct ControlAddress {
  std::string host;  // numeric
  uint16_t port = 0;
};

class ControlPort {
 public:
  // Binds a free port on the interface LOOM_SOCKET_IFNAME / LOOM_SOCKET_FAMILY select.
  static Result<ControlPort> reserve();
  // That interface's address with port 0: where a rank's own listeners bind.
  static Result<os::SockAddr> chosenAddress();
  const ControlAddress& address() const { return address_; }
  // Frees the port so a rendezvous can bind it; reserveAgain() takes it back afterwards.
  void release() { fd_.reset(); }
  void reserveAgain();

  // "host port" and back, for the init exchange.
  static std::string encode(const ControlAddress& a);
  static Result<ControlAddress> decode(const std::string& text);

 private:
  os::UniqueFd fd_;
  ControlAddress address_;
};

}  // namespace loom::core
