// loomCommSplit and loomCommShrink. The new communicator's rendezvous runs on the control port
// of its first member (see control_port.hpp), under a secret derived from the parent's secret and
// the number of splits and shrinks so far, which every member counts alike.
#include <fmt/format.h>

#include <algorithm>

#include "bootstrap/root_server.hpp"
#include "core/communicator.hpp"
#include "core/params.hpp"

namespace loom::core {

namespace {

uint64_t mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

bootstrap::Secret deriveSecret(const bootstrap::Secret& parent, uint64_t salt) {
  bootstrap::Secret out;
  for (size_t i = 0; i < out.size(); i += 8) {
    uint64_t word = 0;
    for (size_t b = 0; b < 8; ++b) word |= static_cast<uint64_t>(parent[i + b]) << (8 * b);
    word = mix(word ^ mix(salt + i));
    for (size_t b = 0; b < 8; ++b) out[i + b] = static_cast<uint8_t>(word >> (8 * b));
  }
  return out;
}

Deadline initDeadline() { return Deadline::afterSeconds(params::getDouble("LOOM_INIT_TIMEOUT")); }

}  // namespace

Status Communicator::runInternal(const CollCall& call) {
  auto request = collective(call, true);
  if (!request.isOk()) return request.status();
  if (!request.value()) return {};  // ran on this thread and succeeded
  if (!request.value()->wait(initDeadline())) return timeoutError("internal collective did not complete");
  return request.value()->status();
}

Result<std::unique_ptr<Communicator>> Communicator::joinChild(const std::vector<int>& members, uint64_t salt) {
  const int newRank = static_cast<int>(std::find(members.begin(), members.end(), rank_) - members.begin());
  const int leader = members.front();
  bootstrap::RendezvousId rid;
  rid.host = controlOf_[leader].host;
  rid.port = controlOf_[leader].port;
  rid.secret = deriveSecret(secret_, salt);
  if (rank_ == leader) {
    control_->release();
    auto root = bootstrap::createRootAtUntil(rid.host, rid.port, rid.secret, Deadline::afterSeconds(2));
    if (!root.isOk()) return root.takeStatus();
  }
  auto child = Communicator::init(bootstrap::encodeId(rid), newRank, static_cast<int>(members.size()));
  if (!child.isOk())
    return Status(child.status().code(), fmt::format("creating a communicator of {} ranks led by rank {}: {}",
                                                     members.size(), leader, child.status().message()));
  return child;
}

Result<std::unique_ptr<Communicator>> Communicator::split(int color, int key) {
  std::vector<int64_t> mine = {color, key}, all(2 * static_cast<size_t>(nranks_));
  CollCall gather;
  gather.coll = algo::Coll::AllGather;
  gather.send = mine.data();
  gather.recv = all.data();
  gather.count = 2;
  gather.type = loomInt64;
  LOOM_TRY(runInternal(gather));
  const uint64_t seq = ++childSeq_;
  if (color == LOOM_SPLIT_NOCOLOR) return std::unique_ptr<Communicator>();
  std::vector<int> members;
  for (int r = 0; r < nranks_; ++r)
    if (all[2 * r] == color) members.push_back(r);
  std::stable_sort(members.begin(), members.end(), [&](int a, int b) { return all[2 * a + 1] < all[2 * b + 1]; });
  return joinChild(members, mix(seq) ^ mix(static_cast<uint64_t>(color) + 1));
}

Result<std::unique_ptr<Communicator>> Communicator::shrink(const std::vector<int>& exclude) {
  std::vector<bool> excluded(nranks_, false);
  for (int r : exclude) {
    if (r < 0 || r >= nranks_)
      return invalidArgument(fmt::format("shrink: excluded rank {} is out of range for {} ranks", r, nranks_));
    excluded[r] = true;
  }
  if (excluded[rank_]) return invalidArgument(fmt::format("shrink: rank {} excludes itself", rank_));
  const uint64_t seq = ++childSeq_;
  std::vector<int> members;
  for (int r = 0; r < nranks_; ++r)
    if (!excluded[r]) members.push_back(r);
  return joinChild(members, mix(seq) ^ 0x5348524eull);
}

}  // namespace loom::core
