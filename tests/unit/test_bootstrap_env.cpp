// fromEnvironment under each launcher. Every case runs in a forked child with a clean
// environment (so cases cannot leak variables or rendezvous generations into each other);
// end-to-end cases fork one child per rank that joins and all-gathers.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <thread>

#include "bootstrap/bootstrap.hpp"
#include "bootstrap/launch_env.hpp"

using namespace loom;
using namespace loom::bootstrap;
using Env = std::map<std::string, std::string>;

namespace {

pid_t spawnChild(const Env& env, const std::function<int()>& body) {
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::clearenv();
    ::setenv("LOOM_DEBUG", "ERROR", 1);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    // exit(), not _exit(): a rank 0 that hosts the root lets it flush the last round first,
    // as a real program's exit does.
    std::exit(body());
  }
  return pid;
}

// The child's exit code, or -1 when it timed out (then it is killed) or died by a signal.
int waitChild(pid_t pid, std::chrono::steady_clock::time_point until) {
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > until) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// Runs body in a child with exactly `env`; returns its exit code.
int inChild(const Env& env, const std::function<int()>& body, double timeoutSec = 20) {
  pid_t pid = spawnChild(env, body);
  auto until = std::chrono::steady_clock::now() +
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(timeoutSec));
  return waitChild(pid, until);
}

// Child body: fromEnvironment must fail with `code` and a message containing `needle`.
std::function<int()> expectError(loomResult_t code, std::string needle) {
  return [code, needle] {
    auto e = fromEnvironment(Deadline::after(std::chrono::seconds(2)));
    if (e) return fprintf(stderr, "unexpected success\n"), 1;
    if (e.status().code() != code) return fprintf(stderr, "code %d: %s\n", e.status().code(), e.status().message().c_str()), 2;
    if (e.status().message().find(needle) == std::string::npos)
      return fprintf(stderr, "message lacks '%s': %s\n", needle.c_str(), e.status().message().c_str()), 3;
    return 0;
  };
}

// Child body for a rank of an end-to-end run: detect, join, all-gather rank numbers.
int rankBody(const std::string& launcher, int expectRank, int nranks, int expectLocal) {
  auto deadline = Deadline::after(std::chrono::seconds(10));
  auto e = fromEnvironment(deadline);
  if (!e) return fprintf(stderr, "fromEnvironment: %s\n", e.status().message().c_str()), 10;
  if (e->launcher != launcher || e->rank != expectRank || e->nranks != nranks || e->localRank != expectLocal)
    return fprintf(stderr, "got %s rank %d/%d local %d\n", e->launcher.c_str(), e->rank, e->nranks, e->localRank), 11;
  auto b = Bootstrap::join(e->id, e->rank, e->nranks, deadline);
  if (!b) return fprintf(stderr, "join: %s\n", b.status().message().c_str()), 12;
  auto all = (*b)->allGather("r" + std::to_string(e->rank), deadline);
  if (!all) return fprintf(stderr, "allGather: %s\n", all.status().message().c_str()), 13;
  for (int q = 0; q < nranks; ++q)
    if ((*all)[q] != "r" + std::to_string(q)) return 14;
  return 0;
}

// Starts one child per rank, all forked from this (single) thread; rank 0 last, so the
// others must wait for its root.
void runRanks(int nranks, const std::function<Env(int)>& envFor, const std::string& launcher,
              const std::function<int(int)>& localOf = [](int r) { return r; }) {
  std::vector<pid_t> pids(nranks);
  for (int r = nranks - 1; r >= 0; --r) {
    pids[r] = spawnChild(envFor(r), [&, r] { return rankBody(launcher, r, nranks, localOf(r)); });
    if (r == 1) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (int r = 0; r < nranks; ++r) EXPECT_EQ(waitChild(pids[r], until), 0) << launcher << " rank " << r;
}

uint16_t freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

}  // namespace

TEST(BootstrapEnv, LoomrunVariables) {
  Secret s{};
  s[5] = 9;
  loomUniqueId id = encodeId({"10.0.0.7", 4321, s});
  std::string hex = idToHex(id);
  Env env{{"LOOM_RANK", "2"}, {"LOOM_WORLD_SIZE", "4"}, {"LOOM_LOCAL_RANK", "1"}, {"LOOM_UNIQUE_ID", hex},
          {"RANK", "0"}, {"MASTER_ADDR", "x"}, {"OMPI_COMM_WORLD_RANK", "0"}};  // LOOM_* wins
  EXPECT_EQ(0, inChild(env, [&] {
    auto e = fromEnvironment(Deadline::after(std::chrono::seconds(1)));
    if (!e) return 1;
    return (e->launcher == "loomrun" && e->rank == 2 && e->nranks == 4 && e->localRank == 1 &&
            memcmp(e->id.internal, id.internal, sizeof id.internal) == 0)
               ? 0
               : 2;
  }));
}

