#include "core/control_port.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <sstream>

#include "core/log.hpp"
#include "core/params.hpp"
#include "os/net.hpp"

namespace loom::core {

namespace {

// A bound, non-listening TCP socket on addr (port 0 picks one); fills in the bound port.
Result<os::UniqueFd> bindOnly(os::SockAddr* addr) {
  os::UniqueFd fd(socket(addr->family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return systemError("socket", errno);
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd.get(), addr->get(), addr->len) != 0) return systemError("bind " + addr->toString(), errno);
  socklen_t len = sizeof addr->storage;
  getsockname(fd.get(), addr->get(), &len);
  addr->len = len;
  return fd;
}

}  // namespace

Result<os::SockAddr> ControlPort::chosenAddress() {
  auto iface = os::selectInterface(params::getString("LOOM_SOCKET_IFNAME"), params::getString("LOOM_SOCKET_FAMILY"));
  if (!iface.isOk()) return iface.takeStatus();
  os::SockAddr addr = iface->addr;
  addr.setPort(0);
  return addr;
}

Result<ControlPort> ControlPort::reserve() {
  auto chosen = chosenAddress();
  if (!chosen.isOk()) return chosen.takeStatus();
  os::SockAddr addr = chosen.value();
  auto fd = bindOnly(&addr);
  if (!fd.isOk()) return fd.takeStatus();
  ControlPort p;
  p.fd_ = std::move(fd.value());
  p.address_ = {addr.host(), addr.port()};
  return p;
}

void ControlPort::reserveAgain() {
  auto addr = os::SockAddr::parse(address_.host, address_.port);
  if (!addr.isOk()) return;
  auto fd = bindOnly(&addr.value());
  if (fd.isOk()) fd_ = std::move(fd.value());
  else LOOM_DEBUG("could not re-reserve control port {}: {}", address_.port, fd.status().message());
}

std::string ControlPort::encode(const ControlAddress& a) { return a.host + " " + std::to_string(a.port); }

Result<ControlAddress> ControlPort::decode(const std::string& text) {
  std::istringstream in(text);
  ControlAddress a;
  unsigned port = 0;
  if (!(in >> a.host >> port) || port == 0 || port > 65535)
    return remoteError("malformed control address '" + text + "' in the init exchange", -1);
  a.port = static_cast<uint16_t>(port);
  return a;
}

}  // namespace loom::core
