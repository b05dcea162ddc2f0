// Runs a command with extra environment variables under a time limit, in its own process group
// (killed as a whole on expiry), capturing stdout+stderr. For tests only.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace loomtest {

struct ProcResult {
  int exitCode = -1;  // 128+signal when killed; 124 on timeout
  bool timedOut = false;
  std::string output;
  double seconds = 0;
};

inline ProcResult runProcess(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                             double timeoutSeconds) {
  ProcResult res;
  char path[] = "/tmp/loomtest-out-XXXXXX";
  int fd = mkstemp(path);
  auto start = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    setpgid(0, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    for (const auto& kv : env) putenv(const_cast<char*>(kv.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    std::perror("execvp");
    _exit(127);
  }
  setpgid(pid, pid);
  int status = 0;
  for (;;) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (elapsed > timeoutSeconds) {
      res.timedOut = true;
      kill(-pid, SIGKILL);
      waitpid(pid, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  kill(-pid, SIGKILL);  // stragglers of the group
  res.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  res.exitCode = res.timedOut ? 124 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  lseek(fd, 0, SEEK_SET);
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) res.output.append(buf, n);
  close(fd);
  unlink(path);
  return res;
}

}  // namespace loomtest
