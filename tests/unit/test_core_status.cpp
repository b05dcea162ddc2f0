// Status: an OK status carries nothing; an error keeps its code, message, peer and errno through
// copies and moves.
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "core/status.hpp"

namespace loom {
namespace {

void expectError(const Status& s, const std::string& message) {
  EXPECT_FALSE(s.isOk());
  EXPECT_EQ(s.code(), loomRemoteError);
  EXPECT_EQ(s.message(), message);
  EXPECT_EQ(s.peer(), 3);
  EXPECT_EQ(s.sysErrno(), 5);
}

TEST(Status, OkCarriesNothing) {
  Status ok;
  EXPECT_TRUE(ok.isOk());
  EXPECT_EQ(ok.code(), loomSuccess);
  EXPECT_EQ(ok.message(), "");
  EXPECT_EQ(ok.peer(), -1);
  EXPECT_EQ(ok.sysErrno(), 0);
}

TEST(Status, CopiesAreIndependent) {
  Status a(loomRemoteError, "rank 3 failed", 3, 5);
  Status b = a;
  expectError(b, "rank 3 failed");
  a = Status{};  // the copy keeps its own message
  expectError(b, "rank 3 failed");
  Status c;
  c = b;
  expectError(c, "rank 3 failed");
  b = Status(loomTimeout, "later");
  expectError(c, "rank 3 failed");
}

TEST(Status, MovesKeepEverything) {
  Status a(loomRemoteError, "rank 3 failed", 3, 5);
  Status b = std::move(a);
  expectError(b, "rank 3 failed");
  Status c;
  c = std::move(b);
  expectError(c, "rank 3 failed");
  std::vector<Status> many;
  for (int i = 0; i < 100; ++i) many.push_back(c);  // reallocations move the elements
  for (const auto& s : many) expectError(s, "rank 3 failed");
}

TEST(Status, SelfAssignmentKeepsTheError) {
  Status a(loomRemoteError, "rank 3 failed", 3, 5);
  Status& alias = a;
  a = alias;
  expectError(a, "rank 3 failed");
  a = std::move(alias);
  expectError(a, "rank 3 failed");
}

TEST(Status, ResultHoldsAValueOrAnError) {
  Result<int> good = 7;
  ASSERT_TRUE(good.isOk());
  EXPECT_EQ(good.value(), 7);
  Result<int> bad = Status(loomRemoteError, "rank 3 failed", 3, 5);
  ASSERT_FALSE(bad.isOk());
  expectError(bad.status(), "rank 3 failed");
  expectError(bad.takeStatus(), "rank 3 failed");
}

}  // namespace
}  // namespace loom
