// Unique id encoding, hex form, Slurm host lists and the root's address choice.
#include <gtest/gtest.h>

#include "bootstrap/bootstrap.hpp"
#include "bootstrap/launch_env.hpp"
#include "bootstrap/wire.hpp"
#include "os/net.hpp"

using namespace loom;
using namespace loom::bootstrap;

namespace {

RendezvousId sample(const std::string& host, uint16_t port) {
  RendezvousId id;
  id.host = host;
  id.port = port;
  for (int i = 0; i < 16; ++i) id.secret[i] = static_cast<uint8_t>(0xA0 + i);
  return id;
}

}  // namespace

TEST(BootstrapId, RoundTripIpv4AndIpv6) {
  for (auto [host, port] : {std::pair<std::string, uint16_t>{"10.1.2.3", 29500}, {"127.0.0.1", 1}, {"fd00::2", 65535},
                            {"::1", 4242}}) {
    auto raw = encodeId(sample(host, port));
    auto back = decodeId(raw);
    ASSERT_TRUE(back) << back.status().message();
    EXPECT_EQ(back->host, host);
    EXPECT_EQ(back->port, port);
    EXPECT_EQ(back->secret, sample(host, port).secret);
    std::string hex = idToHex(raw);
    EXPECT_EQ(hex.size(), 256u);
    auto fromHex = idFromHex(hex);
    ASSERT_TRUE(fromHex);
    EXPECT_EQ(0, memcmp(fromHex->internal, raw.internal, sizeof raw.internal));
  }
}

TEST(BootstrapId, RejectsCorruptIds) {
  auto good = encodeId(sample("10.0.0.1", 1234));
  loomUniqueId zero{};
  EXPECT_EQ(decodeId(zero).status().code(), loomInvalidArgument);
  for (size_t byte : {0u, 4u, 5u, 6u, 9u, 24u, 39u, 40u, 60u, 127u}) {
    loomUniqueId bad = good;
    bad.internal[byte] ^= 0x5A;
    auto r = decodeId(bad);
    EXPECT_FALSE(r) << "flipping byte " << byte << " went unnoticed";
    if (!r) {
      EXPECT_EQ(r.status().code(), loomInvalidArgument);
    }
  }
  // Bytes after an IPv4 address must be zero even under a valid checksum (fuzz_unique_id found
  // such an id decoding to the address whose id differs).
  loomUniqueId tail = good;
  tail.internal[12] = static_cast<char>(0xfd);
  uint32_t h = 2166136261u;  // FNV-1a of bytes 0..39, as the encoder stores it
  for (int i = 0; i < 40; ++i) h = (h ^ static_cast<unsigned char>(tail.internal[i])) * 16777619u;
  wire::storeLe32(tail.internal + 40, h);
  auto r = decodeId(tail);
  ASSERT_FALSE(r);
  EXPECT_NE(r.status().message().find("IPv4"), std::string::npos) << r.status().message();
  EXPECT_FALSE(decodeId(encodeId(sample("not-an-address", 1))));
  EXPECT_FALSE(decodeId(encodeId(sample("10.0.0.1", 0))));
  std::string hex = idToHex(good);
  EXPECT_FALSE(idFromHex(hex.substr(0, 50)));
  EXPECT_FALSE(idFromHex(hex + "00"));
  std::string badChar = hex;
  badChar[10] = 'x';
  EXPECT_FALSE(idFromHex(badChar));
  std::string flipped = hex;
  flipped[60] = flipped[60] == '0' ? '1' : '0';
  EXPECT_FALSE(idFromHex(flipped));
}

