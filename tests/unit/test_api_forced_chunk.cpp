// LOOM_ALGO forces the algorithm, not the chunk: a forced pipelined algorithm runs the chunk the
// cost model would pick for it, the one auto runs where it picks that algorithm too.
#include <gtest/gtest.h>
#include <loom/loom.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace {

struct Figure {
  std::string algo;
  double us = 0;
};

// loomEstimateRepeated of allreduce from 16 KiB to 64 MiB on 2 ranks, with LOOM_ALGO = algo
// (nullptr: unset).
std::vector<Figure> allreduceEstimates(const char* algo) {
  if (algo) setenv("LOOM_ALGO", algo, 1);
  else unsetenv("LOOM_ALGO");
  std::vector<Figure> out;
  loomComm_t comms[2] = {};
  EXPECT_EQ(loomCommInitAll(comms, 2), loomSuccess) << loomGetLastError(nullptr);
  for (size_t count = 1 << 12; count <= 1 << 24; count <<= 2) {
    const char* chosen = nullptr;
    double us = 0;
    EXPECT_EQ(loomEstimateRepeated(comms[0], loomCollAllReduce, count, loomFloat32, &chosen, &us), loomSuccess);
    out.push_back({chosen ? chosen : "", us});
  }
  for (auto* c : comms)
    if (c) loomCommDestroy(c);
  unsetenv("LOOM_ALGO");
  return out;
}

TEST(ForcedAlgorithm, RunsTheChunkTheModelPicksForIt) {
  setenv("LOOM_CALIBRATE", "0", 1);  // the built-in constants: no measuring, the same every run
  unsetenv("LOOM_CHUNK_SIZE");
  const auto automatic = allreduceEstimates(nullptr);
  const auto ring = allreduceEstimates("ring");
  setenv("LOOM_CHUNK_SIZE", "512K", 1);  // the default chunk, now forced too
  const auto ringDefaultChunk = allreduceEstimates("ring");
  unsetenv("LOOM_CHUNK_SIZE");
  ASSERT_EQ(automatic.size(), ring.size());
  int same = 0, better = 0;
  for (size_t i = 0; i < ring.size(); ++i) {
    EXPECT_EQ(ring[i].algo, "ring");
    if (automatic[i].algo == "ring") {
      EXPECT_DOUBLE_EQ(ring[i].us, automatic[i].us) << "size " << i;
      ++same;
    }
    EXPECT_LE(ring[i].us, ringDefaultChunk[i].us * (1 + 1e-12)) << "size " << i;
    better += ring[i].us < ringDefaultChunk[i].us * (1 - 1e-9);
  }
  EXPECT_GT(same, 0) << "auto picked the ring at no size";
  EXPECT_GT(better, 0) << "the default chunk was the model's best at every size";
}

}  // namespace
