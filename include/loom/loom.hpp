// Thin header-only C++ wrapper over the C API: RAII communicators and requests, exceptions
// (loom::Error) instead of result codes, and type deduction for buffers.
#pragma once

#include <loom/loom.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace loom {

class Error : public std::runtime_error {
 public:
  Error(loomResult_t code, const std::string& what) : std::runtime_error(what), code_(code) {}
  loomResult_t code() const { return code_; }

 private:
  loomResult_t code_;
};

inline void check(loomResult_t r, loomComm_t comm = nullptr) {
  if (r != loomSuccess) throw Error(r, std::string(loomGetErrorString(r)) + ": " + loomGetLastError(comm));
}

template <typename T> constexpr loomDataType_t dataType();
template <> constexpr loomDataType_t dataType<int8_t>() { return loomInt8; }
template <> constexpr loomDataType_t dataType<uint8_t>() { return loomUint8; }
template <> constexpr loomDataType_t dataType<int32_t>() { return loomInt32; }
template <> constexpr loomDataType_t dataType<uint32_t>() { return loomUint32; }
template <> constexpr loomDataType_t dataType<int64_t>() { return loomInt64; }
template <> constexpr loomDataType_t dataType<uint64_t>() { return loomUint64; }
template <> constexpr loomDataType_t dataType<float>() { return loomFloat32; }
template <> constexpr loomDataType_t dataType<double>() { return loomFloat64; }

// A pending nonblocking operation; waits in the destructor if not waited for.
class Request {
 public:
  Request() = default;
  Request(loomRequest_t r, loomComm_t comm) : r_(r), comm_(comm) {}
  Request(Request&& o) noexcept : r_(std::exchange(o.r_, nullptr)), comm_(o.comm_) {}
  Request& operator=(Request&& o) noexcept {
    if (this != &o) {
      reset();
      r_ = std::exchange(o.r_, nullptr);
      comm_ = o.comm_;
    }
    return *this;
  }
  ~Request() { reset(); }
  void wait() {
    if (r_) check(loomWait(std::exchange(r_, nullptr)), comm_);
  }
  bool test() {
    if (!r_) return true;
    int done = 0;
    loomResult_t res = loomTest(r_, &done);
    if (done) r_ = nullptr;
    check(res, comm_);
    return done != 0;
  }

 private:
  void reset() {
    if (r_) loomWait(std::exchange(r_, nullptr));
  }
  loomRequest_t r_ = nullptr;
  loomComm_t comm_ = nullptr;
};

// `count` elements of T in loomMemAlloc's memory (zero-filled), freed with the object; no memory
// for a count of 0.
template <typename T>
class HostBuffer {
  static_assert(std::is_trivially_copyable_v<T>, "HostBuffer hands out zero-filled memory as T without constructing T");

 public:
  explicit HostBuffer(size_t count) : n_(count) {
    if (count == 0) return;
    if (count > SIZE_MAX / sizeof(T)) throw Error(loomInvalidArgument, "HostBuffer: count * sizeof(T) overflows");
    void* p = nullptr;
    check(loomMemAlloc(&p, count * sizeof(T)));
    p_ = static_cast<T*>(p);
  }
  HostBuffer(HostBuffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  HostBuffer& operator=(HostBuffer&& o) noexcept {
    if (this != &o) {
      loomMemFree(p_);
      p_ = std::exchange(o.p_, nullptr);
      n_ = std::exchange(o.n_, 0);
    }
    return *this;
  }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;
  ~HostBuffer() { loomMemFree(p_); }

  T* data() const { return p_; }
  size_t size() const { return n_; }
  T& operator[](size_t i) const { return p_[i]; }

 private:
  T* p_ = nullptr;
  size_t n_ = 0;
};

class Comm {
 public:
  // From loomrun, torchrun, mpirun or srun variables.
  static Comm fromEnv() {
    loomComm_t c = nullptr;
    check(loomCommInitFromEnv(&c));
    return Comm(c);
  }
  static Comm initRank(int nranks, const loomUniqueId& id, int rank) {
    loomComm_t c = nullptr;
    check(loomCommInitRank(&c, nranks, id, rank));
    return Comm(c);
  }
  // n communicators as threads of this process.
  static std::vector<Comm> initAll(int n) {
    std::vector<loomComm_t> raw(n);
    check(loomCommInitAll(raw.data(), n));
    std::vector<Comm> out;
    for (auto c : raw) out.emplace_back(Comm(c));
    return out;
  }
  static loomUniqueId uniqueId() {
    loomUniqueId id;
    check(loomGetUniqueId(&id));
    return id;
  }

  Comm(Comm&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  Comm& operator=(Comm&& o) noexcept {
    if (this != &o) {
      if (c_) loomCommDestroy(c_);
      c_ = std::exchange(o.c_, nullptr);
    }
    return *this;
  }
  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;
  ~Comm() {
    if (c_) loomCommDestroy(c_);
  }

  loomComm_t get() const { return c_; }
  int rank() const {
    int r = 0;
    check(loomCommUserRank(c_, &r), c_);
    return r;
  }
  int size() const {
    int n = 0;
    check(loomCommCount(c_, &n), c_);
    return n;
  }
  void abort() { check(loomCommAbort(std::exchange(c_, nullptr))); }
  // Seconds an operation may take before it fails with loomTimeout (0: no limit).
  void setTimeout(double seconds) { check(loomCommSetTimeout(c_, seconds), c_); }
  double timeout() const {
    double s = 0;
    check(loomCommGetTimeout(c_, &s), c_);
    return s;
  }

  template <typename T> void allReduce(const T* send, T* recv, size_t count, loomRedOp_t op = loomSum) {
    check(loomAllReduce(send, recv, count, dataType<T>(), op, c_, nullptr), c_);
  }
  template <typename T> Request allReduceAsync(const T* send, T* recv, size_t count, loomRedOp_t op = loomSum) {
    loomRequest_t r = nullptr;
    check(loomAllReduce(send, recv, count, dataType<T>(), op, c_, &r), c_);
    return Request(r, c_);
  }
  template <typename T> void broadcast(const T* send, T* recv, size_t count, int root) {
    check(loomBroadcast(send, recv, count, dataType<T>(), root, c_, nullptr), c_);
  }
  template <typename T> void reduce(const T* send, T* recv, size_t count, loomRedOp_t op, int root) {
    check(loomReduce(send, recv, count, dataType<T>(), op, root, c_, nullptr), c_);
  }
  template <typename T> void allGather(const T* send, T* recv, size_t sendcount) {
    check(loomAllGather(send, recv, sendcount, dataType<T>(), c_, nullptr), c_);
  }
  template <typename T> void reduceScatter(const T* send, T* recv, size_t recvcount, loomRedOp_t op = loomSum) {
    check(loomReduceScatter(send, recv, recvcount, dataType<T>(), op, c_, nullptr), c_);
  }
  template <typename T> void allToAll(const T* send, T* recv, size_t count) {
    check(loomAllToAll(send, recv, count, dataType<T>(), c_, nullptr), c_);
  }
  template <typename T> void send(const T* buf, size_t count, int peer) {
    check(loomSend(buf, count, dataType<T>(), peer, c_, nullptr), c_);
  }
  template <typename T> void recv(T* buf, size_t count, int peer) {
    check(loomRecv(buf, count, dataType<T>(), peer, c_, nullptr), c_);
  }
  void barrier() { check(loomBarrier(c_, nullptr), c_); }

 private:
  explicit Comm(loomComm_t c) : c_(c) {}
  loomComm_t c_ = nullptr;
};

}  // namespace loom
