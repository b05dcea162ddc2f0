// Copyable error values used inside Loom: no exceptions cross threads or the C ABI.
#pragma once

#include <loom/loom.h>

#include <memory>
#include <string>
#include <utility>
#include <variant>

namespace loom {

// An error: the public code, a message naming the problem, and where known the peer and errno.
// Every call passes several of these around, nearly always OK: an OK status is the code and a
// null pointer, so making, moving and dropping one costs a few instructions (the details live
// on the heap, and only errors have any).
class Status {
 public:
  Status() = default;
  Status(loomResult_t code, std::string message, int peer = -1, int sysErrno = 0)
      : code_(code), detail_(std::make_unique<Detail>(Detail{std::move(message), peer, sysErrno})) {}
  Status(const Status& o) : code_(o.code_), detail_(o.detail_ ? std::make_unique<Detail>(*o.detail_) : nullptr) {}
  Status(Status&& o) noexcept = default;
  Status& operator=(const Status& o) {
    if (this != &o) *this = Status(o);
    return *this;
  }
  Status& operator=(Status&& o) noexcept = default;
  ~Status() = default;

  static Status ok() { return {}; }
  bool isOk() const { return code_ == loomSuccess; }
  explicit operator bool() const { return isOk(); }
  loomResult_t code() const { return code_; }
  const std::string& message() const { return detail_ ? detail_->message : noMessage(); }
  int peer() const { return detail_ ? detail_->peer : -1; }
  int sysErrno() const { return detail_ ? detail_->sysErrno : 0; }

 private:
  struct Detail {
    std::string message;
    int peer = -1;
    int sysErrno = 0;
  };
  static const std::string& noMessage() {
    static const std::string empty;
    return empty;
  }
  loomResult_t code_ = loomSuccess;
  std::unique_ptr<Detail> detail_;
};

Status invalidArgument(std::string message);
Status invalidUsage(std::string message);
Status systemError(std::string what, int sysErrno);  // appends strerror(sysErrno)
Status remoteError(std::string message, int peer);
Status timeoutError(std::string message);
Status internalError(std::string message);

// A value or an error.
template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}           // NOLINT(google-explicit-constructor)
  Result(Status error) : v_(std::move(error)) {}      // NOLINT(google-explicit-constructor)
  bool isOk() const { return v_.index() == 0; }
  explicit operator bool() const { return isOk(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T* operator->() { return &value(); }
  T& operator*() { return value(); }
  const Status& status() const { return std::get<1>(v_); }
  Status takeStatus() { return std::move(std::get<1>(v_)); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace loom

// Returns early from the enclosing function on error.
#define LOOM_TRY(expr)                     \
  do {                                     \
    ::loom::Status loomTryStatus_ = (expr); \
    if (!loomTryStatus_.isOk()) return loomTryStatus_; \
  } while (0)
