#include "core/board_run.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "algo/algorithms.hpp"
#include "mem/copy.hpp"

namespace loom::core {

namespace wire = transport::wire;
using algo::Coll;

namespace {

wire::BoardTag tagOf(const CallDescriptor& d) {
  return {d.count, d.root, static_cast<uint8_t>(d.coll), static_cast<uint8_t>(d.type),
          static_cast<uint8_t>(std::min(d.op, 255)), 0};
}

CallDescriptor fromTag(const wire::BoardTag& t) {
  return {t.coll, t.type, t.op, t.root, t.count};
}

}  // namespace

BoardRun::BoardRun(const BoardCall& call, uint64_t number, RunBuffers buffers, transport::Fabric& fabric,
                   mem::ReduceFn reduce, int rank)
    : count_(call.call.count),
      coll_(static_cast<Coll>(call.call.coll)),
      number_(number),
      buf_(buffers),
      fabric_(fabric),
      reduce_(reduce),
      rank_(rank),
      n_(call.nranks),
      block_(call.call.count * call.elemSize),
      postBytes_(algo::boardPostBytes(coll_, call.call.count, call.elemSize, call.nranks)),
      role_(algo::boardRole(coll_, rank, call.call.root, call.nranks)),
      tag_(tagOf(call.call)),
      root_(call.call.root) {}

int BoardRun::readFrom(int i) const { return coll_ == Coll::Broadcast ? root_ : i; }

void BoardRun::fail(Status s) {
  if (failed_) return;
  failed_ = true;
  status_ = std::move(s);
}

void BoardRun::post() {
  char* entry = fabric_.boardPayload(number_);
  mem::copyBytes(entry, buf_.input, postBytes_);
  fabric_.boardPublish(number_, tag_, postBytes_);
  // A broadcast root's own output is a local copy (its input is what it posted).
  if (coll_ == Coll::Broadcast && buf_.output != buf_.input) mem::copyBytes(buf_.output, buf_.input, block_);
}

bool BoardRun::take(int peer, const wire::BoardHeader& h) {
  if (!(h.tag == tag_) || h.bytes != postBytes_) {
    const CallDescriptor theirs = fromTag(h.tag), mine = fromTag(tag_);
    const char* field = differingField(mine, theirs);
    fail(invalidUsage(fmt::format("collective mismatch on the board at board call #{}: rank {} called {}, rank {} "
                                  "called {} (first differing field: {})",
                                  number_, peer, describe(theirs), rank_, describe(mine), field ? field : "bytes")));
    return false;
  }
  const char* data = reinterpret_cast<const char*>(&h) + wire::kBoardHeaderBytes;
  switch (coll_) {
    case Coll::AllReduce:
    case Coll::Reduce:
    case Coll::ReduceScatter: {
      // Rank order, the first two in one pass: every rank adds the same numbers in the same order.
      const char* mineOf = coll_ == Coll::ReduceScatter ? data + rank_ * block_ : data;
      if (nextRead_ == 0) {
        first_ = mineOf;  // the board runs on 2 or more ranks: a second entry follows
      } else {
        const void* acc = nextRead_ == 1 ? static_cast<const void*>(first_) : buf_.output;
        reduce_(buf_.output, acc, mineOf, count_);
      }
      break;
    }
    case Coll::Broadcast: mem::copyBytes(buf_.output, data, block_); break;
    case Coll::AllGather: mem::copyBytes(buf_.output + peer * block_, data, block_); break;
    case Coll::AllToAll: mem::copyBytes(buf_.output + peer * block_, data + rank_ * block_, block_); break;
    default: fail(internalError(fmt::format("{} has no board path", algo::collName(coll_)))); return false;
  }
  return true;
}

bool BoardRun::advance() {
  if (finished()) return false;
  bool moved = false;
  if (phase_ == Phase::Post) {
    if (role_.posts) {
      if (!fabric_.boardFree(number_)) return false;
      post();
    }
    phase_ = Phase::Read;
    moved = true;
  }
  while (nextRead_ < role_.reads) {
    const int peer = readFrom(nextRead_);
    const wire::BoardHeader* h = fabric_.boardEntry(peer, number_);
    if (!h) break;
    if (!take(peer, *h)) return true;
    ++nextRead_;
    moved = true;
  }
  if (nextRead_ == role_.reads) {
    fabric_.boardFinish(number_);
    phase_ = Phase::Done;
    return true;
  }
  if (!moved) {
    // Stuck: let the fabric run its liveness checks, so a dead peer fails the call.
    fabric_.progress();
    if (Status s = fabric_.status(); !s.isOk()) fail(s);
  }
  return moved;
}

std::string BoardRun::pendingSummary() const {
  if (phase_ == Phase::Post)
    return fmt::format("board call #{}: the other ranks to read our earlier board entries", number_);
  if (nextRead_ < role_.reads)
    return fmt::format("board call #{}: rank {}'s entry ({} bytes)", number_, readFrom(nextRead_), postBytes_);
  return "nothing";
}

}  // namespace loom::core
