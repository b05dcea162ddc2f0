#include "os/epoll.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

namespace loom::os {

Result<Epoll> Epoll::create() {
  Epoll e;
  e.ep_.reset(epoll_create1(EPOLL_CLOEXEC));
  if (!e.ep_.valid()) return systemError("epoll_create1", errno);
  e.wakeFd_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!e.wakeFd_.valid()) return systemError("eventfd", errno);
  LOOM_TRY(e.add(e.wakeFd_.get(), EPOLLIN, kWakeTag));
  return e;
}

namespace {
Status control(int ep, int op, int fd, uint32_t events, uint64_t tag, const char* what) {
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = tag;
  if (epoll_ctl(ep, op, fd, &ev) != 0) return systemError(what, errno);
  return Status::ok();
}
}  // namespace

Status Epoll::add(int fd, uint32_t events, uint64_t tag) {
  return control(ep_.get(), EPOLL_CTL_ADD, fd, events, tag, "epoll_ctl(ADD)");
}

Status Epoll::modify(int fd, uint32_t events, uint64_t tag) {
  return control(ep_.get(), EPOLL_CTL_MOD, fd, events, tag, "epoll_ctl(MOD)");
}

void Epoll::remove(int fd) { epoll_ctl(ep_.get(), EPOLL_CTL_DEL, fd, nullptr); }

int Epoll::wait(epoll_event* events, int maxEvents, int timeoutMs) {
  int n = epoll_wait(ep_.get(), events, maxEvents, timeoutMs);
  if (n < 0) return 0;
  for (int i = 0; i < n; ++i)
    if (events[i].data.u64 == kWakeTag) {
      uint64_t v;
      while (::read(wakeFd_.get(), &v, sizeof v) > 0) {
      }
    }
  return n;
}

void Epoll::wake() {
  uint64_t one = 1;
  ssize_t r = ::write(wakeFd_.get(), &one, sizeof one);
  (void)r;
}

}  // namespace loom::os
