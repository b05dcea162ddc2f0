// loomrun end to end, driven as a child process with captured output and a hard time limit.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bootstrap/bootstrap.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// A running child process with its stdout and stderr captured.
class Proc {
 public:
  explicit Proc(const std::vector<std::string>& argv) {
    int out[2], err[2];
    EXPECT_EQ(::pipe2(out, O_CLOEXEC), 0);
    EXPECT_EQ(::pipe2(err, O_CLOEXEC), 0);
    start_ = Clock::now();
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      int devnull = ::open("/dev/null", O_RDONLY);
      ::dup2(devnull, 0);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(126);
    }
    ::close(out[1]);
    ::close(err[1]);
    outFd_ = out[0];
    errFd_ = err[0];
  }
  ~Proc() {
    if (pid_ > 0 && !done_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (outFd_ >= 0) ::close(outFd_);
    if (errFd_ >= 0) ::close(errFd_);
  }

  pid_t pid() const { return pid_; }
  const std::string& out() const { return out_; }
  const std::string& err() const { return err_; }

  // Reads output until pred(out) holds or the time limit passes.
  bool readUntil(const std::function<bool(const std::string&)>& pred, double limitSec) {
    auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(limitSec));
    while (!pred(out_)) {
      if (Clock::now() > until || (outFd_ < 0 && errFd_ < 0)) return false;
      pump(50);
    }
    return true;
  }

  // Waits for exit (killing it after limitSec); returns the exit code, 128+signal, or -1 on timeout.
  int finish(double limitSec) {
    auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(limitSec));
    int status = 0;
    for (;;) {
      pump(20);
      pid_t w = ::waitpid(pid_, &status, WNOHANG);
      if (w == pid_) break;
      if (Clock::now() > until) {
        ::kill(pid_, SIGTERM);
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        done_ = true;
        return -1;
      }
    }
    done_ = true;
    seconds_ = std::chrono::duration<double>(Clock::now() - start_).count();
    while (outFd_ >= 0 || errFd_ >= 0) pump(1000);  // loomrun closed its ends when it exited
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  double seconds() const { return seconds_; }

 private:
  void pump(int ms) {
    std::vector<pollfd> fds;
    if (outFd_ >= 0) fds.push_back({outFd_, POLLIN, 0});
    if (errFd_ >= 0) fds.push_back({errFd_, POLLIN, 0});
    if (fds.empty()) return;
    if (::poll(fds.data(), fds.size(), ms) <= 0) return;
    for (auto& p : fds) {
      if (!p.revents) continue;
      char buf[4096];
      ssize_t n = ::read(p.fd, buf, sizeof buf);
      int& fd = p.fd == outFd_ ? outFd_ : errFd_;
      std::string& sink = p.fd == outFd_ ? out_ : err_;
      if (n > 0) sink.append(buf, static_cast<size_t>(n));
      else { ::close(fd); fd = -1; }
    }
  }

  pid_t pid_ = -1;
  int outFd_ = -1, errFd_ = -1;
  bool done_ = false;
  std::string out_, err_;
  Clock::time_point start_;
  double seconds_ = 0;
};

std::vector<std::string> loomrun(std::vector<std::string> args) {
  args.insert(args.begin(), LOOMRUN);
  return args;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  std::sort(out.begin(), out.end());
  return out;
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

}  // namespace

TEST(Loomrun, TrueAndFalse) {
  Proc ok(loomrun({"-n", "3", "--", "true"}));
  EXPECT_EQ(ok.finish(20), 0) << ok.err();
  Proc bad(loomrun({"-n", "2", "--", "sh", "-c", "exit 7"}));
  EXPECT_EQ(bad.finish(20), 7);
  EXPECT_NE(bad.err().find("exited with code 7"), std::string::npos) << bad.err();
  Proc missing(loomrun({"-n", "1", "--", "/nonexistent/program"}));
  EXPECT_EQ(missing.finish(20), 127);
  EXPECT_NE(missing.err().find("cannot execute '/nonexistent/program'"), std::string::npos) << missing.err();
}

TEST(Loomrun, RankKilledBySignal) {
  Proc p(loomrun({"-n", "2", "--", "sh", "-c", "if [ $LOOM_RANK = 1 ]; then kill -KILL $$; fi; sleep 30"}));
  EXPECT_EQ(p.finish(20), 128 + SIGKILL);
  EXPECT_NE(p.err().find("rank 1"), std::string::npos) << p.err();
  EXPECT_NE(p.err().find("killed by signal 9"), std::string::npos) << p.err();
  EXPECT_LT(p.seconds(), 10);
}

