// Bad input returns its documented code with a message naming the problem; nothing crashes.
#include <gtest/gtest.h>
#include <loom/loom.h>

#include <string>
#include <thread>
#include <vector>

namespace {

class ApiErrors : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(loomCommInitAll(comms_, 2), loomSuccess) << loomGetLastError(nullptr); }
  void TearDown() override {
    for (auto* c : comms_)
      if (c) loomCommDestroy(c);
  }
  std::string lastError() const { return loomGetLastError(comms_[0]); }
  loomComm_t comms_[2] = {};
  float buf_[64] = {};
};

TEST_F(ApiErrors, NullBufferWithCount) {
  EXPECT_EQ(loomAllReduce(nullptr, buf_, 4, loomFloat32, loomSum, comms_[0], nullptr), loomInvalidArgument);
  EXPECT_NE(lastError().find("sendbuff is NULL"), std::string::npos) << lastError();
  EXPECT_EQ(loomAllGather(buf_, nullptr, 4, loomFloat32, comms_[0], nullptr), loomInvalidArgument);
  EXPECT_NE(lastError().find("recvbuff is NULL"), std::string::npos) << lastError();
  EXPECT_EQ(loomSend(nullptr, 4, loomFloat32, 1, comms_[0], nullptr), loomInvalidArgument);
}

TEST_F(ApiErrors, CountOverflow) {
  EXPECT_EQ(loomAllReduce(buf_, buf_, SIZE_MAX / 2, loomFloat32, loomSum, comms_[0], nullptr), loomInvalidArgument);
  EXPECT_NE(lastError().find("overflows"), std::string::npos) << lastError();
}

TEST_F(ApiErrors, UnknownTypeAndOp) {
  EXPECT_EQ(loomAllReduce(buf_, buf_, 4, static_cast<loomDataType_t>(99), loomSum, comms_[0], nullptr),
            loomInvalidArgument);
  EXPECT_NE(lastError().find("unknown datatype 99"), std::string::npos) << lastError();
  EXPECT_EQ(loomAllReduce(buf_, buf_, 4, loomFloat32, static_cast<loomRedOp_t>(42), comms_[0], nullptr),
            loomInvalidArgument);
  EXPECT_NE(lastError().find("42"), std::string::npos) << lastError();
}

TEST_F(ApiErrors, RootAndPeerOutOfRange) {
  EXPECT_EQ(loomBroadcast(buf_, buf_, 4, loomFloat32, 2, comms_[0], nullptr), loomInvalidArgument);
  EXPECT_NE(lastError().find("root 2 is out of range"), std::string::npos) << lastError();
  EXPECT_EQ(loomReduce(buf_, buf_, 4, loomFloat32, loomSum, -1, comms_[0], nullptr), loomInvalidArgument);
  EXPECT_EQ(loomRecv(buf_, 4, loomFloat32, 5, comms_[0], nullptr), loomInvalidArgument);
  EXPECT_NE(lastError().find("peer 5 is out of range"), std::string::npos) << lastError();
}

TEST_F(ApiErrors, NullArguments) {
  EXPECT_EQ(loomCommCount(comms_[0], nullptr), loomInvalidArgument);
  EXPECT_EQ(loomCommUserRank(nullptr, nullptr), loomInvalidArgument);
  EXPECT_EQ(loomTest(nullptr, nullptr), loomInvalidArgument);
  EXPECT_EQ(loomWait(nullptr), loomInvalidArgument);
  EXPECT_EQ(loomGetUniqueId(nullptr), loomInvalidArgument);
  EXPECT_EQ(loomAllToAllv(buf_, nullptr, nullptr, buf_, nullptr, nullptr, loomFloat32, comms_[0], nullptr),
            loomInvalidArgument);
}

TEST_F(ApiErrors, PreMulSumTypeMismatch) {
  float scalar = 2;
  loomRedOp_t op;
  ASSERT_EQ(loomRedOpCreatePreMulSum(&op, &scalar, loomFloat32, loomScalarHostImmediate, comms_[0]), loomSuccess);
  EXPECT_EQ(loomAllReduce(buf_, buf_, 4, loomFloat64, op, comms_[0], nullptr), loomInvalidArgument);
  EXPECT_NE(lastError().find("created for datatype"), std::string::npos) << lastError();
  EXPECT_EQ(loomRedOpDestroy(op, comms_[0]), loomSuccess);
  EXPECT_EQ(loomRedOpDestroy(op, comms_[0]), loomInvalidArgument);
}

