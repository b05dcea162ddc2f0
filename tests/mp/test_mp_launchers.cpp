// loomCommInitFromEnv under each launcher: loomrun, torchrun's variables, Open MPI's mpirun and
// Slurm's srun variables; and a killed job leaves nothing in /dev/shm.
#include <arpa/inet.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <regex>
#include <set>
#include <string>
#include <thread>

#include "subprocess.hpp"

namespace {

int freePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

int countOk(const std::string& out) {
  int n = 0;
  for (size_t p = 0; (p = out.find(" ok", p)) != std::string::npos; ++p) ++n;
  return n;
}

// Starts n copies of mp_misc, each with its own environment, and waits for all.
std::vector<loomtest::ProcResult> runEach(int n, const std::function<std::vector<std::string>(int)>& envOf) {
  std::vector<loomtest::ProcResult> results(n);
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] { results[r] = loomtest::runProcess({MP_MISC, "quick"}, envOf(r), 60); });
  for (auto& t : threads) t.join();
  return results;
}

TEST(Launchers, Loomrun) {
  auto r = loomtest::runProcess({LOOMRUN, "-n", "3", "--", MP_MISC, "quick"}, {}, 60);
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_EQ(countOk(r.output), 3) << r.output;
}

TEST(Launchers, TorchrunVariables) {
  std::string port = std::to_string(freePort());
  auto results = runEach(3, [&](int r) {
    return std::vector<std::string>{"RANK=" + std::to_string(r), "WORLD_SIZE=3", "LOCAL_RANK=" + std::to_string(r),
                                    "LOCAL_WORLD_SIZE=3", "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + port};
  });
  for (auto& res : results) {
    EXPECT_EQ(res.exitCode, 0) << res.output;
    EXPECT_EQ(countOk(res.output), 1) << res.output;
  }
}

TEST(Launchers, SrunVariables) {
  auto results = runEach(3, [&](int r) {
    return std::vector<std::string>{"SLURM_PROCID=" + std::to_string(r), "SLURM_NTASKS=3",
                                    "SLURM_LOCALID=" + std::to_string(r), "SLURM_STEP_NODELIST=localhost",
                                    "SLURM_NODELIST=localhost", "SLURM_JOB_ID=" + std::to_string(4000 + getpid() % 1000),
                                    "SLURM_STEP_ID=0", "SLURM_NNODES=1"};
  });
  for (auto& res : results) {
    EXPECT_EQ(res.exitCode, 0) << res.output;
    EXPECT_EQ(countOk(res.output), 1) << res.output;
  }
}

TEST(Launchers, Mpirun) {
  if (system("command -v mpirun >/dev/null 2>&1") != 0) GTEST_SKIP() << "mpirun not installed (openmpi-bin)";
  auto r = loomtest::runProcess({"mpirun", "--allow-run-as-root", "--oversubscribe", "-n", "3", MP_MISC, "quick"},
                                {"OMPI_MCA_plm_rsh_agent=false"}, 90);
  EXPECT_EQ(r.exitCode, 0) << r.output;
  EXPECT_EQ(countOk(r.output), 3) << r.output;
}

std::set<std::string> loomSegments() {
  std::set<std::string> out;
  if (DIR* d = opendir("/dev/shm")) {
    while (dirent* e = readdir(d))
      if (std::string(e->d_name).rfind("loom", 0) == 0) out.insert(e->d_name);
    closedir(d);
  }
  return out;
}

// A rank killed with SIGKILL: loomrun stops the others and exits with 128+9, and none of the
// job's processes leaves a shared-memory segment behind.
TEST(Cleanup, KilledJobLeavesNoSharedMemory) {
  auto r = loomtest::runProcess({LOOMRUN, "-n", "4", "--kill-grace", "2", "--", MP_MISC, "crash", "1"},
                                {"LOOM_TRANSPORT=shm", "LOOM_TIMEOUT=30"}, 60);
  EXPECT_EQ(r.exitCode, 128 + SIGKILL) << r.output;
  EXPECT_LT(r.seconds, 20) << r.output;
  std::set<std::string> pids;
  std::regex pidLine("pid ([0-9]+)");
  for (std::sregex_iterator it(r.output.begin(), r.output.end(), pidLine), end; it != end; ++it)
    pids.insert((*it)[1]);
  EXPECT_EQ(pids.size(), 4u) << r.output;
  for (const auto& seg : loomSegments())
    for (const auto& pid : pids) EXPECT_FALSE(seg.ends_with("-" + pid)) << "left behind: " << seg;
}

}  // namespace
