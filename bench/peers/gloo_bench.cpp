// gloo_bench: the Gloo reference for bench/compare, over Gloo's TCP transport on 127.0.0.1 with a
// file-store rendezvous. It forks its own ranks (--np N), so no launcher is needed, and prints the
// same table and JSON lines as `loom bench` (nccl-tests sizes, w warm-ups, the timed loop of n
// calls divided by n, per-rank times aggregated with -a).
//
// Algorithms (--algo): allreduce "ring" is gloo::allreduce with Algorithm::RING (the bandwidth-
// optimal ring PyTorch uses; in- and out-of-place), "hd" is gloo::AllreduceHalvingDoubling
// (in-place only). The other collectives have one Gloo implementation each: gloo::allgather,
// gloo::ReduceScatterHalvingDoubling (in-place), gloo::broadcast and gloo::alltoall (out-of-place).
//
//   gloo_bench allreduce --np 4 --algo hd -b 8 -e 256M -f 2 -n 20 -w 5 -a 3 -J out.jsonl
#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/allreduce_halving_doubling.h>
#include <gloo/alltoall.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/math.h>
#include <gloo/reduce_scatter.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/transport/tcp/device.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "bench_common.hpp"
#include "peer_buffer.hpp"

namespace {

using peers::Coll;
using Ctx = std::shared_ptr<gloo::Context>;

double nowUs() {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void barrier(const Ctx& ctx) {
  gloo::BarrierOptions b(ctx);
  gloo::barrier(b);
}

// Gathers every rank's value with an element-wise sum over a one-hot vector.
std::vector<double> gatherAll(const Ctx& ctx, double mine) {
  std::vector<double> v(static_cast<size_t>(ctx->size), 0.0);
  v[static_cast<size_t>(ctx->rank)] = mine;
  gloo::AllreduceOptions opts(ctx);
  opts.setOutput(v.data(), v.size());
  opts.setReduceFunction(static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<double>));
  gloo::allreduce(opts);
  return v;
}

// A prepared collective: run() issues one call on fixed buffers.
struct Runner {
  std::function<void()> run;
};

// Builds the runner for (c, ip); returns false when Gloo has no such mode/algorithm.
bool makeRunner(const Ctx& ctx, Coll c, bool ip, const peers::Options& o, const peers::Shape& s, float* send,
                float* recv, std::unique_ptr<gloo::Algorithm>& algo, Runner& r) {
  const int n = ctx->size, rank = ctx->rank;
  static uint32_t tag = 0;
  ++tag;
  switch (c) {
    case Coll::AllReduce:
      if (o.algo == "hd") {
        if (!ip) return false;
        algo = std::make_unique<gloo::AllreduceHalvingDoubling<float>>(ctx, std::vector<float*>{recv},
                                                                       static_cast<int>(s.param));
        r.run = [&algo] { algo->run(); };
        return true;
      }
      r.run = [=] {
        gloo::AllreduceOptions opts(ctx);
        opts.setAlgorithm(gloo::AllreduceOptions::Algorithm::RING);
        if (!ip) opts.setInput(send, s.param);
        opts.setOutput(recv, s.param);
        opts.setReduceFunction(static_cast<void (*)(void*, const void*, const void*, size_t)>(&gloo::sum<float>));
        opts.setTag(tag);
        gloo::allreduce(opts);
      };
      return true;
    case Coll::AllGather:
      r.run = [=] {
        gloo::AllgatherOptions opts(ctx);
        if (!ip) opts.setInput(send, s.param);
        opts.setOutput(recv, s.recvElems);
        opts.setTag(tag);
        gloo::allgather(opts);
      };
      return true;
    case Coll::ReduceScatter: {
      if (!ip) return false;
      std::vector<int> counts(static_cast<size_t>(n), static_cast<int>(s.param));
      algo = std::make_unique<gloo::ReduceScatterHalvingDoubling<float>>(ctx, std::vector<float*>{recv},
                                                                         static_cast<int>(s.sendElems), counts);
      r.run = [&algo] { algo->run(); };
      return true;
    }
    case Coll::Broadcast:
      r.run = [=] {
        gloo::BroadcastOptions opts(ctx);
        opts.setRoot(o.root);
        if (!ip && rank == o.root) opts.setInput(send, s.param);
        opts.setOutput(recv, s.param);
        opts.setTag(tag);
        gloo::broadcast(opts);
      };
      return true;
    case Coll::AllToAll:
      if (ip) return false;
      r.run = [=] {
        gloo::AlltoallOptions opts(ctx);
        opts.setInput(send, s.sendElems);
        opts.setOutput(recv, s.recvElems);
        opts.setTag(tag);
        gloo::alltoall(opts);
      };
      return true;
  }
  return false;
}

void prepare(Coll c, bool ip, const peers::Shape& s, int rank, int root, float* send, float* recv) {
  peers::fillInput(c, rank, s, send);
  if (!ip) return;
  switch (c) {
    case Coll::AllGather: std::memcpy(recv + rank * s.param, send, s.param * sizeof(float)); break;
    case Coll::Broadcast: if (rank == root) std::memcpy(recv, send, s.param * sizeof(float)); break;
    default: std::memcpy(recv, send, s.sendElems * sizeof(float)); break;
  }
}

int rankMain(int rank, int nranks, const std::string& storeDir, const peers::Options& o) {
  gloo::transport::tcp::attr attr;
  attr.hostname = "127.0.0.1";
  auto dev = gloo::transport::tcp::CreateDevice(attr);
  gloo::rendezvous::FileStore store(storeDir);
  auto rctx = std::make_shared<gloo::rendezvous::Context>(rank, nranks);
  rctx->setTimeout(std::chrono::seconds(o.timeoutSec));
  rctx->connectFullMesh(store, dev);
  Ctx ctx = rctx;
  std::FILE* json = nullptr;
  if (rank == 0 && !o.json.empty() && !(json = std::fopen(o.json.c_str(), "a"))) {
    std::fprintf(stderr, "gloo_bench: cannot open %s\n", o.json.c_str());
    return 2;
  }
  if (rank == 0) peers::printHeader("gloo-bench", nranks, o);
  const auto sizes = peers::sizeSweep(o);
  size_t maxElems = 1;
  for (size_t sz : sizes) maxElems = std::max(maxElems, sz / sizeof(float) + nranks);
  peers::FloatBuffer send(maxElems, 1.0f, o.loomMemory), recv(maxElems, 0.0f, o.loomMemory);
  double sumBus = 0;
  int nres = 0;
  long totalWrong = 0;
  for (Coll c : o.colls) {
    for (size_t sz : sizes) {
      peers::Shape s = peers::shapeFor(c, sz, nranks, sizeof(float));
      if (s.param == 0) continue;
      peers::Result res[2];
      for (int ip = 0; ip < 2; ++ip) {
        std::unique_ptr<gloo::Algorithm> algo;
        Runner r;
        if (!makeRunner(ctx, c, ip, o, s, send.data(), recv.data(), algo, r)) continue;
        long wrong = 0;
        if (o.check) {
          prepare(c, ip, s, rank, o.root, send.data(), recv.data());
          r.run();
          wrong = peers::countWrong(c, rank, nranks, o.root, s, recv.data());
        }
        prepare(c, ip, s, rank, o.root, send.data(), recv.data());
        for (int i = 0; i < o.warmup; ++i) r.run();
        barrier(ctx);
        double t0 = nowUs();
        for (int i = 0; i < o.iters; ++i) r.run();
        double us = (nowUs() - t0) / o.iters;
        auto times = gatherAll(ctx, us);
        auto wrongs = gatherAll(ctx, static_cast<double>(wrong));
        long wrongSum = 0;
        for (double w : wrongs) wrongSum += static_cast<long>(w);
        res[ip] = {true, peers::aggregate(times, o.agg), wrongSum};
        totalWrong += wrongSum;
      }
      if (rank == 0 && (res[0].have || res[1].have)) {
        sumBus += peers::report("gloo-bench", c, nranks, o, s, res[0], res[1], json);
        ++nres;
      }
    }
  }
  if (rank == 0) peers::reportSummary("gloo-bench", sumBus, nres, totalWrong, json);
  if (json) std::fclose(json);
  barrier(ctx);
  return totalWrong ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  peers::Options o = peers::parseOptions(argc, argv);
  if (o.transport == "unknown") o.transport = "tcp";
  if (o.algo == "default") o.algo = "ring";
  if (o.algo != "ring" && o.algo != "hd") peers::usage(argv[0], "--algo must be ring or hd");
  int np = o.np > 0 ? o.np : 2;
  char tmpl[] = "/tmp/gloo-bench-XXXXXX";
  if (!mkdtemp(tmpl)) { std::perror("mkdtemp"); return 2; }
  std::string storeDir = tmpl;
  std::vector<pid_t> kids;
  for (int r = 0; r < np; ++r) {
    pid_t pid = fork();
    if (pid == 0) {
      int rc = 3;
      try {
        rc = rankMain(r, np, storeDir, o);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "gloo_bench rank %d: %s\n", r, e.what());
      }
      std::fflush(stdout);
      _exit(rc);
    }
    if (pid < 0) { std::perror("fork"); return 2; }
    kids.push_back(pid);
  }
  // Reap the ranks; on the first failure or past --timeout, kill the rest.
  int rc = 0;
  size_t left = kids.size();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(o.timeoutSec);
  while (left > 0) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      --left;
      int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      if (code != 0 && rc == 0) {
        rc = code;
        for (pid_t k : kids) kill(k, SIGKILL);
      }
      continue;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      std::fprintf(stderr, "gloo_bench: timed out after %d s\n", o.timeoutSec);
      for (pid_t k : kids) kill(k, SIGKILL);
      rc = 124;
      while (waitpid(-1, nullptr, 0) > 0) {}
      break;
    }
    usleep(20000);
  }
  std::string cmd = "rm -rf '" + storeDir + "'";
  if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "gloo_bench: could not remove %s\n", storeDir.c_str());
  return rc;
}
