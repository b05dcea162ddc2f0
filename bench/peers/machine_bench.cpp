// machine_bench: the two ceilings bench/compare divides loom's busbw by, and the state of the cores.
//   machine_bench memcpy [--bytes 128M] [--reps 7]   single-core memcpy, GB/s of bytes copied
//   machine_bench tcp [--bytes 2G] [--chunk 4M]      one loopback TCP socket between two processes
//   machine_bench c2c [--trips 20000] [--reps 3]     a cache line's round trip between two CPUs, ns
// Each prints one JSON line: {"tool":"machine-bench","test":...,"bytes":...,"gbps":median,"best":...}
// (c2c: "cpus", "trips", "reps", "ns" median and "best" instead). Buffers are touched before timing
// so page faults are not counted.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.hpp"

namespace {

double nowSec() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void printResult(const char* test, size_t bytes, std::vector<double> gbps) {
  std::sort(gbps.begin(), gbps.end());
  double med = gbps[gbps.size() / 2], best = gbps.back();
  std::printf("{\"tool\":\"machine-bench\",\"test\":\"%s\",\"bytes\":%zu,\"reps\":%zu,\"gbps\":%.3f,\"best\":%.3f}\n",
              test, bytes, gbps.size(), med, best);
}

int memcpyBench(size_t bytes, int reps) {
  std::vector<char> src(bytes), dst(bytes);
  std::memset(src.data(), 1, bytes);
  std::memset(dst.data(), 2, bytes);
  std::memcpy(dst.data(), src.data(), bytes);  // warm-up
  std::vector<double> gbps;
  for (int r = 0; r < reps; ++r) {
    src[static_cast<size_t>(r)] = static_cast<char>(r);  // keep the copy observable
    double t0 = nowSec();
    std::memcpy(dst.data(), src.data(), bytes);
    double t = nowSec() - t0;
    gbps.push_back(static_cast<double>(bytes) / t / 1e9);
    if (dst[static_cast<size_t>(r)] != static_cast<char>(r)) return 1;
  }
  printResult("memcpy", bytes, gbps);
  return 0;
}

bool writeAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Sender (child) writes `bytes` in `chunk` writes per rep; receiver (parent) reads them all and
// answers one byte, so the time covers delivery, not just the send buffer.
int tcpBench(size_t bytes, size_t chunk, int reps) {
  int ls = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (ls < 0 || ::bind(ls, reinterpret_cast<sockaddr*>(&addr), len) != 0 || ::listen(ls, 1) != 0 ||
      ::getsockname(ls, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    std::perror("machine_bench tcp: listen");
    return 2;
  }
  pid_t pid = fork();
  if (pid == 0) {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);
    if (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) _exit(2);
    int one = 1;
    ::setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    std::vector<char> buf(chunk, 7);
    for (int r = 0; r < reps + 1; ++r) {
      for (size_t sent = 0; sent < bytes; sent += chunk)
        if (!writeAll(s, buf.data(), std::min(chunk, bytes - sent))) _exit(3);
      char ack = 0;
      if (::read(s, &ack, 1) != 1) _exit(4);
    }
    ::close(s);
    _exit(0);
  }
  int s = ::accept(ls, nullptr, nullptr);
  if (s < 0) { std::perror("accept"); return 2; }
  std::vector<char> buf(chunk);
  std::vector<double> gbps;
  for (int r = 0; r < reps + 1; ++r) {  // rep 0 is a warm-up (window growth)
    double t0 = nowSec();
    size_t got = 0;
    while (got < bytes) {
      ssize_t n = ::read(s, buf.data(), std::min(chunk, bytes - got));
      if (n <= 0) { std::fprintf(stderr, "machine_bench tcp: short read\n"); return 2; }
      got += static_cast<size_t>(n);
    }
    double t = nowSec() - t0;
    char ack = 1;
    if (!writeAll(s, &ack, 1)) return 2;
    if (r > 0) gbps.push_back(static_cast<double>(bytes) / t / 1e9);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ::close(s);
  ::close(ls);
  printResult("tcp", bytes, gbps);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}

bool pinTo(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

// A cache line bounced between the first two CPUs this process may use, by two pinned threads.
// On a VM whose host moves its vCPUs, this tells whether they share a cache at the moment (the AMD
// development VM: about 48-80 ns in one phase, 315-370 ns in the other; see "Where the cores are"
// in docs/performance.md).
int c2cBench(long trips, int reps) {
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return 2;
  std::vector<int> cpus;
  for (int c = 0; c < CPU_SETSIZE && cpus.size() < 2; ++c)
    if (CPU_ISSET(c, &allowed)) cpus.push_back(c);
  if (cpus.size() < 2) {
    std::fprintf(stderr, "machine_bench c2c: needs two CPUs\n");
    return 2;
  }
  alignas(64) static std::atomic<long> line{0};
  constexpr long kStarting = -1, kUnpinned = -2;
  std::vector<double> ns;
  if (!pinTo(cpus[0])) {
    std::fprintf(stderr, "machine_bench c2c: cannot pin to CPU %d\n", cpus[0]);
    return 2;
  }
  for (int r = 0; r < reps; ++r) {
    line.store(kStarting);
    std::thread echo([&] {
      if (!pinTo(cpus[1])) {  // both threads on one CPU would measure the scheduler
        line.store(kUnpinned, std::memory_order_release);
        return;
      }
      line.store(0, std::memory_order_release);  // running where it should: the clock may start
      for (long i = 0; i < trips; ++i) {
        while (line.load(std::memory_order_acquire) != 2 * i + 1) {}
        line.store(2 * i + 2, std::memory_order_release);
      }
    });
    while (line.load(std::memory_order_acquire) == kStarting) {}
    if (line.load() == kUnpinned) {
      echo.join();
      std::fprintf(stderr, "machine_bench c2c: cannot pin to CPU %d\n", cpus[1]);
      return 2;
    }
    double t0 = nowSec();
    for (long i = 0; i < trips; ++i) {
      line.store(2 * i + 1, std::memory_order_release);
      while (line.load(std::memory_order_acquire) != 2 * i + 2) {}
    }
    ns.push_back((nowSec() - t0) * 1e9 / static_cast<double>(trips));
    echo.join();
  }
  std::sort(ns.begin(), ns.end());
  std::printf("{\"tool\":\"machine-bench\",\"test\":\"c2c\",\"cpus\":[%d,%d],\"trips\":%ld,\"reps\":%zu,\"ns\":%.1f,"
              "\"best\":%.1f}\n", cpus[0], cpus[1], trips, ns.size(), ns[ns.size() / 2], ns.front());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string test = argc >= 2 ? argv[1] : "";
  if (test != "memcpy" && test != "tcp" && test != "c2c") {
    std::fprintf(stderr, "usage: machine_bench memcpy|tcp|c2c [--bytes N] [--reps R] [--chunk N] [--trips N]\n");
    return 2;
  }
  bool mem = test == "memcpy";
  size_t bytes = mem ? 128u << 20 : 1u << 30, chunk = 4u << 20;
  int reps = mem ? 7 : 3;
  long trips = 20000;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--bytes") bytes = peers::parseBytes(argv[i + 1]);
    else if (a == "--reps") reps = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--chunk") chunk = std::max<size_t>(1, peers::parseBytes(argv[i + 1]));
    else if (a == "--trips") trips = std::clamp(std::strtol(argv[i + 1], nullptr, 10), 1L, 1L << 40);
  }
  if (test == "c2c") return c2cBench(trips, reps);
  return mem ? memcpyBench(bytes, reps) : tcpBench(bytes, chunk, reps);
}
