// Ring and chain phases over subsets of ranks, and the dependency-deriving step emitter
// (see hier_parts.hpp). The ring phases follow ring.cpp: step-outer, chunk-inner, reduce-scatter
// step s sends block me-1-s and folds block me-2-s; allgather step s sends block me-s.
#include "algo/hier_parts.hpp"

#include <algorithm>

#include "algo/layout.hpp"

namespace loom::algo::detail {

using sched::Buf;
using sched::kNoStep;
using sched::Span;
using sched::Step;
using sched::StepKind;

Emitter::Emitter(const CollArgs& a, sched::Schedule& s)
    : s_(s), sz_(bufferSizes(a)), es_(a.elemSize), chunkElems_(chunkElemsOf(a)) {}

Emitter::~Emitter() { s_.scratchBytes = std::max(s_.scratchBytes, scratchEnd_); }

// The validator's address model: aliased Input/Output share one space.
Emitter::Mapped Emitter::map(const Span& sp) const {
  const int64_t off = static_cast<int64_t>(sp.offset), len = static_cast<int64_t>(sp.bytes);
  if (sp.buf == Buf::Scratch) return {2, off, off + len};
  if (sp.buf == Buf::Input) return {0, off, off + len};
  if (sz_.aliased) return {0, off + sz_.outputOffset, off + sz_.outputOffset + len};
  return {1, off, off + len};
}

std::map<int64_t, Emitter::Cell>::iterator Emitter::cover(const Mapped& m) {
  auto& cells = cells_[m.space];
  auto split = [&](int64_t x) {  // makes x a cell boundary if a cell straddles it
    auto it = cells.upper_bound(x);
    if (it == cells.begin()) return;
    --it;
    if (it->first < x && x < it->second.hi) {
      Cell right = it->second;
      it->second.hi = x;
      cells.emplace(x, std::move(right));
    }
  };
  split(m.lo);
  split(m.hi);
  auto it = cells.lower_bound(m.lo);
  for (int64_t at = m.lo; at < m.hi; ++it) {  // walk the cells, filling gaps with fresh ones
    if (it == cells.end() || it->first > at)
      it = cells.emplace_hint(it, at, Cell{it == cells.end() ? m.hi : std::min(m.hi, it->first), kNoStep, {}});
    at = it->second.hi;
  }
  return cells.find(m.lo);
}

void Emitter::add(const Step& st) {
  const bool reads = st.kind != StepKind::Recv, writes = st.kind != StepKind::Send;
  const Mapped src = map(st.src), dst = map(st.dst);
  const bool same = src.space == dst.space && src.lo == dst.lo && st.src.bytes == st.dst.bytes;
  if (st.kind == StepKind::Copy && same) return;
  const bool readSrc = reads && st.src.bytes && !(same && writes), writeDst = writes && st.dst.bytes;
  std::vector<uint32_t> deps;
  auto collect = [&](const Mapped& m, bool write) {
    for (auto it = cover(m); it != cells_[m.space].end() && it->first < m.hi; ++it) {
      if (it->second.writer != kNoStep) deps.push_back(it->second.writer);
      if (write) deps.insert(deps.end(), it->second.readers.begin(), it->second.readers.end());
    }
  };
  if (readSrc) collect(src, false);
  if (writeDst) collect(dst, true);
  std::sort(deps.begin(), deps.end());
  deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
  const uint32_t id = s_.add(st, deps);
  if (readSrc)
    for (auto it = cells_[src.space].find(src.lo); it != cells_[src.space].end() && it->first < src.hi; ++it)
      it->second.readers.push_back(id);
  if (writeDst) {  // one cell, written by this step: everything before it is ordered before it
    auto& cells = cells_[dst.space];
    cells.erase(cells.lower_bound(dst.lo), cells.lower_bound(dst.hi));
    cells.emplace(dst.lo, Cell{dst.hi, id, {}});
    if (dst.space == 2) scratchEnd_ = std::max(scratchEnd_, static_cast<size_t>(dst.hi));
  }
  if (readSrc && src.space == 2) scratchEnd_ = std::max(scratchEnd_, static_cast<size_t>(src.hi));
}

void addSeg(std::vector<Range>& segs, Range r) {
  if (r.len == 0) return;
  if (!segs.empty() && segs.back().begin + segs.back().len == r.begin) segs.back().len += r.len;
  else segs.push_back(r);
}

namespace {

struct Piece {
  Range x;
  size_t rel;
};

// The chunks of a segment list, in order, with their offsets inside the list.
std::vector<Piece> pieces(const std::vector<Range>& segs, size_t ce) {
  std::vector<Piece> v;
  size_t rel = 0;
  for (const Range& seg : segs) {
    for (size_t c = 0, nc = numChunks(seg.len, ce); c < nc; ++c) {
      Range x = chunkOf(seg, ce, c);
      v.push_back({x, rel + (x.begin - seg.begin)});
    }
    rel += seg.len;
  }
  return v;
}

}  // namespace

void ringReduceScatterOn(Emitter& e, const SubRing& g, const SpanOf& contrib, const SpanOf& acc) {
  const int m = static_cast<int>(g.group.size()), p = g.me;
  if (m < 2) return;
  const int next = g.group[mod(p + 1, m)], prev = g.group[mod(p - 1, m)];
  for (int st = 0; st < m - 1; ++st) {
    const auto sp = pieces(g.blocks[mod(p - 1 - st, m)], e.chunkElems());
    const auto rp = pieces(g.blocks[mod(p - 2 - st, m)], e.chunkElems());
    const bool final = st == m - 2;
    for (size_t k = 0; k < std::max(sp.size(), rp.size()); ++k) {
      if (k < sp.size()) {
        const Piece& q = sp[k];
        e.add(sched::send(next, st == 0 ? contrib(q.x, q.rel, 0, false) : acc(q.x, q.rel, st - 1, false)));
      }
      if (k < rp.size()) {
        const Piece& q = rp[k];
        e.add(sched::recvReduce(prev, contrib(q.x, q.rel, st, false), acc(q.x, q.rel, st, final)));
      }
    }
  }
}

void ringAllGatherOn(Emitter& e, const SubRing& g, const SpanOf& loc) {
  const int m = static_cast<int>(g.group.size()), p = g.me;
  if (m < 2) return;
  const int next = g.group[mod(p + 1, m)], prev = g.group[mod(p - 1, m)];
  for (int st = 0; st < m - 1; ++st) {
    const auto sp = pieces(g.blocks[mod(p - st, m)], e.chunkElems());
    const auto rp = pieces(g.blocks[mod(p - 1 - st, m)], e.chunkElems());
    for (size_t k = 0; k < std::max(sp.size(), rp.size()); ++k) {
      if (k < sp.size()) e.add(sched::send(next, loc(sp[k].x, sp[k].rel, st, false)));
      if (k < rp.size()) e.add(sched::recv(prev, loc(rp[k].x, rp[k].rel, st, false)));
    }
  }
}

void chainBroadcastOn(Emitter& e, const std::vector<int>& chain, int me, const std::vector<Range>& segs,
                      const SpanOf& src, const SpanOf& dst) {
  const int m = static_cast<int>(chain.size());
  if (me < 0 || m < 2) return;
  for (const Piece& q : pieces(segs, e.chunkElems())) {
    if (me == 0) {
      e.add(sched::send(chain[1], src(q.x, q.rel, 0, false)));
      continue;
    }
    e.add(sched::recv(chain[me - 1], dst(q.x, q.rel, 0, false)));
    if (me < m - 1) e.add(sched::send(chain[me + 1], dst(q.x, q.rel, 0, false)));
  }
}

void chainReduceOn(Emitter& e, const std::vector<int>& chain, int me, const std::vector<Range>& segs,
                   const SpanOf& contrib, const SpanOf& acc) {
  const int m = static_cast<int>(chain.size());
  if (me < 0 || m < 2) return;
  for (const Piece& q : pieces(segs, e.chunkElems())) {
    if (me == m - 1) {
      e.add(sched::send(chain[me - 1], contrib(q.x, q.rel, 0, false)));
      continue;
    }
    e.add(sched::recvReduce(chain[me + 1], contrib(q.x, q.rel, 0, false), acc(q.x, q.rel, 0, true)));
    if (me > 0) e.add(sched::send(chain[me - 1], acc(q.x, q.rel, 0, true)));
  }
}

}  // namespace loom::algo::detail