TEST(BootstrapEnv, LoomVariableErrorsNameTheVariable) {
  std::string hex = idToHex(encodeId({"10.0.0.7", 4321, {}}));
  EXPECT_EQ(0, inChild({{"LOOM_RANK", "x"}, {"LOOM_WORLD_SIZE", "2"}, {"LOOM_UNIQUE_ID", hex}},
                       expectError(loomInvalidArgument, "LOOM_RANK='x'")));
  EXPECT_EQ(0, inChild({{"LOOM_RANK", "0"}, {"LOOM_UNIQUE_ID", hex}}, expectError(loomInvalidUsage, "LOOM_WORLD_SIZE")));
  EXPECT_EQ(0, inChild({{"LOOM_RANK", "2"}, {"LOOM_WORLD_SIZE", "2"}, {"LOOM_UNIQUE_ID", hex}},
                       expectError(loomInvalidArgument, "LOOM_RANK=2 is not below LOOM_WORLD_SIZE=2")));
  EXPECT_EQ(0, inChild({{"LOOM_RANK", "0"}, {"LOOM_WORLD_SIZE", "2"}, {"LOOM_UNIQUE_ID", "zz"}},
                       expectError(loomInvalidArgument, "LOOM_UNIQUE_ID")));
  EXPECT_EQ(0, inChild({{"LOOM_RANK", "0"}, {"LOOM_WORLD_SIZE", "2"}}, expectError(loomInvalidUsage, "LOOM_ROOT_ADDR")));
  EXPECT_EQ(0, inChild({{"LOOM_RANK", "1"}, {"LOOM_WORLD_SIZE", "2"}, {"LOOM_ROOT_ADDR", "nocolon"}},
                       expectError(loomInvalidArgument, "LOOM_ROOT_ADDR='nocolon'")));
  EXPECT_EQ(0, inChild({{"LOOM_RANK", "1"}, {"LOOM_WORLD_SIZE", "2"}, {"LOOM_ROOT_ADDR", "127.0.0.1:5"},
                        {"LOOM_SECRET", "abc"}},
                       expectError(loomInvalidArgument, "LOOM_SECRET")));
  EXPECT_EQ(0, inChild({}, expectError(loomInvalidUsage, "no launcher found")));
}

TEST(BootstrapEnv, LoomRootAddrEndToEnd) {
  std::string addr = "127.0.0.1:" + std::to_string(freePort());
  runRanks(3, [&](int r) {
    return Env{{"LOOM_RANK", std::to_string(r)}, {"LOOM_WORLD_SIZE", "3"}, {"LOOM_LOCAL_RANK", std::to_string(r)},
               {"LOOM_ROOT_ADDR", addr}, {"LOOM_SECRET", "00112233445566778899aabbccddeeff"}};
  }, "loom");
}

TEST(BootstrapEnv, TorchrunEndToEnd) {
  std::string port = std::to_string(freePort() - kTorchrunPortOffset);
  runRanks(3, [&](int r) {
    return Env{{"RANK", std::to_string(r)}, {"WORLD_SIZE", "3"}, {"LOCAL_RANK", std::to_string(r % 2)},
               {"MASTER_ADDR", "localhost"}, {"MASTER_PORT", port}, {"TORCHELASTIC_RUN_ID", "job7"}};
  }, "torchrun", [](int r) { return r % 2; });
}