TEST(Loomrun, RankVariables) {
  Proc p(loomrun({"-n", "4", "--", "sh", "-c", "echo $LOOM_RANK $LOOM_WORLD_SIZE $LOOM_LOCAL_RANK $LOOM_UNIQUE_ID"}));
  ASSERT_EQ(p.finish(20), 0) << p.err();
  auto l = lines(p.out());
  ASSERT_EQ(l.size(), 4u) << p.out();
  std::set<std::string> ids;
  for (int r = 0; r < 4; ++r) {
    std::istringstream in(l[r]);
    int rank, size, local;
    std::string hex;
    in >> rank >> size >> local >> hex;
    EXPECT_EQ(rank, r);
    EXPECT_EQ(size, 4);
    EXPECT_EQ(local, r);
    auto id = loom::bootstrap::idFromHex(hex);
    EXPECT_TRUE(id) << hex;
    ids.insert(hex);
  }
  EXPECT_EQ(ids.size(), 1u);  // one rendezvous for the job
}

TEST(Loomrun, EnvOption) {
  Proc p(loomrun({"-n", "2", "--env", "FOO=bar=baz", "--env", "LOOM_X=1", "--", "sh", "-c", "echo $FOO$LOOM_X"}));
  ASSERT_EQ(p.finish(20), 0) << p.err();
  EXPECT_EQ(lines(p.out()), (std::vector<std::string>{"bar=baz1", "bar=baz1"}));
  Proc bad(loomrun({"-n", "2", "--env", "NOEQUALS", "--", "true"}));
  EXPECT_EQ(bad.finish(20), 125);
}

