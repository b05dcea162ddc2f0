// epoll set plus an eventfd that any thread may signal to interrupt a wait.
#pragma once

#include <sys/epoll.h>

#include <cstdint>

#include "core/status.hpp"
#include "os/fd.hpp"

namespace loom::os {

class Epoll {
 public:
  static Result<Epoll> create();  // also registers the wake eventfd (data.u64 == kWakeTag)
  static constexpr uint64_t kWakeTag = ~uint64_t{0};

  Status add(int fd, uint32_t events, uint64_t tag);
  Status modify(int fd, uint32_t events, uint64_t tag);
  void remove(int fd);
  // Returns the number of events (0 on timeout or EINTR); wake events are consumed here and
  // reported with tag kWakeTag.
  int wait(epoll_event* events, int maxEvents, int timeoutMs);
  void wake();  // thread safe
  int fd() const { return ep_.get(); }

 private:
  UniqueFd ep_;
  UniqueFd wakeFd_;
};

}  // namespace loom::os
