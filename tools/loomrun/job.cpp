// One loomrun job. Each rank is forked into its own process group (so a signal reaches the
// rank's whole process tree, e.g. `sh -c 'prog'` and prog), and loomrun waits in a single
// poll loop over a self-pipe (SIGCHLD, SIGINT, SIGTERM, SIGHUP) and the ranks' output pipes.
// The first failing rank makes loomrun send SIGTERM to the others and SIGKILL after the grace
// period; its exit status becomes loomrun's.
#include "job.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

extern char** environ;

namespace loom::loomrun {

namespace {

using Clock = std::chrono::steady_clock;
int sigPipe[2] = {-1, -1};

void onSignal(int sig) {
  int saved = errno;
  unsigned char b = static_cast<unsigned char>(sig);
  [[maybe_unused]] ssize_t n = ::write(sigPipe[1], &b, 1);
  errno = saved;
}

struct Stream {
  int fd = -1;
  int target = 1;  // our fd the tagged lines go to
  std::string pending;
};

struct Rank {
  int rank = 0;
  pid_t pid = -1;
  bool running = false;
  int status = 0;
  Stream out, err;
};

void say(const std::string& s) {
  std::string line = "loomrun: " + s + "\n";
  [[maybe_unused]] ssize_t n = ::write(2, line.data(), line.size());
}

void writeAll(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// Emits complete lines with the "[rank] " prefix; `eof` flushes a last partial line.
void pump(Stream& s, int rank, bool eof) {
  std::string prefix = "[" + std::to_string(rank) + "] ";
  std::string outText;
  size_t start = 0;
  for (;;) {
    size_t nl = s.pending.find('\n', start);
    if (nl == std::string::npos) break;
    outText += prefix + s.pending.substr(start, nl - start + 1);
    start = nl + 1;
  }
  s.pending.erase(0, start);
  if (eof && !s.pending.empty()) {
    outText += prefix + s.pending + "\n";
    s.pending.clear();
  }
  if (!outText.empty()) writeAll(s.target, outText);
}

void readStream(Stream& s, int rank) {
  char buf[65536];
  ssize_t n = ::read(s.fd, buf, sizeof buf);
  if (n > 0) {
    s.pending.append(buf, static_cast<size_t>(n));
    pump(s, rank, false);
    return;
  }
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  pump(s, rank, true);
  ::close(s.fd);
  s.fd = -1;
}

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  int sig = WTERMSIG(status);
  return "was killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
}

// How long an error exit waits for a rank killed by a signal before it is blamed (see run()).
constexpr auto kBlameWindow = std::chrono::milliseconds(200);

int exitCodeOf(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status); }

bool failed(int status) { return !WIFEXITED(status) || WEXITSTATUS(status) != 0; }

void signalAll(std::vector<Rank>& ranks, int sig) {
  for (auto& r : ranks)
    if (r.running) ::kill(-r.pid, sig);
}

// The environment of every rank: ours without stale LOOM_* rank variables, plus --env.
std::vector<std::string> baseEnv(const JobOptions& opts) {
  std::vector<std::string> out;
  auto overridden = [&](const std::string& entry) {
    std::string key = entry.substr(0, entry.find('='));
    if (key == "LOOM_RANK" || key == "LOOM_WORLD_SIZE" || key == "LOOM_LOCAL_RANK" || key == "LOOM_UNIQUE_ID") return true;
    for (const auto& [k, v] : opts.env)
      if (k == key) return true;
    return false;
  };
  for (char** e = environ; *e; ++e)
    if (!overridden(*e)) out.emplace_back(*e);
  for (const auto& [k, v] : opts.env) out.push_back(k + "=" + v);
  return out;
}

pid_t spawn(const JobOptions& opts, const std::vector<std::string>& envStrings, Rank& r, bool stdinToRank) {
  cpu_set_t cpu;
  CPU_ZERO(&cpu);
  const bool bind = !opts.cpus.empty();
  if (bind) CPU_SET(opts.cpus[static_cast<size_t>(r.rank)], &cpu);
  std::vector<char*> argv, envp;
  for (const auto& a : opts.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  for (const auto& e : envStrings) envp.push_back(const_cast<char*>(e.c_str()));
  envp.push_back(nullptr);
  int outPipe[2] = {-1, -1}, errPipe[2] = {-1, -1};
  if (opts.tagOutput && (::pipe2(outPipe, O_CLOEXEC) != 0 || ::pipe2(errPipe, O_CLOEXEC) != 0)) return -1;
  std::string execError = "loomrun: cannot execute '" + opts.argv[0] + "': ";
  // Everything the child touches is prepared before fork: the root server thread may hold
  // allocator locks at the moment of the fork.
  // Signals stay blocked across fork so that the child cannot run our handler (which writes
  // to our self-pipe) before it has reset the dispositions.
  sigset_t all, old;
  sigfillset(&all);
  ::sigprocmask(SIG_SETMASK, &all, &old);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);
    if (bind) ::sched_setaffinity(0, sizeof cpu, &cpu);  // best effort: unbound still runs
    for (int sig : {SIGCHLD, SIGINT, SIGTERM, SIGHUP}) ::signal(sig, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (opts.tagOutput) {
      ::dup2(outPipe[1], 1);
      ::dup2(errPipe[1], 2);
    }
    if (!stdinToRank) {
      int devnull = ::open("/dev/null", O_RDONLY);
      if (devnull >= 0) ::dup2(devnull, 0);
    }
    ::execvpe(argv[0], argv.data(), envp.data());
    int err = errno;
    [[maybe_unused]] ssize_t n = ::write(2, execError.data(), execError.size());
    const char* why = err == ENOENT ? "no such file\n" : err == EACCES ? "permission denied\n" : "exec failed\n";
    n = ::write(2, why, std::strlen(why));
    ::_exit(127);
  }
  int forkErrno = errno;
  ::sigprocmask(SIG_SETMASK, &old, nullptr);
  errno = forkErrno;
  if (pid > 0) ::setpgid(pid, pid);  // also here, so a signal sent at once reaches the group
  if (opts.tagOutput) {
    ::close(outPipe[1]);
    ::close(errPipe[1]);
    if (pid > 0) {
      r.out = {outPipe[0], 1, {}};
      r.err = {errPipe[0], 2, {}};
    } else {
      ::close(outPipe[0]);
      ::close(errPipe[0]);
    }
  }
  return pid;
}

}  // namespace

