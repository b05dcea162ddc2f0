#include "core/status.hpp"

#include <cstring>

namespace loom {

Status invalidArgument(std::string message) { return {loomInvalidArgument, std::move(message)}; }
Status invalidUsage(std::string message) { return {loomInvalidUsage, std::move(message)}; }
Status remoteError(std::string message, int peer) { return {loomRemoteError, std::move(message), peer}; }
Status timeoutError(std::string message) { return {loomTimeout, std::move(message)}; }
Status internalError(std::string message) { return {loomInternalError, std::move(message)}; }

Status systemError(std::string what, int sysErrno) {
  char buf[128];
  const char* text = strerror_r(sysErrno, buf, sizeof buf);
  return {loomSystemError, what + ": " + text, -1, sysErrno};
}

}  // namespace loom
