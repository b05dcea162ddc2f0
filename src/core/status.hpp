// Copyable error values used inside Loom: no exceptions cross threads or the C ABI.
#pragma once

#include <loom/loom.h>

#include <string>
#include <utility>
#include <variant>

namespace loom {

// An error: the public code, a message naming the problem, and where known the peer and errno.
class Status {
 public:
  Status() = default;
  Status(loomResult_t code, std::string message, int peer = -1, int sysErrno = 0)
      : code_(code), message_(std::move(message)), peer_(peer), errno_(sysErrno) {}

  static Status ok() { return {}; }
  bool isOk() const { return code_ == loomSuccess; }
  explicit operator bool() const { return isOk(); }
  loomResult_t code() const { return code_; }
  const std::string& message() const { return message_; }
  int peer() const { return peer_; }
  int sysErrno() const { return errno_; }

 private:
  loomResult_t code_ = loomSuccess;
  std::string message_;
  int peer_ = -1;
  int errno_ = 0;
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
