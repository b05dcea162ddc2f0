// Turns a validated public call into an Operation: buffer layout and in-place detection, the
// reduction (Avg and PreMulSum become Sum plus a scaling pass), the algorithm choice and the
// cached schedule.
#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <tuple>

#include "core/call_descriptor.hpp"
#include "core/communicator.hpp"
#include "core/params.hpp"
#include "mem/copy.hpp"

namespace loom::core {

using algo::Coll;

namespace {

struct Layout {
  size_t inBytes = 0, outBytes = 0;
  bool inPlace = false;
};

Layout layoutOf(const CollCall& c, int rank, int n, size_t elem) {
  const size_t b = c.count * elem;
  auto* send = static_cast<const uint8_t*>(c.send);
  auto* recv = static_cast<const uint8_t*>(c.recv);
  Layout l;
  switch (c.coll) {
    case Coll::AllReduce:
    case Coll::Reduce:
      l = {b, b, send == recv};
      break;
    case Coll::Broadcast:
      l = {b, b, send == recv || rank != c.root};
      break;
    case Coll::AllGather:
      l = {b, n * b, recv && send == recv + rank * b};
      break;
    case Coll::ReduceScatter:
      l = {n * b, b, send && recv == send + rank * b};
      break;
    case Coll::AllToAll:
      l = {n * b, n * b, send == recv};
      break;
    case Coll::Gather:
      l = {b, n * b, rank == c.root && recv && send == recv + c.root * b};
      break;
    case Coll::Scatter:
      l = {n * b, b, rank == c.root && send && recv == send + c.root * b};
      break;
    case Coll::AllToAllv:
      for (int p = 0; p < n; ++p) {
        l.inBytes = std::max(l.inBytes, (c.sendDispls[p] + c.sendCounts[p]) * elem);
        l.outBytes = std::max(l.outBytes, (c.recvDispls[p] + c.recvCounts[p]) * elem);
      }
      l.inPlace = send == recv;
      break;
    default:
      break;
  }
  return l;
}

template <typename T>
void divideAll(void* buf, size_t count, int n) {
  T* p = static_cast<T*>(buf);
  for (size_t i = 0; i < count; ++i) p[i] = static_cast<T>(p[i] / static_cast<T>(n));
}

// loomAvg: the sum divided by n; integer types divide exactly (as NCCL does).
void divideByRanks(loomDataType_t t, void* buf, size_t count, int n) {
  switch (t) {
    case loomInt8: divideAll<int8_t>(buf, count, n); break;
    case loomUint8: divideAll<uint8_t>(buf, count, n); break;
    case loomInt32: divideAll<int32_t>(buf, count, n); break;
    case loomUint32: divideAll<uint32_t>(buf, count, n); break;
    case loomInt64: divideAll<int64_t>(buf, count, n); break;
    case loomUint64: divideAll<uint64_t>(buf, count, n); break;
    default: mem::scale(t, buf, buf, count, 1.0 / n); break;
  }
}

mem::ReduceKind kindOf(loomRedOp_t op) {
  switch (op) {
    case loomProd: return mem::ReduceKind::Prod;
    case loomMax: return mem::ReduceKind::Max;
    case loomMin: return mem::ReduceKind::Min;
    default: return mem::ReduceKind::Sum;  // Sum, Avg, PreMulSum
  }
}

// The generators' view of a call; built only when a schedule must be looked up or made (a call
// shaped like the last one needs none).
algo::CollArgs argsOf(const CollCall& c, const Layout& layout, size_t elem, int rank, int n, size_t chunkBytes) {
  algo::CollArgs args;
  args.coll = c.coll;
  args.rank = rank;
  args.nranks = n;
  args.count = c.count;
  args.elemSize = elem;
  args.root = c.root;
  args.inPlace = layout.inPlace;
  args.chunkBytes = chunkBytes;
  if (c.coll == Coll::AllToAllv) {
    args.sendCounts.assign(c.sendCounts, c.sendCounts + n);
    args.sendDispls.assign(c.sendDispls, c.sendDispls + n);
    args.recvCounts.assign(c.recvCounts, c.recvCounts + n);
    args.recvDispls.assign(c.recvDispls, c.recvDispls + n);
  }
  return args;
}

}  // namespace

std::shared_ptr<const PreparedSchedule> Communicator::cachedPlan(const algo::CollArgs& args, algo::Algo algo,
                                                                 Status* err) {
  const bool cacheable = args.coll != Coll::AllToAllv;
  PlanKey key{static_cast<int>(args.coll), static_cast<int>(algo), args.count, args.elemSize, args.root,
              args.inPlace, args.chunkBytes};
  if (cacheable) {
    std::lock_guard lock(mu_);
    auto it = plans_.find(key);
    if (it != plans_.end()) return it->second;
  }
  // Only a cache miss generates a schedule: the per-rank host map is copied in here, not per call.
  algo::CollArgs full = args;
  full.hostOf = placement_.hostOf;
  full.neighboursFirst = placement_.crowdedOneHost();
  auto sched = algo::makeSchedule(algo, full);
  if (!sched.isOk()) {
    *err = sched.takeStatus();
    return nullptr;
  }
  auto plan = std::make_shared<const PreparedSchedule>(
      PreparedSchedule::prepare(std::move(sched.value()), nranks_, !algo::isReduction(args.coll)));
  if (cacheable) {
    std::lock_guard lock(mu_);
    plans_[key] = plan;
    planOrder_.push_back(key);
    if (planOrder_.size() > 256) {  // bounded: shapes of a training loop repeat
      plans_.erase(planOrder_.front());
      planOrder_.pop_front();
    }
  }
  return plan;
}

Result<std::shared_ptr<RequestState>> Communicator::collective(const CollCall& c, bool blocking) {
  const size_t elem = mem::typeSize(c.type);
  Layout layout = layoutOf(c, rank_, nranks_, elem);

  RunBuffers buffers;
  buffers.input = const_cast<uint8_t*>(static_cast<const uint8_t*>(c.send));
  buffers.output = static_cast<uint8_t*>(c.recv);
  if (c.coll == Coll::Broadcast && rank_ != c.root) buffers.input = buffers.output;

  // PreMulSum: scale a private copy of the input, then sum.
  double premul = 1.0;
  bool hasPremul = false;
  if (algo::isReduction(c.coll) && c.op >= loomNumOps) {
    std::lock_guard lock(mu_);
    const CustomOp& custom = customOps_[c.op - loomNumOps];
    hasPremul = true;
    premul = custom.residence == loomScalarHostImmediate ? custom.value
                                                          : mem::loadAsDouble(c.type, custom.pointer, 0);
  }
  const mem::ReduceFn reduce = algo::isReduction(c.coll) ? mem::reduceFn(c.type, kindOf(c.op)) : nullptr;
  const bool average = c.op == loomAvg && algo::isReduction(c.coll) && (c.coll != Coll::Reduce || rank_ == c.root);

  // A loop repeats its call: the same shape as the last call reuses its algorithm and plan.
  // On a hit the call's sequence numbers are taken under the same lock (one lock per call): the
  // plan passed the extent check below when it was made, so nothing after can refuse the call
  // (but a PreMulSum, whose in-place plan may be rebuilt).
  const bool memoable = c.coll != Coll::AllToAllv;
  LastCall shape{c.coll, c.count, c.type, c.root, layout.inPlace, algo::Algo::Auto, 0, nullptr};
  uint64_t seq = 0, collSeq = 0;
  bool hit = false;
  if (memoable) {
    std::lock_guard lock(mu_);
    if (last_.algo != algo::Algo::Auto && last_.sameShape(shape)) {
      shape = last_;
      hit = true;
      if (!hasPremul) {
        seq = ++seq_;
        collSeq = ++collSeq_;
        board_->issued(seq);  // under mu_, so the board's number only grows
      }
    }
  }
  Status err;
  if (!hit) {
    const size_t selectBytes = c.coll == Coll::AllToAllv ? layout.inBytes : c.count * elem;
    auto picked = pick(c.coll, c.count, c.type, selectBytes);
    if (!picked.isOk()) return picked.takeStatus();
    shape.algo = picked->algo;
    shape.chunkBytes = picked->chunkBytes;
    if (shape.algo != algo::Algo::Board) {
      shape.plan = cachedPlan(argsOf(c, layout, elem, rank_, nranks_, shape.chunkBytes), shape.algo, &err);
      if (!shape.plan) return err;
    }
    if (memoable) {
      std::lock_guard lock(mu_);
      last_ = shape;
    }
  }
  // The board needs no schedule and no temporary buffers: a rank reads only what it owns.
  const bool onBoard = shape.algo == algo::Algo::Board;
  std::shared_ptr<const PreparedSchedule> plan = std::move(shape.plan);
  if (plan && (plan->inputExtent > layout.inBytes || plan->outputExtent > layout.outBytes))
    return internalError(fmt::format("schedule '{}' reaches past the user buffers", plan->schedule.algorithm));
  auto number = [&] {  // a miss, or a PreMulSum, takes its sequence numbers here
    if (seq) return;
    std::lock_guard lock(mu_);
    seq = ++seq_;
    collSeq = ++collSeq_;
    board_->issued(seq);
  };

  // A blocking call on the board with nothing to do before or after it runs without an Operation.
  auto boardCall = [&] { return BoardCall{descriptorOf(c), elem, nranks_}; };
  if (onBoard && blocking && !hasPremul && !average && !checkCalls_) {
    number();
    Status s;
    if (engine_->runBoardInline(boardCall(), buffers, reduce, seq, algo::collName(c.coll), layout.inBytes, &s)) {
      if (!s.isOk()) return s;
      return std::shared_ptr<RequestState>{};
    }
  }

  Operation op;
  op.elemSize = elem;
  op.buffers = buffers;
  op.reduce = reduce;
  // Buffers this rank does not own in the public call (non-root) but the schedule touches.
  size_t tempIn = plan && !op.buffers.input && plan->inputExtent ? plan->inputExtent : 0;
  size_t tempOut = plan && !op.buffers.output && plan->outputExtent ? plan->outputExtent : 0;
  size_t premulBytes = hasPremul ? layout.inBytes : 0;
  op.ownedTemp = temps_->take(tempIn + tempOut + premulBytes, true);
  uint8_t* temp = op.ownedTemp.data();
  if (tempIn) op.buffers.input = temp;
  if (tempOut) op.buffers.output = temp + tempIn;
  if (hasPremul && layout.inBytes) {
    uint8_t* scaled = temp + tempIn + tempOut;
    const void* src = c.send;
    const size_t n = c.count * (c.coll == Coll::ReduceScatter ? nranks_ : 1);
    const loomDataType_t type = c.type;
    op.before = [scaled, src, n, type, premul] { mem::scale(type, scaled, src, n, premul); };
    op.buffers.input = scaled;
    if (layout.inPlace && plan) {  // the schedule was built in place; rebuild it out of place
      Layout outOfPlace = layout;
      outOfPlace.inPlace = false;
      plan = cachedPlan(argsOf(c, outOfPlace, elem, rank_, nranks_, shape.chunkBytes), shape.algo, &err);
      if (!plan) return err;
    }
  }
  if (average) {
    void* out = op.buffers.output;
    const size_t n = c.count;
    const loomDataType_t type = c.type;
    const int ranks = nranks_;
    op.after = [type, out, n, ranks] { divideByRanks(type, out, n, ranks); };
  }

  number();
  if (checkCalls_) {
    if (auto check = makeCallCheck(c, collSeq)) engine_->submit(std::move(check));
  }
  op.label = algo::collName(c.coll);
  op.bytes = layout.inBytes;
  op.plan = std::move(plan);
  if (onBoard) op.boardCall = boardCall();
  op.seq = seq;
  return issue(std::move(op), blocking);
}

Result<std::shared_ptr<RequestState>> Communicator::issue(Operation&& op, bool blocking) {
  if (blocking) {
    Status s;
    if (engine_->runInline(op, &s)) {
      if (!s.isOk()) return s;
      return std::shared_ptr<RequestState>{};  // done: nothing to wait for
    }
  }
  auto queued = std::make_unique<Operation>(std::move(op));
  queued->request = std::make_shared<RequestState>();
  auto request = queued->request;
  engine_->submit(std::move(queued));
  return request;
}

Result<std::shared_ptr<RequestState>> Communicator::pointToPoint(const std::vector<P2pCall>& calls, bool blocking) {
  // A send whose bytes a receive of the same group overwrites (an in-place ring shift, as
  // nccl-tests' in-place sendrecv does) must send the bytes as they were when the group started:
  // such sends go from a copy taken then.
  auto overlapsRecv = [&](const P2pCall& send) {
    auto* a = static_cast<const uint8_t*>(send.send);
    for (const auto& r : calls) {
      auto* b = static_cast<const uint8_t*>(r.recv);
      if (!r.isSend && r.bytes && send.bytes && a < b + r.bytes && b < a + send.bytes) return true;
    }
    return false;
  };
  Operation op;
  std::vector<size_t> stagedAt(calls.size(), SIZE_MAX);  // offset of the send's copy in ownedTemp
  size_t stagedBytes = 0;
  for (size_t i = 0; i < calls.size(); ++i)
    if (calls[i].isSend && overlapsRecv(calls[i])) stagedAt[i] = stagedBytes, stagedBytes += calls[i].bytes;
  op.ownedTemp = temps_->take(stagedBytes, false);  // the staged copies overwrite it all
  uint8_t* temp = op.ownedTemp.data();

  // Raw pointers travel in span offsets over null bases (the executor's absolute addressing).
  sched::Schedule s;
  s.algorithm = "p2p";
  std::vector<std::tuple<uint8_t*, const void*, size_t>> copies;  // done when the group starts
  for (size_t i = 0; i < calls.size(); ++i) {
    const auto& call = calls[i];
    if (!call.isSend) {
      s.add(sched::recv(call.peer, sched::out(reinterpret_cast<uintptr_t>(call.recv), call.bytes)));
      continue;
    }
    const void* src = call.send;
    if (stagedAt[i] != SIZE_MAX) {
      copies.emplace_back(temp + stagedAt[i], call.send, call.bytes);
      src = temp + stagedAt[i];
    }
    s.add(sched::send(call.peer, sched::in(reinterpret_cast<uintptr_t>(src), call.bytes)));
  }
  if (!copies.empty())
    op.before = [copies] {
      for (const auto& [dst, src, bytes] : copies) mem::copyBytes(dst, src, bytes);
    };
  op.plan = std::make_shared<const PreparedSchedule>(PreparedSchedule::prepare(std::move(s), nranks_));
  uint64_t seq;
  {
    std::lock_guard lock(mu_);
    seq = ++seq_;
    board_->issued(seq);
  }
  op.label = "send/recv group";
  op.isGroup = true;
  op.bytes = calls.size();
  op.seq = seq;
  return issue(std::move(op), blocking);
}

Result<loomRedOp_t> Communicator::createPreMulSum(const void* scalar, loomDataType_t type,
                                                  loomScalarResidence_t residence) {
  std::lock_guard lock(mu_);
  CustomOp op;
  op.inUse = true;
  op.type = type;
  op.residence = residence;
  if (residence == loomScalarHostImmediate) op.value = mem::loadAsDouble(type, scalar, 0);
  else op.pointer = scalar;
  for (size_t i = 0; i < customOps_.size(); ++i) {
    if (!customOps_[i].inUse) {
      customOps_[i] = op;
      return static_cast<loomRedOp_t>(loomNumOps + i);
    }
  }
  customOps_.push_back(op);
  return static_cast<loomRedOp_t>(loomNumOps + customOps_.size() - 1);
}

Status Communicator::destroyRedOp(loomRedOp_t op) {
  std::lock_guard lock(mu_);
  size_t idx = static_cast<size_t>(op) - loomNumOps;
  if (op < loomNumOps || idx >= customOps_.size() || !customOps_[idx].inUse)
    return invalidArgument(fmt::format("op {} is not a custom op created on this communicator", static_cast<int>(op)));
  customOps_[idx].inUse = false;
  return {};
}

Status Communicator::validateOp(loomRedOp_t op, loomDataType_t type) const {
  if (op >= 0 && op < loomNumOps) return {};
  std::lock_guard lock(mu_);
  size_t idx = static_cast<size_t>(op) - loomNumOps;
  if (op < 0 || idx >= customOps_.size() || !customOps_[idx].inUse)
    return invalidArgument(fmt::format("unknown reduction op {}", static_cast<int>(op)));
  if (customOps_[idx].type != type)
    return invalidArgument(fmt::format("op {} was created for datatype {} but is used with {}", static_cast<int>(op),
                                       mem::typeName(customOps_[idx].type), mem::typeName(type)));
  return {};
}

}  // namespace loom::core
