// Shared by the libFuzzer targets: an invariant check that aborts (libFuzzer then saves the
// input as crash-*), and a helper to view fuzz bytes as text.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#define LOOM_FUZZ_CHECK(cond, what)                                                        \
  do {                                                                                     \
    if (!(cond)) {                                                                         \
      std::fprintf(stderr, "fuzz invariant failed at %s:%d: %s\n", __FILE__, __LINE__, what); \
      std::abort();                                                                        \
    }                                                                                      \
  } while (0)

namespace loom::fuzz {

inline std::string text(const uint8_t* data, size_t size) { return std::string(reinterpret_cast<const char*>(data), size); }

}  // namespace loom::fuzz
