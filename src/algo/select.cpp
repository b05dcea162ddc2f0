// The default size rule and the LOOM_ALGO override parser (syntax in select.hpp).
#include "algo/select.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <string>

#include "core/params.hpp"

namespace loom::algo {

namespace {

constexpr size_t kSmall = 64 * 1024;
constexpr size_t kMid = 1024 * 1024;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      parts.push_back(trim(s.substr(start, i - start)));
      start = i + 1;
    }
  }
  return parts;
}

Status badEntry(std::string_view entry, std::string_view why) {
  return invalidArgument(fmt::format("LOOM_ALGO entry '{}': {}", entry, why));
}

Result<Algo> algoFor(std::string_view entry, std::string_view name, bool haveColl, Coll coll) {
  Algo a = Algo::Auto;
  if (!parseAlgo(name, &a))
    return badEntry(entry,
                    fmt::format("unknown algorithm '{}' (ring, rhd, tree, direct, dissemination, hier, board, auto)", name));
  if (haveColl && a != Algo::Auto && !implements(a, coll))
    return badEntry(entry, fmt::format("algorithm {} does not implement {}", name, collName(coll)));
  return a;
}

Result<AlgoRule> parseRule(std::string_view entry, std::string_view text, Coll coll) {
  size_t eq = text.find('=');
  if (eq == std::string_view::npos) return badEntry(entry, fmt::format("range '{}' lacks '=ALGO'", text));
  std::string_view range = trim(text.substr(0, eq));
  size_t dash = range.find('-');
  if (dash == std::string_view::npos) return badEntry(entry, fmt::format("range '{}' is not LO-HI, LO- or -HI", range));
  AlgoRule rule;
  std::string_view lo = trim(range.substr(0, dash)), hi = trim(range.substr(dash + 1));
  uint64_t v = 0;
  if (!lo.empty()) {
    if (!params::parseBytes(lo, &v)) return badEntry(entry, fmt::format("bad size '{}'", lo));
    rule.lo = v;
  }
  if (!hi.empty()) {
    if (!params::parseBytes(hi, &v)) return badEntry(entry, fmt::format("bad size '{}'", hi));
    rule.hi = v;
  }
  if (rule.hi <= rule.lo) return badEntry(entry, fmt::format("empty range '{}'", range));
  auto a = algoFor(entry, trim(text.substr(eq + 1)), true, coll);
  if (!a) return a.status();
  rule.algo = *a;
  return rule;
}

}  // namespace

bool parseColl(std::string_view name, Coll* out) {
  for (size_t i = 0; i < kNumColls; ++i) {
    if (name == collName(static_cast<Coll>(i))) {
      *out = static_cast<Coll>(i);
      return true;
    }
  }
  return false;
}

bool AlgoOverride::empty() const {
  return all == Algo::Auto && std::all_of(rules.begin(), rules.end(), [](const auto& r) { return r.empty(); });
}

Algo chooseAlgo(Coll coll, size_t bytes, int nranks) {
  const bool pow2 = nranks > 0 && (nranks & (nranks - 1)) == 0;
  switch (coll) {
    case Coll::AllReduce: return bytes <= kSmall ? Algo::Tree : bytes <= kMid ? Algo::Rhd : Algo::Ring;
    case Coll::Broadcast:
    case Coll::Reduce: return bytes <= kSmall ? Algo::Tree : Algo::Ring;
    case Coll::AllGather:
    case Coll::ReduceScatter: return pow2 && bytes <= 4 * kSmall ? Algo::Rhd : Algo::Ring;
    case Coll::Gather:
    case Coll::Scatter: return bytes <= kSmall ? Algo::Tree : Algo::Direct;
    case Coll::AllToAll:
    case Coll::AllToAllv:
    case Coll::SendRecv: return Algo::Direct;
    case Coll::Barrier: return Algo::Dissemination;
  }
  return Algo::Ring;
}

Result<AlgoOverride> parseAlgoOverride(std::string_view text) {
  AlgoOverride ov;
  if (trim(text).empty()) return ov;
  for (std::string_view entry : split(text, ';')) {
    if (entry.empty()) continue;  // tolerate "a;;b" and a trailing ';'
    size_t colon = entry.find(':'), eq = entry.find('=');
    if (colon == std::string_view::npos && eq == std::string_view::npos) {
      auto a = algoFor(entry, entry, false, Coll::AllReduce);
      if (!a) return a.status();
      ov.all = *a;
      continue;
    }
    const bool ranged = colon != std::string_view::npos && (eq == std::string_view::npos || colon < eq);
    std::string_view name = trim(entry.substr(0, ranged ? colon : eq));
    Coll coll;
    if (!parseColl(name, &coll)) return badEntry(entry, fmt::format("unknown collective '{}'", name));
    auto& rules = ov.rules[static_cast<size_t>(coll)];
    if (!ranged) {
      auto a = algoFor(entry, trim(entry.substr(eq + 1)), true, coll);
      if (!a) return a.status();
      rules.push_back({0, SIZE_MAX, *a});
      continue;
    }
    std::string_view list = entry.substr(colon + 1);
    if (trim(list).empty()) return badEntry(entry, "no ranges after ':'");
    for (std::string_view item : split(list, ',')) {
      auto rule = parseRule(entry, item, coll);
      if (!rule) return rule.status();
      rules.push_back(*rule);
    }
  }
  return ov;
}

Algo forcedAlgo(const AlgoOverride& ov, Coll coll, size_t bytes) {
  for (const AlgoRule& rule : ov.rules[static_cast<size_t>(coll)])
    if (bytes >= rule.lo && (rule.hi == SIZE_MAX || bytes < rule.hi)) return rule.algo;
  if (ov.all != Algo::Auto && implements(ov.all, coll)) return ov.all;
  return Algo::Auto;
}

Algo resolveAlgo(const AlgoOverride& ov, Coll coll, size_t bytes, int nranks) {
  Algo a = forcedAlgo(ov, coll, bytes);
  return a == Algo::Auto ? chooseAlgo(coll, bytes, nranks) : a;
}

}  // namespace loom::algo
