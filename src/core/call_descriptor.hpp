// What identifies a collective call across ranks (collective, count, type, op, root): LOOM_CHECK
// all-gathers it before each call, the board checks it on every entry it reads.
#pragma once

#include <cstdint>
#include <string>

#include "algo/collective.hpp"

namespace loom::core {

struct CallDescriptor {
  int32_t coll, type, op, root;  // op and root are 0 where the collective has none
  uint64_t count;                // 0 for alltoallv
};
static_assert(sizeof(CallDescriptor) == 24);

struct CollCall;
CallDescriptor descriptorOf(const CollCall& c);
// "allreduce(count 4, float32, op 0)".
std::string describe(const CallDescriptor& d);
// The first field in which b differs from a ("collective", "count", ...), or nullptr.
const char* differingField(const CallDescriptor& a, const CallDescriptor& b);

}  // namespace loom::core
