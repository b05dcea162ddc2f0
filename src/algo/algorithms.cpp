// The catalogue: names, which algorithm implements which collective, argument checks, and the
// dispatch from (algorithm, collective) to a generator in ring.cpp, rhd.cpp, tree.cpp,
// direct.cpp, barrier.cpp or hier.cpp. Every impossible request becomes invalidArgument, never
// a crash.
#include "algo/algorithms.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

#include "algo/generators.hpp"
#include "algo/layout.hpp"

namespace loom::algo {

std::string_view collName(Coll c) {
  switch (c) {
    case Coll::AllReduce: return "allreduce";
    case Coll::Broadcast: return "broadcast";
    case Coll::Reduce: return "reduce";
    case Coll::AllGather: return "allgather";
    case Coll::ReduceScatter: return "reducescatter";
    case Coll::AllToAll: return "alltoall";
    case Coll::AllToAllv: return "alltoallv";
    case Coll::Gather: return "gather";
    case Coll::Scatter: return "scatter";
    case Coll::Barrier: return "barrier";
    case Coll::SendRecv: return "sendrecv";
  }
  return "unknown";
}

std::string_view algoName(Algo a) {
  switch (a) {
    case Algo::Auto: return "auto";
    case Algo::Ring: return "ring";
    case Algo::Rhd: return "rhd";
    case Algo::Tree: return "tree";
    case Algo::Direct: return "direct";
    case Algo::Dissemination: return "dissemination";
    case Algo::Hier: return "hier";
    case Algo::Board: return "board";
  }
  return "unknown";
}

bool boardImplements(Coll coll) {
  switch (coll) {
    case Coll::AllReduce:
    case Coll::Reduce:
    case Coll::Broadcast:
    case Coll::AllGather:
    case Coll::ReduceScatter:
    case Coll::AllToAll: return true;
    default: return false;
  }
}

bool implements(Algo a, Coll coll) {
  if (a == Algo::Board) return boardImplements(coll);
  auto v = algorithmsFor(coll);
  return std::find(v.begin(), v.end(), a) != v.end();
}

bool parseAlgo(std::string_view name, Algo* out) {
  for (Algo a : {Algo::Auto, Algo::Ring, Algo::Rhd, Algo::Tree, Algo::Direct, Algo::Dissemination, Algo::Hier,
                 Algo::Board}) {
    if (name == algoName(a)) {
      *out = a;
      return true;
    }
  }
  return false;
}

std::span<const Algo> algorithmsFor(Coll coll) {
  using enum Algo;
  static constexpr Algo kAllReduce[] = {Ring, Rhd, Tree, Direct, Hier};
  static constexpr Algo kBroadcast[] = {Ring, Tree, Direct, Hier};
  static constexpr Algo kReduce[] = {Ring, Tree};
  static constexpr Algo kAllGather[] = {Ring, Rhd, Direct, Hier};
  static constexpr Algo kReduceScatter[] = {Ring, Rhd, Hier};
  static constexpr Algo kDirect[] = {Direct};
  static constexpr Algo kRooted[] = {Direct, Tree};  // gather, scatter
  static constexpr Algo kBarrier[] = {Dissemination};
  switch (coll) {
    case Coll::AllReduce: return kAllReduce;
    case Coll::Broadcast: return kBroadcast;
    case Coll::Reduce: return kReduce;
    case Coll::AllGather: return kAllGather;
    case Coll::ReduceScatter: return kReduceScatter;
    case Coll::AllToAll:
    case Coll::AllToAllv:
    case Coll::SendRecv: return kDirect;
    case Coll::Gather:
    case Coll::Scatter: return kRooted;
    case Coll::Barrier: return kBarrier;
  }
  return {};
}

namespace {

constexpr size_t kMaxBytes = std::numeric_limits<size_t>::max() / 4;

// a * b without overflow past kMaxBytes.
bool mulOk(size_t a, size_t b, size_t* out) {
  if (a != 0 && b > kMaxBytes / a) return false;
  *out = a * b;
  return true;
}

Status checkArgs(Algo algo, const CollArgs& a) {
  if (algo == Algo::Auto) return invalidArgument("makeSchedule needs a concrete algorithm, not auto");
  auto impl = algorithmsFor(a.coll);
  if (std::find(impl.begin(), impl.end(), algo) == impl.end())
    return invalidArgument(fmt::format("algorithm {} does not implement {}", algoName(algo), collName(a.coll)));
  if (a.nranks < 1) return invalidArgument(fmt::format("nranks {} < 1", a.nranks));
  if (a.rank < 0 || a.rank >= a.nranks)
    return invalidArgument(fmt::format("rank {} out of range [0, {})", a.rank, a.nranks));
  if (a.elemSize == 0) return invalidArgument("element size 0");
  if (isRooted(a.coll) && (a.root < 0 || a.root >= a.nranks))
    return invalidArgument(fmt::format("root {} out of range [0, {})", a.root, a.nranks));
  size_t bytes = 0, total = 0;
  if (!mulOk(a.count, a.elemSize, &bytes) || !mulOk(bytes, static_cast<size_t>(a.nranks), &total))
    return invalidArgument(fmt::format("count {} x {} bytes x {} ranks overflows", a.count, a.elemSize, a.nranks));
  if (!a.hostOf.empty()) {
    if (a.hostOf.size() != static_cast<size_t>(a.nranks))
      return invalidArgument(fmt::format("hostOf has {} entries for {} ranks", a.hostOf.size(), a.nranks));
    for (int r = 0; r < a.nranks; ++r)
      if (a.hostOf[r] < 0) return invalidArgument(fmt::format("hostOf[{}] = {} is negative", r, a.hostOf[r]));
  }
  if (a.coll == Coll::AllToAllv) {
    size_t n = static_cast<size_t>(a.nranks);
    if (a.sendCounts.size() != n || a.sendDispls.size() != n || a.recvCounts.size() != n || a.recvDispls.size() != n)
      return invalidArgument(fmt::format("alltoallv needs {} send/recv counts and displacements, got {}/{}/{}/{}", n,
                                         a.sendCounts.size(), a.sendDispls.size(), a.recvCounts.size(),
                                         a.recvDispls.size()));
    for (size_t j = 0; j < n; ++j) {
      size_t e1 = 0, e2 = 0;
      if (a.sendCounts[j] > kMaxBytes - a.sendDispls[j] || a.recvCounts[j] > kMaxBytes - a.recvDispls[j] ||
          !mulOk(a.sendCounts[j] + a.sendDispls[j], a.elemSize, &e1) ||
          !mulOk(a.recvCounts[j] + a.recvDispls[j], a.elemSize, &e2))
        return invalidArgument(fmt::format("alltoallv counts/displacements for peer {} overflow", j));
    }
  }
  if (a.coll == Coll::SendRecv) {
    for (size_t i = 0; i < a.p2p.size(); ++i) {
      const P2pOp& op = a.p2p[i];
      if (op.peer < 0 || op.peer >= a.nranks)
        return invalidArgument(fmt::format("p2p op {} peer {} out of range [0, {})", i, op.peer, a.nranks));
      if (op.bytes > kMaxBytes - op.offset)
        return invalidArgument(fmt::format("p2p op {} offset + bytes overflows", i));
    }
  }
  return Status::ok();
}

Status generate(Algo algo, const CollArgs& a, sched::Schedule& s) {
  using namespace detail;
  if (algo == Algo::Hier) {
    switch (a.coll) {
      case Coll::AllReduce: return hierAllReduce(a, s);
      case Coll::AllGather: return hierAllGather(a, s);
      case Coll::ReduceScatter: return hierReduceScatter(a, s);
      case Coll::Broadcast: return hierBroadcast(a, s);
      default: return internalError("hier does not implement this collective");
    }
  }
  switch (a.coll) {
    case Coll::AllReduce:
      switch (algo) {
        case Algo::Ring: return ringAllReduce(a, s);
        case Algo::Rhd: return rhdAllReduce(a, s);
        case Algo::Direct: return directAllReduce(a, s);
        default: return treeAllReduce(a, s);
      }
    case Coll::Broadcast:
      switch (algo) {
        case Algo::Ring: return chainBroadcast(a, s);
        case Algo::Direct: return directBroadcast(a, s);
        default: return treeBroadcast(a, s);
      }
    case Coll::Reduce: return algo == Algo::Ring ? chainReduce(a, s) : treeReduce(a, s);
    case Coll::AllGather:
      switch (algo) {
        case Algo::Ring: return ringAllGather(a, s);
        case Algo::Direct: return directAllGather(a, s);
        default: return rhdAllGather(a, s);
      }
    case Coll::ReduceScatter: return algo == Algo::Ring ? ringReduceScatter(a, s) : rhdReduceScatter(a, s);
    case Coll::AllToAll:
    case Coll::AllToAllv: return directAllToAll(a, s);
    case Coll::Gather: return algo == Algo::Direct ? directGather(a, s) : treeGather(a, s);
    case Coll::Scatter: return algo == Algo::Direct ? directScatter(a, s) : treeScatter(a, s);
    case Coll::Barrier: return disseminationBarrier(a, s);
    case Coll::SendRecv: return directSendRecv(a, s);
  }
  return internalError("unhandled collective");
}

}  // namespace

Result<sched::Schedule> makeSchedule(Algo algo, const CollArgs& args) {
  LOOM_TRY(checkArgs(algo, args));
  sched::Schedule s;
  s.algorithm = std::string(algoName(algo));
  LOOM_TRY(generate(algo, args, s));
  return s;
}

sched::BufferSizes bufferSizes(const CollArgs& a) {
  sched::BufferSizes b;
  const size_t blk = a.count * a.elemSize, n = static_cast<size_t>(a.nranks), r = static_cast<size_t>(a.rank);
  const bool root = a.rank == a.root;
  switch (a.coll) {
    case Coll::AllReduce: b = {blk, blk, a.inPlace, 0}; break;
    case Coll::Broadcast: b = {root ? blk : 0, blk, a.inPlace && root, 0}; break;
    case Coll::Reduce: b = {blk, root ? blk : 0, a.inPlace && root, 0}; break;
    case Coll::AllGather: b = {blk, n * blk, a.inPlace, -static_cast<int64_t>(r * blk)}; break;
    case Coll::ReduceScatter: b = {n * blk, blk, a.inPlace, static_cast<int64_t>(r * blk)}; break;
    case Coll::AllToAll: b = {n * blk, n * blk, a.inPlace, 0}; break;
    case Coll::AllToAllv: {
      size_t in = 0, out = 0;
      for (size_t j = 0; j < a.sendCounts.size() && j < a.sendDispls.size(); ++j)
        in = std::max(in, (a.sendDispls[j] + a.sendCounts[j]) * a.elemSize);
      for (size_t j = 0; j < a.recvCounts.size() && j < a.recvDispls.size(); ++j)
        out = std::max(out, (a.recvDispls[j] + a.recvCounts[j]) * a.elemSize);
      if (a.inPlace) in = out = std::max(in, out);
      b = {in, out, a.inPlace, 0};
      break;
    }
    case Coll::Gather: b = {blk, root ? n * blk : 0, a.inPlace && root, -static_cast<int64_t>(r * blk)}; break;
    case Coll::Scatter: b = {root ? n * blk : 0, blk, a.inPlace && root, static_cast<int64_t>(r * blk)}; break;
    case Coll::Barrier: b = {0, 0, false, 0}; break;
    case Coll::SendRecv:
      for (const P2pOp& op : a.p2p) (op.isSend ? b.inputBytes : b.outputBytes) =
          std::max(op.isSend ? b.inputBytes : b.outputBytes, op.offset + op.bytes);
      break;
  }
  return b;
}

}  // namespace loom::algo
