// The init card every rank sends every other (init_card.cpp): a round trip keeps every field,
// and a malformed card is refused with the sender's rank and the field named.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "core/init_card.hpp"

using namespace loom;
using namespace loom::core;

namespace {

std::string cardWithCores(const std::string& cores) {
  InitCard c;
  c.control = {"127.0.0.1", 4000};
  c.hostId = "h";
  c.fabric = "f";
  std::string text = encodeCard(c);
  const std::string key = "\"cores\":";
  const size_t at = text.find(key) + key.size();
  return text.replace(at, text.find_first_of(",}", at) - at, cores);
}

}  // namespace

TEST(InitCard, RoundTripKeepsEveryField) {
  InitCard c;
  c.control = {"10.0.0.7", 4100};
  c.diag = {"10.0.0.7", 4101};
  c.hostId = "node7";
  c.cores = 96;
  c.fabric = "fabric-address";
  c.tuning = "{}";
  c.host = "{\"name\":\"node7\"}";
  auto back = decodeCard(encodeCard(c), 5);
  ASSERT_TRUE(back.isOk()) << back.status().message();
  EXPECT_EQ(back->control.port, 4100);
  EXPECT_EQ(back->diag.port, 4101);
  EXPECT_EQ(back->hostId, "node7");
  EXPECT_EQ(back->cores, 96);
  EXPECT_EQ(back->fabric, "fabric-address");
  EXPECT_EQ(back->tuning, "{}");
  EXPECT_EQ(back->host, "{\"name\":\"node7\"}");
}

// A core count must be a whole number in range; 4294967297 once wrapped to 1 and was taken.
TEST(InitCard, CoresMustBeAPositiveCountInRange) {
  ASSERT_TRUE(decodeCard(cardWithCores("3"), 2).isOk());
  for (const char* bad : {"0", "-4", "2.5", "\"two\"", "4294967297", "1e30", "18446744073709551615"}) {
    auto c = decodeCard(cardWithCores(bad), 2);
    ASSERT_FALSE(c.isOk()) << "cores " << bad << " was accepted as " << c->cores;
    EXPECT_EQ(c.status().code(), loomRemoteError) << bad;
    EXPECT_NE(c.status().message().find("from rank 2"), std::string::npos) << c.status().message();
    EXPECT_NE(c.status().message().find("cores must be a whole number from 1 to"), std::string::npos)
        << c.status().message();
  }
}

TEST(InitCard, MissingOrMistypedFieldsAreNamed) {
  InitCard c;
  c.control = {"127.0.0.1", 4000};
  c.hostId = "h";
  c.fabric = "f";
  const auto good = nlohmann::json::parse(encodeCard(c));
  EXPECT_NE(decodeCard("[1,2]", 1).status().message().find("not a JSON object"), std::string::npos);
  for (const char* field : {"control", "host_id", "fabric"}) {
    auto missing = good, mistyped = good;
    missing.erase(field);
    mistyped[field] = 7;
    for (const auto& card : {missing, mistyped}) {
      auto back = decodeCard(card.dump(), 1);
      ASSERT_FALSE(back.isOk()) << card.dump();
      EXPECT_NE(back.status().message().find(std::string("rank 1: ") + field), std::string::npos)
          << back.status().message();
    }
  }
}
