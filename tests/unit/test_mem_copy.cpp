// mem::copyBytes: byte-exact against an independent byte loop for every size class and every
// relative placement of the two buffers (page-skewed, aligned, overlapping either way).
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "mem/copy.hpp"

using loom::mem::copyAliasesPage;
using loom::mem::copyBytes;
using loom::mem::streamCopy;

namespace {

constexpr size_t kArena = 1 << 20;

// One arena, so that overlapping placements are possible; pattern bytes that differ per index.
std::vector<uint8_t> patterned() {
  std::vector<uint8_t> v(kArena);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>(i * 131 + (i >> 8) * 7 + 1);
  return v;
}

// Copies n bytes from offset `from` to offset `to` in a fresh arena with copyBytes and with a
// byte loop that honours overlap (the reference), and compares the whole arena.
void expectSameAsByteLoop(size_t from, size_t to, size_t n) {
  std::vector<uint8_t> got = patterned(), want = patterned();
  copyBytes(got.data() + to, got.data() + from, n);
  std::vector<uint8_t> tmp(want.begin() + from, want.begin() + from + n);
  for (size_t i = 0; i < n; ++i) want[to + i] = tmp[i];
  ASSERT_EQ(got, want) << "from " << from << " to " << to << " n " << n;
}

}  // namespace

TEST(MemCopy, SkewTruthTable) {
  alignas(4096) static uint8_t page[3 * 4096];
  EXPECT_FALSE(copyAliasesPage(page + 4096, page));       // same offset in the page
  EXPECT_TRUE(copyAliasesPage(page + 16, page));          // malloc neighbours
  EXPECT_TRUE(copyAliasesPage(page + 4096 + 63, page));   // any 1..63 past, modulo 4 KiB
  EXPECT_FALSE(copyAliasesPage(page + 64, page));
  EXPECT_FALSE(copyAliasesPage(page, page + 16));         // destination behind the source
}

TEST(MemCopy, EverySizeAndPlacementMatchesByteLoop) {
  const size_t sizes[] = {0, 1, 63, 64, 65, 511, 512, 513, 4096, 4096 + 17, 65536 + 40};
  // Destination offsets relative to a source at 8192 + 8: page-skewed by 8/16/48 (the vector
  // path), by 0 and 64 (memmove), overlapping forwards and backwards, and far apart.
  const long deltas[] = {4096 + 8, 4096 + 16, 8192 + 48, 4096, 4096 + 64, 16, -16, 1, -1, 300000, -8000};
  for (size_t n : sizes)
    for (long d : deltas) {
      const size_t from = 8192 + 8;
      const size_t to = static_cast<size_t>(static_cast<long>(from) + d);
      if (to + n > kArena) continue;
      expectSameAsByteLoop(from, to, n);
    }
}

// Streaming stores (shm ring slots): any size and source alignment, destinations aligned to 16
// (the streamed part) or not (a plain copy); bytes around the destination untouched.
TEST(MemCopy, StreamCopyMatchesTheSourceAndTouchesNothingElse) {
  const size_t sizes[] = {0, 1, 15, 63, 64, 65, 127, 128, 4096 + 17, (256 << 10) + 40};
  for (size_t n : sizes)
    for (size_t srcOff : {size_t(0), size_t(8), size_t(13)})
      for (size_t dstOff : {size_t(64), size_t(16), size_t(3)}) {
        std::vector<uint8_t> src = patterned();
        std::vector<uint8_t> arena(kArena, 0xee), want(kArena, 0xee);
        streamCopy(arena.data() + dstOff, src.data() + srcOff, n);
        for (size_t i = 0; i < n; ++i) want[dstOff + i] = src[srcOff + i];
        ASSERT_EQ(arena, want) << "n " << n << " src +" << srcOff << " dst +" << dstOff;
      }
}