int removeShmSegments(const std::vector<int>& pids, const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  int removed = 0;
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name.rfind("loom-", 0) != 0) continue;
    auto dash = name.rfind('-');
    std::string tail = name.substr(dash + 1);
    if (tail.empty() || !std::all_of(tail.begin(), tail.end(), ::isdigit) || tail.size() > 9) continue;
    int pid = std::stoi(tail);
    if (std::find(pids.begin(), pids.end(), pid) == pids.end()) continue;
    if (::unlink((dir + "/" + name).c_str()) == 0) ++removed;
  }
  ::closedir(d);
  return removed;
}

int runJob(const JobOptions& opts, const std::string& uniqueIdHex) {
  if (::pipe2(sigPipe, O_CLOEXEC | O_NONBLOCK) != 0) {
    say(std::string("pipe: ") + strerror(errno));
    return 125;
  }
  struct sigaction sa{};
  sa.sa_handler = onSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int sig : {SIGCHLD, SIGINT, SIGTERM, SIGHUP}) ::sigaction(sig, &sa, nullptr);

  std::vector<std::string> env = baseEnv(opts);
  std::vector<Rank> ranks(static_cast<size_t>(opts.nranks));
  std::vector<int> pids;
  bool stdinIsTty = ::isatty(0);
  for (int i = 0; i < opts.nranks; ++i) {
    Rank& r = ranks[static_cast<size_t>(i)];
    r.rank = i;
    std::vector<std::string> rankEnv = env;
    rankEnv.push_back("LOOM_RANK=" + std::to_string(i));
    rankEnv.push_back("LOOM_WORLD_SIZE=" + std::to_string(opts.nranks));
    rankEnv.push_back("LOOM_LOCAL_RANK=" + std::to_string(i));
    rankEnv.push_back("LOOM_UNIQUE_ID=" + uniqueIdHex);
    // Rank 0 reads our stdin unless it is a terminal (a background process group reading the
    // terminal would be stopped).
    r.pid = spawn(opts, rankEnv, r, i == 0 && !stdinIsTty);
    if (r.pid < 0) {
      say(std::string("fork failed: ") + strerror(errno));
      signalAll(ranks, SIGKILL);
      break;
    }
    r.running = true;
    pids.push_back(r.pid);
  }

  const auto never = Clock::time_point::max();
  auto grace = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opts.killGraceSec));
  Clock::time_point timeoutAt =
      opts.timeoutSec > 0
          ? Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opts.timeoutSec))
          : never;
  Clock::time_point killAt = never, drainUntil = never;
  int failedRank = -1, failedStatus = 0, gotSignal = 0;
  bool timedOut = false, stopping = false;
  auto stopAll = [&](int sig) {
    stopping = true;
    signalAll(ranks, sig);
    killAt = std::min(killAt, Clock::now() + grace);
  };

  Rank* suspect = nullptr;  // the failed rank to blame, once the blame window has passed
  auto blameAt = never;
  for (;;) {
    int running = 0;
    for (auto& r : ranks) running += r.running ? 1 : 0;
    std::vector<pollfd> fds{{sigPipe[0], POLLIN, 0}};
    std::vector<Stream*> streams{nullptr};
    for (auto& r : ranks)
      for (Stream* s : {&r.out, &r.err})
        if (s->fd >= 0) {
          fds.push_back({s->fd, POLLIN, 0});
          streams.push_back(s);
        }
    if (running == 0) {
      // Wait a little for output still in the pipes (a grandchild may hold them open).
      if (drainUntil == never) drainUntil = Clock::now() + std::chrono::milliseconds(500);
      if (fds.size() == 1 || Clock::now() >= drainUntil) break;
    }
    auto now = Clock::now();
    auto next = std::min({timeoutAt, killAt, drainUntil, blameAt, now + std::chrono::milliseconds(200)});
    int waitMs = static_cast<int>(std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(next - now).count() + 1));
    int n = ::poll(fds.data(), fds.size(), waitMs);
    if (n > 0) {
      for (size_t i = 1; i < fds.size(); ++i)
        if (fds[i].revents) {
          Rank* owner = nullptr;
          for (auto& r : ranks)
            if (&r.out == streams[i] || &r.err == streams[i]) owner = &r;
          readStream(*streams[i], owner->rank);
        }
      if (fds[0].revents) {
        unsigned char sigs[64];
        ssize_t k;
        while ((k = ::read(sigPipe[0], sigs, sizeof sigs)) > 0)
          for (ssize_t j = 0; j < k; ++j) {
            int sig = sigs[j];
            if (sig == SIGCHLD) continue;
            if (gotSignal == 0) {
              gotSignal = sig;
              say(std::string("received SIG") + sigabbrev_np(sig) + "; forwarding it to the ranks");
              stopAll(sig);
            } else {
              say("second signal; killing the ranks");
              signalAll(ranks, SIGKILL);
            }
          }
      }
    }
    // Reap every rank that ended. Blame a rank killed by a signal before one that exited with an
    // error: survivors exit fast once they see their peer die (loomRemoteError), sometimes before
    // the kernel has finished the killed process, so an error exit waits a short window for a
    // signal death to show up. The cause is what the user needs to see.
    for (auto& r : ranks) {
      if (!r.running) continue;
      int status = 0;
      pid_t w = ::waitpid(r.pid, &status, WNOHANG);
      if (w != r.pid) continue;
      r.running = false;
      r.status = status;
      if (failed(status) && !stopping && (!suspect || (WIFSIGNALED(status) && !WIFSIGNALED(suspect->status)))) {
        if (!suspect) blameAt = Clock::now() + kBlameWindow;
        suspect = &r;
      }
    }
    Rank* cause = nullptr;
    if (suspect && !stopping && (WIFSIGNALED(suspect->status) || Clock::now() >= blameAt)) cause = suspect;
    if (cause) {
      suspect = nullptr;
      blameAt = never;
      failedRank = cause->rank;
      failedStatus = cause->status;
      int others = 0;
      for (auto& o : ranks) others += o.running ? 1 : 0;
      say("rank " + std::to_string(cause->rank) + " (pid " + std::to_string(cause->pid) + ") " +
          describe(cause->status) + (others ? "; stopping the other " + std::to_string(others) + " rank(s)" : ""));
      stopAll(SIGTERM);
    }
    now = Clock::now();
    if (!timedOut && now >= timeoutAt) {
      timedOut = true;
      say("time limit of " + std::to_string(opts.timeoutSec) + " s reached; stopping the ranks");
      stopAll(SIGTERM);
    }
    if (now >= killAt) {
      bool any = false;
      for (auto& r : ranks) any = any || r.running;
      if (any) say("ranks still running after the grace period; sending SIGKILL");
      signalAll(ranks, SIGKILL);
      killAt = never;
    }
  }
  // A stopped job leaves nothing behind: kill what remains of each rank's process group
  // (e.g. a background child forked just as the SIGTERM arrived).
  if (stopping)
    for (auto& r : ranks)
      if (r.pid > 0) ::kill(-r.pid, SIGKILL);
  for (auto& r : ranks)
    for (Stream* s : {&r.out, &r.err})
      if (s->fd >= 0) {
        pump(*s, r.rank, true);
        ::close(s->fd);
        s->fd = -1;
      }

  int removed = removeShmSegments(pids);
  if (removed > 0) say("removed " + std::to_string(removed) + " leftover shared-memory segment(s) of this job");
  if (timedOut) return 124;
  if (failedRank < 0 && suspect) {  // every rank ended inside the blame window
    failedRank = suspect->rank;
    failedStatus = suspect->status;
    say("rank " + std::to_string(failedRank) + " (pid " + std::to_string(suspect->pid) + ") " + describe(failedStatus));
  }
  if (failedRank >= 0) return exitCodeOf(failedStatus);
  if (gotSignal) return 128 + gotSignal;
  return 0;
}

}  // namespace loom::loomrun
