#include "core/temp_pool.hpp"

#include <algorithm>
#include <cstring>

namespace loom::core {

void TempPool::Buffer::giveBack() {
  if (mem_) pool_->keep(std::move(mem_), capacity_);  // a buffer with memory has a pool
  mem_.reset();
  pool_.reset();
  size_ = capacity_ = 0;
}

TempPool::Buffer TempPool::takeSome(size_t bytes, bool zeroed) {
  Buffer b;
  {
    std::lock_guard lock(mu_);
    // The smallest spare that fits.
    auto best = spares_.end();
    for (auto it = spares_.begin(); it != spares_.end(); ++it)
      if (it->capacity >= bytes && (best == spares_.end() || it->capacity < best->capacity)) best = it;
    if (best != spares_.end()) {
      b.mem_ = std::move(best->mem);
      b.capacity_ = best->capacity;
      spares_.erase(best);
    }
  }
  if (!b.mem_) {
    b.mem_.reset(new uint8_t[bytes]);  // uninitialised: zeroed below only where asked
    b.capacity_ = bytes;
  }
  b.size_ = bytes;
  b.pool_ = shared_from_this();
  if (zeroed) std::memset(b.mem_.get(), 0, bytes);
  return b;
}

void TempPool::keep(std::unique_ptr<uint8_t[]> mem, size_t capacity) {
  std::lock_guard lock(mu_);
  spares_.push_back({std::move(mem), capacity});
  if (spares_.size() > kSpares) {  // drop the smallest
    auto smallest = std::min_element(spares_.begin(), spares_.end(),
                                     [](const Spare& a, const Spare& b) { return a.capacity < b.capacity; });
    spares_.erase(smallest);
  }
}

size_t TempPool::spares() const {
  std::lock_guard lock(mu_);
  return spares_.size();
}

}  // namespace loom::core
