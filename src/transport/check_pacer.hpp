// When a progress pass reads the clock to see whether liveness work (heartbeats, silence, process
// checks) is due. A busy poll loop makes millions of cheap passes a second, so only every kCalls-th
// reads it; but passes that move data can be long (a tcp pass sends and reads until the socket
// is full or empty), so one also reads it once kBytes have moved since the last read. Counting
// calls alone, 4 ranks on 2 cores running a 256 MiB tcp reducescatter made 32 passes in 2.5 s
// without a check: no heartbeats went out, and a peer that only exchanged heartbeats with them
// declared them dead after 5 s (LOOM_FAILURE_DETECT). Header-only: tests feed it calls and bytes.
#pragma once

#include <cstddef>

namespace loom::transport {

class CheckPacer {
 public:
  static constexpr unsigned kCalls = 32;
  static constexpr size_t kBytes = 4 << 20;

  // Bytes this fabric moved (sent, received, copied) since the last pass.
  void moved(size_t bytes) { bytes_ += bytes; }
  // A pass begins: true when it should read the clock.
  bool due() {
    if (++calls_ < kCalls && bytes_ < kBytes) return false;
    calls_ = 0;
    bytes_ = 0;
    return true;
  }
  // The next pass reads the clock (after a wait, however short).
  void prime() { calls_ = kCalls; }

 private:
  unsigned calls_ = kCalls;  // passes since the clock was last read
  size_t bytes_ = 0;         // bytes moved since then
};

}  // namespace loom::transport
