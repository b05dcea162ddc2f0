// Shared by the cost-model tests: a simple tuning, placements and shapes whose figures the
// closed forms in the tests are worked out from.
#pragma once

#include "cost/model.hpp"

namespace loom::cost::testing_support {

using algo::Algo;
using algo::Coll;

inline Tuning simple() {
  Tuning t;
  t.shm = {2.0, 10.0};   // 2 us, 10 GB/s = 1e4 B/us
  t.tcp = {20.0, 1.0};   // 20 us, 1e3 B/us
  t.copyGbps = 20;
  t.reduceGbps = 10;
  t.reduceLowGbps = 5;
  t.stepUs = 0;
  t.opUs = 0;
  t.wakeUs = 30;
  return t;
}

// One host of `cores` cores whose messages all go through the rings (no single copy).
inline Placement ringOnly(int nranks, int cores) {
  Placement p = Placement::singleHost(nranks, cores);
  p.shmCmaBytes = 0;
  return p;
}

inline algo::CollArgs shape(Coll c, size_t count, size_t elem = 4, size_t chunk = 512 << 10) {
  algo::CollArgs a;
  a.coll = c;
  a.count = count;
  a.elemSize = elem;
  a.chunkBytes = chunk;
  return a;
}

}  // namespace loom::cost::testing_support
