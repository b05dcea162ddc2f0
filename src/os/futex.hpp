// Futex wait/wake on a 32-bit word that may live in a shared mapping (so never FUTEX_PRIVATE).
#pragma once

#include <atomic>
#include <cstdint>

namespace loom::os {

// Sleeps while *word == expected, up to timeoutMs (<0: no limit). Returns early on wake,
// signal or value change; spurious returns are allowed.
void futexWait(std::atomic<uint32_t>* word, uint32_t expected, int timeoutMs);
// Wakes up to n waiters on word.
void futexWake(std::atomic<uint32_t>* word, int n = 1 << 30);

}  // namespace loom::os