TEST(BootstrapNodelist, ExpandsCompressedForms) {
  using V = std::vector<std::string>;
  auto ok = [](const std::string& s) {
    auto r = expandNodelist(s);
    EXPECT_TRUE(r) << s << ": " << r.status().message();
    return r ? *r : V{};
  };
  EXPECT_EQ(ok("node[01-04,07],other"), (V{"node01", "node02", "node03", "node04", "node07", "other"}));
  EXPECT_EQ(ok("single"), (V{"single"}));
  EXPECT_EQ(ok("n[8-11]"), (V{"n8", "n9", "n10", "n11"}));
  EXPECT_EQ(ok("n[008-010]"), (V{"n008", "n009", "n010"}));
  EXPECT_EQ(ok("a[1-2]-ib,b"), (V{"a1-ib", "a2-ib", "b"}));
  EXPECT_EQ(ok("r[1-2]n[1,3]"), (V{"r1n1", "r1n3", "r2n1", "r2n3"}));
  EXPECT_EQ(ok("gpu-[3],cpu[1-1]"), (V{"gpu-3", "cpu1"}));
  for (std::string bad : {"", "n[1-", "n[3-1]", "n[a]", "n]", "a,,b", "a,", ",a", "n[1-2]]", "n[[1]]", "n[]"}) {
    auto r = expandNodelist(bad, "SLURM_STEP_NODELIST");
    EXPECT_FALSE(r) << "'" << bad << "' accepted";
    if (!r) {
      EXPECT_EQ(r.status().code(), loomInvalidArgument);
      EXPECT_NE(r.status().message().find("SLURM_STEP_NODELIST"), std::string::npos) << r.status().message();
    }
  }
}

TEST(BootstrapNodelist, SlurmPortStaysInRange) {
  for (uint64_t job : {0ull, 1ull, 123456ull, 0xFFFFFFFFull})
    for (uint64_t step : {0ull, 1ull, 4294967294ull}) {
      uint16_t p = slurmPort(job, step);
      EXPECT_GE(p, kSlurmPortBase);
      EXPECT_LT(p, kSlurmPortBase + kSlurmPortSpan);
    }
  EXPECT_NE(slurmPort(100, 0), slurmPort(100, 1));
  EXPECT_NE(slurmPort(100, 0), slurmPort(101, 0));
}

// The root's address comes from os::selectInterface (its matching is tested in test_os_posix).
TEST(BootstrapIfaddr, LoopbackIsFound) {
  bool lo = false;
  for (auto& a : os::listInterfaces()) lo = lo || (a.loopback && a.addr.family() == AF_INET);
  EXPECT_TRUE(lo);
  auto pick = os::selectInterface("", "");
  ASSERT_TRUE(pick) << pick.status().message();
  EXPECT_FALSE(pick->addr.host().empty());
  EXPECT_NE(pick->addr.host(), "?");
  auto id = createRoot();  // listens on that choice
  ASSERT_TRUE(id) << id.status().message();
  auto rid = decodeId(*id);
  ASSERT_TRUE(rid);
  EXPECT_EQ(rid->host, pick->addr.host());
}

TEST(BootstrapWire, HostPortAndRankLists) {
  std::string h;
  uint16_t p = 0;
  EXPECT_TRUE(wire::splitHostPort("node1:29500", &h, &p));
  EXPECT_EQ(h, "node1");
  EXPECT_EQ(p, 29500);
  EXPECT_TRUE(wire::splitHostPort("[fd00::1]:80", &h, &p));
  EXPECT_EQ(h, "fd00::1");
  EXPECT_FALSE(wire::splitHostPort("fd00::1", &h, &p));
  EXPECT_FALSE(wire::splitHostPort("node1", &h, &p));
  EXPECT_FALSE(wire::splitHostPort("node1:99999", &h, &p));
  EXPECT_FALSE(wire::splitHostPort(":80", &h, &p));
  EXPECT_EQ(wire::rankList({3}), "rank 3");
  EXPECT_EQ(wire::rankList({1, 4, 5, 6, 9}), "ranks 1,4-6,9");
  EXPECT_NE(wire::deriveSecret("a"), wire::deriveSecret("b"));
  EXPECT_EQ(wire::deriveSecret("job"), wire::deriveSecret("job"));
}
