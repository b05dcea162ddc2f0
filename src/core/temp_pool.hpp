// Operations' temporary buffers (a non-root's output that the schedule needs, a premultiplied
// input, the staged copy of an in-place send, LOOM_CHECK's descriptors), kept from call to call.
// A large buffer allocated per call is a fresh mapping every time, zeroed and faulted in page by
// page: a 2-rank in-place sendrecv of 64 MiB spent most of its 68 ms that way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace loom::core {

class TempPool : public std::enable_shared_from_this<TempPool> {
 public:
  // At most this many spare buffers are kept (a blocking loop needs one; a nonblocking one a few).
  static constexpr size_t kSpares = 2;

  // Owns its bytes until dropped, then hands them back to the pool (which it keeps alive).
  class Buffer {
   public:
    Buffer() = default;
    Buffer(Buffer&& o) noexcept { *this = std::move(o); }
    Buffer& operator=(Buffer&& o) noexcept {  // the moved-from one is left empty
      if (this != &o) {
        if (pool_) giveBack();
        mem_ = std::move(o.mem_);
        pool_ = std::move(o.pool_);
        size_ = std::exchange(o.size_, 0);
        capacity_ = std::exchange(o.capacity_, 0);
      }
      return *this;
    }
    ~Buffer() {
      if (pool_) giveBack();  // most operations hold none: no call for them
    }
    uint8_t* data() const { return mem_.get(); }
    size_t size() const { return size_; }

   private:
    friend class TempPool;
    void giveBack();
    std::unique_ptr<uint8_t[]> mem_;
    size_t size_ = 0, capacity_ = 0;
    std::shared_ptr<TempPool> pool_;
  };

  static std::shared_ptr<TempPool> create() { return std::shared_ptr<TempPool>(new TempPool); }

  // `bytes` of memory (none for 0), zero-filled where `zeroed`; a spare at least that large is
  // reused, else a new one is allocated.
  Buffer take(size_t bytes, bool zeroed) { return bytes ? takeSome(bytes, zeroed) : Buffer{}; }
  // Spares held now (tests).
  size_t spares() const;

 private:
  TempPool() = default;
  Buffer takeSome(size_t bytes, bool zeroed);  // take() of a non-empty buffer
  void keep(std::unique_ptr<uint8_t[]> mem, size_t capacity);

  mutable std::mutex mu_;
  struct Spare {
    std::unique_ptr<uint8_t[]> mem;
    size_t capacity = 0;
  };
  std::vector<Spare> spares_;
};

}  // namespace loom::core
