// Fuzzes the decoders of environment text: params::parseBytes (every LOOM_* size knob),
// algo::parseAlgoOverride (LOOM_ALGO) and bootstrap::expandNodelist (SLURM_*NODELIST). The first
// input byte picks the decoder. An accepted LOOM_ALGO must resolve every collective at every
// size to an algorithm that implements it; an accepted node list must expand to plain names.
#include <algorithm>
#include <charconv>
#include <cstdint>

#include "algo/select.hpp"
#include "bootstrap/launch_env.hpp"
#include "core/params.hpp"
#include "fuzz_check.hpp"

namespace {

void bytes(const std::string& text) {
  uint64_t out = 0;
  if (!loom::params::parseBytes(text, &out)) return;
  LOOM_FUZZ_CHECK(!text.empty() && text[0] >= '0' && text[0] <= '9', "parseBytes accepted a non-number");
  uint64_t plain = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), plain);
  if (ec == std::errc() && ptr == text.data() + text.size()) LOOM_FUZZ_CHECK(out == plain, "unsuffixed size changed");
}

void algoOverride(const std::string& text) {
  using namespace loom::algo;
  auto ov = parseAlgoOverride(text);
  if (!ov) {
    LOOM_FUZZ_CHECK(ov.status().code() == loomInvalidArgument, "LOOM_ALGO error with another code");
    return;
  }
  for (size_t c = 0; c < kNumColls; ++c) {
    const Coll coll = static_cast<Coll>(c);
    const auto valid = algorithmsFor(coll);
    // The board runs outside the schedule list, so it is valid where boardImplements says.
    auto implements = [&](Algo a) {
      return a == Algo::Board ? boardImplements(coll) : std::find(valid.begin(), valid.end(), a) != valid.end();
    };
    for (const AlgoRule& r : ov->rules[c]) {
      LOOM_FUZZ_CHECK(r.lo < r.hi, "empty range accepted");
      LOOM_FUZZ_CHECK(r.algo == Algo::Auto || implements(r.algo), "rule names an algorithm that does not implement the collective");
    }
    for (size_t b : {size_t{0}, size_t{1}, size_t{4096}, size_t{65536}, size_t{1} << 20, size_t{1} << 30, SIZE_MAX - 1})
      for (int n : {1, 2, 3, 8}) {
        Algo a = resolveAlgo(*ov, coll, b, n);
        LOOM_FUZZ_CHECK(a != Algo::Auto && implements(a), "resolveAlgo chose an algorithm that does not implement the collective");
      }
  }
}

void nodelist(const std::string& text) {
  auto hosts = loom::bootstrap::expandNodelist(text, "SLURM_NODELIST");
  if (!hosts) return;
  LOOM_FUZZ_CHECK(!hosts->empty() && hosts->size() <= (1u << 20), "host count out of bounds");
  for (const auto& h : *hosts)
    LOOM_FUZZ_CHECK(!h.empty() && h.find_first_of("[],") == std::string::npos, "an expanded name is not plain");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  std::string text = loom::fuzz::text(data + 1, size - 1);
  switch (mode % 3) {
    case 0: bytes(text); break;
    case 1: algoOverride(text); break;
    default: nodelist(text); break;
  }
  return 0;
}