TEST_F(ApiErrors, EstimatesNameBadArguments) {
  const char* algo = nullptr;
  double us = -1;
  EXPECT_EQ(loomEstimate(comms_[0], static_cast<loomCollective_t>(42), 4, loomFloat32, &algo, &us), loomInvalidArgument);
  EXPECT_NE(lastError().find("loomEstimate: unknown collective 42"), std::string::npos) << lastError();
  EXPECT_EQ(loomEstimateRepeated(comms_[0], loomCollBroadcast, 4, static_cast<loomDataType_t>(99), &algo, &us),
            loomInvalidArgument);
  EXPECT_NE(lastError().find("loomEstimateRepeated: unknown datatype 99"), std::string::npos) << lastError();
  EXPECT_EQ(loomEstimateRepeated(comms_[0], loomCollBroadcast, 4, loomFloat32, &algo, nullptr), loomInvalidArgument);
  EXPECT_NE(lastError().find("microseconds is NULL"), std::string::npos) << lastError();
  EXPECT_EQ(loomEstimateRepeated(nullptr, loomCollBroadcast, 4, loomFloat32, &algo, &us), loomInvalidArgument);
}

TEST_F(ApiErrors, EstimatesAloneAndRepeated) {
  // Both figures come from one model and agree on the algorithm; a loop of calls never costs
  // more per call than one call alone (consecutive calls can only overlap).
  for (loomCollective_t c : {loomCollAllReduce, loomCollBroadcast, loomCollAllGather}) {
    const char *alone = nullptr, *looped = nullptr;
    double one = -1, each = -1;
    ASSERT_EQ(loomEstimate(comms_[0], c, 1 << 16, loomFloat32, &alone, &one), loomSuccess) << lastError();
    ASSERT_EQ(loomEstimateRepeated(comms_[0], c, 1 << 16, loomFloat32, &looped, &each), loomSuccess) << lastError();
    EXPECT_STREQ(alone, looped);
    EXPECT_GT(each, 0);
    EXPECT_LE(each, one + 1e-9) << "collective " << c;
  }
}

TEST(ApiInit, BadRankAndSize) {
  loomUniqueId id{};
  loomComm_t comm;
  EXPECT_EQ(loomCommInitRank(&comm, 0, id, 0), loomInvalidArgument);
  EXPECT_NE(std::string(loomGetLastError(nullptr)).find("nranks is 0"), std::string::npos);
  EXPECT_EQ(loomCommInitRank(&comm, 2, id, 2), loomInvalidArgument);
  EXPECT_NE(std::string(loomGetLastError(nullptr)).find("rank 2 is out of range"), std::string::npos);
  EXPECT_EQ(loomCommInitAll(&comm, 0), loomInvalidArgument);
  EXPECT_EQ(loomCommInitRank(nullptr, 2, id, 0), loomInvalidArgument);
}

TEST(ApiInit, GarbageUniqueIdIsRejected) {
  loomUniqueId id;
  for (size_t i = 0; i < sizeof id.internal; ++i) id.internal[i] = static_cast<char>(i * 7);
  loomComm_t comm;
  loomResult_t r = loomCommInitRank(&comm, 2, id, 0);
  EXPECT_EQ(r, loomInvalidArgument) << loomGetLastError(nullptr);
}

TEST(ApiInit, UseAfterDestroy) {
  loomComm_t comms[2];
  ASSERT_EQ(loomCommInitAll(comms, 2), loomSuccess);
  loomComm_t dead = comms[0];
  ASSERT_EQ(loomCommDestroy(comms[0]), loomSuccess);
  ASSERT_EQ(loomCommDestroy(comms[1]), loomSuccess);
  float x = 1;
  EXPECT_EQ(loomAllReduce(&x, &x, 1, loomFloat32, loomSum, dead, nullptr), loomInvalidUsage);
  EXPECT_NE(std::string(loomGetLastError(nullptr)).find("destroyed"), std::string::npos);
  EXPECT_EQ(loomCommDestroy(dead), loomInvalidUsage);
}

TEST(ApiInit, CountZeroReturnsAtOnce) {
  loomComm_t comms[2];
  ASSERT_EQ(loomCommInitAll(comms, 2), loomSuccess);
  std::vector<std::thread> ts;
  loomResult_t res[2];
  for (int r = 0; r < 2; ++r)
    ts.emplace_back([&, r] { res[r] = loomAllReduce(nullptr, nullptr, 0, loomFloat32, loomSum, comms[r], nullptr); });
  for (auto& t : ts) t.join();
  EXPECT_EQ(res[0], loomSuccess);
  EXPECT_EQ(res[1], loomSuccess);
  loomCommDestroy(comms[0]);
  loomCommDestroy(comms[1]);
}

TEST(ApiMisc, ErrorStringsAndVersion) {
  for (int r = 0; r < loomNumResults; ++r) EXPECT_STRNE(loomGetErrorString(static_cast<loomResult_t>(r)), "");
  EXPECT_STREQ(loomGetErrorString(static_cast<loomResult_t>(77)), "unknown result code");
  int v = 0;
  EXPECT_EQ(loomGetVersion(&v), loomSuccess);
  EXPECT_EQ(v, LOOM_VERSION_CODE);
}

}  // namespace