TEST(BootstrapEnv, TorchrunIdAndErrors) {
  Env env{{"RANK", "1"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", "29500"}};
  EXPECT_EQ(0, inChild(env, [] {
    auto e = fromEnvironment(Deadline::after(std::chrono::seconds(1)));
    if (!e) return 1;
    auto id = decodeId(e->id);
    return (id && id->host == "127.0.0.1" && id->port == 29500 + kTorchrunPortOffset && e->launcher == "torchrun") ? 0 : 2;
  }));
  env["MASTER_PORT"] = "http";
  EXPECT_EQ(0, inChild(env, expectError(loomInvalidArgument, "MASTER_PORT='http'")));
  env.erase("MASTER_ADDR");
  env["TORCHELASTIC_RUN_ID"] = "x";
  env["MASTER_PORT"] = "29500";
  EXPECT_EQ(0, inChild(env, expectError(loomInvalidUsage, "MASTER_ADDR")));
  env["MASTER_ADDR"] = "127.0.0.1";
  env["WORLD_SIZE"] = "0";
  EXPECT_EQ(0, inChild(env, expectError(loomInvalidArgument, "WORLD_SIZE=0")));
}

TEST(BootstrapEnv, MpirunSingleHostEndToEnd) {
  char dir[] = "/tmp/loom-test-ompi-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  std::string job = std::to_string(::getpid()) + "0042";
  runRanks(3, [&](int r) {
    return Env{{"OMPI_COMM_WORLD_RANK", std::to_string(r)}, {"OMPI_COMM_WORLD_SIZE", "3"},
               {"OMPI_COMM_WORLD_LOCAL_RANK", std::to_string(r)}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "3"},
               {"OMPI_MCA_orte_num_nodes", "1"}, {"OMPI_MCA_ess_base_jobid", job},
               {"OMPI_MCA_orte_jobfam_session_dir", dir},
               {"OMPI_MCA_orte_precondition_transports", "64b10384bdc8cd02-c5637f1ba0c5aa89"}};
  }, "mpirun");
  std::string cmd = std::string("rm -rf ") + dir;
  ASSERT_EQ(0, std::system(cmd.c_str()));
}

TEST(BootstrapEnv, MpirunErrors) {
  Env env{{"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_SIZE", "4"}, {"OMPI_MCA_ess_base_jobid", "77"},
          {"OMPI_MCA_orte_num_nodes", "2"}, {"OMPI_COMM_WORLD_LOCAL_SIZE", "2"},
          {"OMPI_MCA_orte_precondition_transports", "aa-bb"}};
  EXPECT_EQ(0, inChild(env, expectError(loomInvalidUsage, "LOOM_ROOT_ADDR")));
  env["LOOM_ROOT_ADDR"] = "127.0.0.1:4000";
  EXPECT_EQ(0, inChild(env, [] {
    auto e = fromEnvironment(Deadline::after(std::chrono::seconds(1)));
    auto id = e ? decodeId(e->id) : Result<RendezvousId>(e.status());
    return (id && id->port == 4000 && e->launcher == "mpirun") ? 0 : 1;
  }));
  env.erase("OMPI_MCA_orte_precondition_transports");
  EXPECT_EQ(0, inChild(env, expectError(loomInvalidUsage, "OMPI_MCA_orte_precondition_transports")));
  env["OMPI_MCA_orte_precondition_transports"] = "aa-bb";
  env["OMPI_COMM_WORLD_SIZE"] = "four";
  EXPECT_EQ(0, inChild(env, expectError(loomInvalidArgument, "OMPI_COMM_WORLD_SIZE='four'")));
  // Single host, but rank 0 never publishes the rendezvous file.
  Env lonely{{"OMPI_COMM_WORLD_RANK", "1"}, {"OMPI_COMM_WORLD_SIZE", "2"}, {"OMPI_MCA_ess_base_jobid", "loom-none"},
             {"OMPI_MCA_orte_num_nodes", "1"}, {"OMPI_MCA_orte_precondition_transports", "aa-bb"},
             {"OMPI_MCA_orte_jobfam_session_dir", "/nonexistent"}};
  EXPECT_EQ(0, inChild(lonely, expectError(loomTimeout, "rank 0 did not publish")));
}

TEST(BootstrapEnv, SrunEndToEnd) {
  std::string job = std::to_string(100000 + ::getpid() % 100000);
  runRanks(3, [&](int r) {
    return Env{{"SLURM_PROCID", std::to_string(r)}, {"SLURM_NTASKS", "3"}, {"SLURM_LOCALID", std::to_string(r)},
               {"SLURM_JOB_ID", job}, {"SLURM_STEP_ID", "3"}, {"SLURM_STEP_NODELIST", "localhost,gpu[01-02]"}};
  }, "srun");
}

TEST(BootstrapEnv, SrunIdAndErrors) {
  Env env{{"SLURM_PROCID", "3"}, {"SLURM_NTASKS", "8"}, {"SLURM_LOCALID", "1"}, {"SLURM_JOB_ID", "4242"},
          {"SLURM_STEP_ID", "0"}, {"SLURM_STEP_NODELIST", "127.0.0.[1-4]"}, {"SLURM_NODELIST", "bogus[["}};
  EXPECT_EQ(0, inChild(env, [] {
    auto e = fromEnvironment(Deadline::after(std::chrono::seconds(1)));
    if (!e) return fprintf(stderr, "%s\n", e.status().message().c_str()), 1;
    auto id = decodeId(e->id);
    return (id && id->host == "127.0.0.1" && id->port == slurmPort(4242, 0) && e->launcher == "srun" &&
            e->localRank == 1 && e->nranks == 8)
               ? 0
               : 2;
  }));
  env["SLURM_STEP_NODELIST"] = "node[1-";
  EXPECT_EQ(0, inChild(env, expectError(loomInvalidArgument, "SLURM_STEP_NODELIST='node[1-'")));
  env["LOOM_ROOT_ADDR"] = "[::1]:5555";  // overrides the node list
  EXPECT_EQ(0, inChild(env, [] {
    auto e = fromEnvironment(Deadline::after(std::chrono::seconds(1)));
    auto id = e ? decodeId(e->id) : Result<RendezvousId>(e.status());
    return (id && id->host == "::1" && id->port == 5555) ? 0 : 1;
  }));
  env.erase("LOOM_ROOT_ADDR");
  env["SLURM_JOB_ID"] = "12x";
  EXPECT_EQ(0, inChild(env, expectError(loomInvalidArgument, "SLURM_JOB_ID='12x'")));
}
