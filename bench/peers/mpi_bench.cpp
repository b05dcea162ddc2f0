// mpi_bench: the Open MPI reference for bench/compare. Same flags, sizes, timing and JSON lines as
// `loom bench` (nccl-tests semantics): for each size, w warm-up calls, a barrier, then the loop of
// n calls is timed and divided by n; the per-rank times are aggregated on rank 0 (-a, default
// max when run by bench/compare). Out-of-place and in-place (MPI_IN_PLACE) are both timed where
// MPI has them; MPI_Bcast is in-place only.
//
//   mpirun -n 4 mpi_bench allreduce -b 8 -e 256M -f 2 -n 20 -w 5 -c 1 -a 3 -J out.jsonl
#include <mpi.h>

#include <cstdlib>
#include <vector>

#include "bench_common.hpp"
#include "peer_buffer.hpp"

namespace {

using peers::Coll;

// One call of collective c; ip selects MPI_IN_PLACE. Returns false when MPI has no such mode.
bool runOnce(Coll c, bool ip, const peers::Shape& s, int root, float* send, float* recv, int rank) {
  const int p = static_cast<int>(s.param);
  switch (c) {
    case Coll::AllReduce:
      MPI_Allreduce(ip ? MPI_IN_PLACE : send, recv, p, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      return true;
    case Coll::AllGather:
      // In place: each rank's contribution already sits at recv[rank * param].
      MPI_Allgather(ip ? MPI_IN_PLACE : send, p, MPI_FLOAT, recv, p, MPI_FLOAT, MPI_COMM_WORLD);
      return true;
    case Coll::ReduceScatter:
      // In place: the input is the whole recv buffer, the result lands at its start.
      MPI_Reduce_scatter_block(ip ? MPI_IN_PLACE : send, recv, p, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      return true;
    case Coll::Broadcast:
      if (!ip) return false;
      MPI_Bcast(recv, p, MPI_FLOAT, root, MPI_COMM_WORLD);
      return true;
    case Coll::AllToAll:
      MPI_Alltoall(ip ? MPI_IN_PLACE : send, p, MPI_FLOAT, recv, p, MPI_FLOAT, MPI_COMM_WORLD);
      return true;
  }
  return false;
}

// Lays out the input for a call: out-of-place reads `send`; in-place reads the data from `recv`.
void prepare(Coll c, bool ip, const peers::Shape& s, int rank, int root, float* send, float* recv) {
  peers::fillInput(c, rank, s, send);
  if (!ip) return;
  switch (c) {
    case Coll::AllGather: std::memcpy(recv + rank * s.param, send, s.param * sizeof(float)); break;
    case Coll::Broadcast: if (rank == root) std::memcpy(recv, send, s.param * sizeof(float)); break;
    default: std::memcpy(recv, send, s.sendElems * sizeof(float)); break;
  }
}

// A failed allocation ends the whole job with a message (a plain exit would leave mpirun waiting).
peers::FloatBuffer bufferOrAbort(size_t elems, float fill, bool loomMemory) {
  try {
    return peers::FloatBuffer(elems, fill, loomMemory);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mpi_bench: %s\n", e.what());
    MPI_Abort(MPI_COMM_WORLD, 2);
    std::abort();  // MPI_Abort does not return
  }
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank = 0, nranks = 1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &nranks);
  peers::Options o = peers::parseOptions(argc, argv);
  if (o.root < 0 || o.root >= nranks) o.root = 0;
  std::FILE* json = nullptr;
  if (rank == 0 && !o.json.empty() && !(json = std::fopen(o.json.c_str(), "a"))) {
    std::fprintf(stderr, "mpi_bench: cannot open %s\n", o.json.c_str());
    MPI_Abort(MPI_COMM_WORLD, 2);
  }
  if (rank == 0) peers::printHeader("mpi-bench", nranks, o);
  const auto sizes = peers::sizeSweep(o);
  size_t maxElems = 1;
  for (size_t sz : sizes) maxElems = std::max(maxElems, sz / sizeof(float) + nranks);
  // Buffers sized for the largest case (FloatBuffer fills them once).
  peers::FloatBuffer send = bufferOrAbort(maxElems, 1.0f, o.loomMemory);
  peers::FloatBuffer recv = bufferOrAbort(maxElems, 0.0f, o.loomMemory);
  double sumBus = 0;
  int nres = 0;
  long totalWrong = 0;
  for (Coll c : o.colls) {
    for (size_t sz : sizes) {
      peers::Shape s = peers::shapeFor(c, sz, nranks, sizeof(float));
      if (s.param == 0) continue;
      peers::Result res[2];
      for (int ip = 0; ip < 2; ++ip) {
        long wrong = 0;
        if (o.check) {
          prepare(c, ip, s, rank, o.root, send.data(), recv.data());
          if (!runOnce(c, ip, s, o.root, send.data(), recv.data(), rank)) continue;
          wrong = peers::countWrong(c, rank, nranks, o.root, s, recv.data());
        }
        prepare(c, ip, s, rank, o.root, send.data(), recv.data());
        bool ok = true;
        for (int i = 0; i < o.warmup && ok; ++i) ok = runOnce(c, ip, s, o.root, send.data(), recv.data(), rank);
        if (!ok) continue;
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        for (int i = 0; i < o.iters; ++i) runOnce(c, ip, s, o.root, send.data(), recv.data(), rank);
        double us = (MPI_Wtime() - t0) * 1e6 / o.iters;
        std::vector<double> all(static_cast<size_t>(nranks));
        MPI_Gather(&us, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, 0, MPI_COMM_WORLD);
        long wrongSum = 0;
        MPI_Reduce(&wrong, &wrongSum, 1, MPI_LONG, MPI_SUM, 0, MPI_COMM_WORLD);
        res[ip] = {true, peers::aggregate(all, o.agg), wrongSum};
        totalWrong += wrongSum;
      }
      if (rank == 0) {
        sumBus += peers::report("mpi-bench", c, nranks, o, s, res[0], res[1], json);
        ++nres;
      }
    }
  }
  if (rank == 0) peers::reportSummary("mpi-bench", sumBus, nres, totalWrong, json);
  if (json) std::fclose(json);
  MPI_Finalize();
  return totalWrong && rank == 0 ? 1 : 0;
}