// The CPUs loomrun itself may use, from the kernel's own listing of its affinity.
std::vector<int> ownCpus() {
  cpu_set_t set;
  std::vector<int> cpus;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

// Each rank prints "<rank> <LOOM_HOST_CPUS or -> <Cpus_allowed_list>".
const char* kShowBinding = "echo $LOOM_RANK ${LOOM_HOST_CPUS:--} $(sed -n 's/^Cpus_allowed_list:\\s*//p' /proc/self/status)";

TEST(Loomrun, BindTo) {
  const std::vector<int> cpus = ownCpus();
  ASSERT_FALSE(cpus.empty());
  const int n = static_cast<int>(cpus.size()) + 1;  // more ranks than CPUs: auto binds
  std::string all;
  {
    Proc p(loomrun({"-n", "1", "--bind-to", "none", "--", "sh", "-c", kShowBinding}));
    ASSERT_EQ(p.finish(20), 0) << p.err();
    std::istringstream in(p.out());
    std::string rank, shared;
    in >> rank >> shared >> all;
    EXPECT_EQ(shared, "-");
  }
  for (const char* mode : {"auto", "core"}) {
    Proc p(loomrun({"-n", std::to_string(n), "--bind-to", mode, "--", "sh", "-c", kShowBinding}));
    ASSERT_EQ(p.finish(20), 0) << p.err();
    auto l = lines(p.out());
    ASSERT_EQ(l.size(), static_cast<size_t>(n)) << p.out();
    for (const auto& line : l) {
      std::istringstream in(line);
      int rank;
      std::string shared, allowed;
      in >> rank >> shared >> allowed;
      // Round robin over loomrun's CPUs, and the ranks learn how many CPUs they share.
      EXPECT_EQ(allowed, std::to_string(cpus[static_cast<size_t>(rank) % cpus.size()])) << mode << ": " << line;
      EXPECT_EQ(shared, std::to_string(cpus.size())) << mode << ": " << line;
    }
  }
  // auto with no more ranks than CPUs, and none, leave the ranks as loomrun is.
  for (auto args : {std::vector<std::string>{"-n", "1", "--bind-to", "auto"}, {"-n", std::to_string(n), "--bind-to", "none"}}) {
    args.insert(args.end(), {"--", "sh", "-c", kShowBinding});
    Proc p(loomrun(args));
    ASSERT_EQ(p.finish(20), 0) << p.err();
    for (const auto& line : lines(p.out())) EXPECT_NE(line.find(" - " + all), std::string::npos) << line;
  }
  Proc bad(loomrun({"-n", "2", "--bind-to", "socket", "--", "true"}));
  EXPECT_EQ(bad.finish(20), 125);
  EXPECT_NE(bad.err().find("--bind-to"), std::string::npos) << bad.err();
}

TEST(Loomrun, TagOutput) {
  Proc p(loomrun({"-n", "3", "--tag-output", "--", "sh", "-c",
                  "echo out$LOOM_RANK; echo err$LOOM_RANK >&2; printf partial$LOOM_RANK"}));
  ASSERT_EQ(p.finish(20), 0) << p.err();
  for (int r = 0; r < 3; ++r) {
    std::string tag = "[" + std::to_string(r) + "] ";
    EXPECT_NE(p.out().find(tag + "out" + std::to_string(r) + "\n"), std::string::npos) << p.out();
    EXPECT_NE(p.out().find(tag + "partial" + std::to_string(r) + "\n"), std::string::npos) << p.out();
    EXPECT_NE(p.err().find(tag + "err" + std::to_string(r) + "\n"), std::string::npos) << p.err();
  }
  for (const auto& l : lines(p.out())) EXPECT_EQ(l[0], '[') << l;
}

TEST(Loomrun, FailingRankStopsSleepingSibling) {
  Proc p(loomrun({"-n", "3", "--kill-grace", "1", "--", "sh", "-c",
                  "if [ $LOOM_RANK = 2 ]; then sleep 0.3; exit 3; fi; sleep 30"}));
  EXPECT_EQ(p.finish(20), 3);
  EXPECT_LT(p.seconds(), 2.0);  // SIGTERM ends the sleepers at once
  EXPECT_NE(p.err().find("rank 2"), std::string::npos) << p.err();
  EXPECT_NE(p.err().find("exited with code 3"), std::string::npos) << p.err();
}

TEST(Loomrun, SiblingIgnoringTermIsKilledAfterGrace) {
  Proc p(loomrun({"-n", "2", "--kill-grace", "0.5", "--", "sh", "-c",
                  "if [ $LOOM_RANK = 1 ]; then sleep 0.3; exit 5; fi; trap '' TERM; sleep 30"}));
  EXPECT_EQ(p.finish(20), 5);
  EXPECT_GT(p.seconds(), 0.75);
  EXPECT_LT(p.seconds(), 3.0);
  EXPECT_NE(p.err().find("SIGKILL"), std::string::npos) << p.err();
}

TEST(Loomrun, TimeoutExits124) {
  Proc p(loomrun({"-n", "2", "--timeout", "0.5", "--", "sleep", "30"}));
  EXPECT_EQ(p.finish(20), 124);
  EXPECT_LT(p.seconds(), 3.0);
  EXPECT_GT(p.seconds(), 0.45);
  EXPECT_NE(p.err().find("time limit"), std::string::npos) << p.err();
}

TEST(Loomrun, SigtermIsForwarded) {
  Proc p(loomrun({"-n", "2", "--", "sh", "-c",
                  "trap 'echo got$LOOM_RANK; exit 0' TERM; sleep 30 & echo ready; wait"}));
  ASSERT_TRUE(p.readUntil([](const std::string& o) { return count(o, "ready") == 2; }, 10)) << p.out();
  ::kill(p.pid(), SIGTERM);
  EXPECT_EQ(p.finish(20), 128 + SIGTERM);
  EXPECT_NE(p.out().find("got0"), std::string::npos) << p.out();
  EXPECT_NE(p.out().find("got1"), std::string::npos) << p.out();
  EXPECT_LT(p.seconds(), 5.0);
}

TEST(Loomrun, RemovesLeftoverShmSegmentsOfItsRanks) {
  std::string tag = "feed" + std::to_string(::getpid());
  std::string foreign = "/dev/shm/loom-" + tag + "-0-1";  // pid 1 is not one of the ranks
  { std::ofstream(foreign) << "x"; }
  Proc p(loomrun({"-n", "2", "--", "sh", "-c",
                  "touch /dev/shm/loom-" + tag + "-$LOOM_RANK-$$ && ls /dev/shm/loom-" + tag + "-$LOOM_RANK-$$"}));
  ASSERT_EQ(p.finish(20), 0) << p.err();
  EXPECT_EQ(count(p.out(), "/dev/shm/loom-" + tag), 2u) << p.out();
  EXPECT_NE(p.err().find("removed 2 leftover"), std::string::npos) << p.err();
  for (const auto& l : lines(p.out())) {
    struct stat st{};
    EXPECT_NE(::stat(l.c_str(), &st), 0) << l << " still exists";
  }
  struct stat st{};
  EXPECT_EQ(::stat(foreign.c_str(), &st), 0);
  ::unlink(foreign.c_str());
}

TEST(Loomrun, UsageErrorsAndHelp) {
  Proc noN(loomrun({"--", "true"}));
  EXPECT_EQ(noN.finish(20), 125);
  Proc noProg(loomrun({"-n", "2"}));
  EXPECT_EQ(noProg.finish(20), 125);
  Proc help(loomrun({"--help"}));
  EXPECT_EQ(help.finish(20), 0);
  EXPECT_NE(help.out().find("--tag-output"), std::string::npos);
  EXPECT_NE(help.out().find("--kill-grace"), std::string::npos);
}

TEST(Loomrun, RanksRendezvousThroughLoomrunsRoot) {
  Proc p(loomrun({"-n", "4", "--timeout", "30", "--", BOOTSTRAP_RANK}));
  ASSERT_EQ(p.finish(40), 0) << p.err();
  for (int r = 0; r < 4; ++r)
    EXPECT_NE(p.out().find("rank " + std::to_string(r) + " of 4 ok (loomrun)"), std::string::npos) << p.out();
}

TEST(Loomrun, RanksRendezvousUnderMpirun) {
#ifndef MPIRUN
  GTEST_SKIP() << "mpirun not found";
#else
  Proc p({MPIRUN, "--allow-run-as-root", "--oversubscribe", "-n", "3", BOOTSTRAP_RANK});
  int rc = p.finish(40);
  if (rc != 0 && p.err().find("ORTE") != std::string::npos) GTEST_SKIP() << "mpirun cannot start here: " << p.err();
  ASSERT_EQ(rc, 0) << p.err();
  for (int r = 0; r < 3; ++r)
    EXPECT_NE(p.out().find("rank " + std::to_string(r) + " of 3 ok (mpirun)"), std::string::npos) << p.out();
#endif
}
