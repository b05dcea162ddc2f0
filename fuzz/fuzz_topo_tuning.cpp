// Fuzzes the decoders of topology and tuning files and of the init card every rank receives
// from every other at init: topo::fromJson (LOOM_TOPO_FILE), topo::hostFromJson (a peer's host),
// cost::fromJson (LOOM_TUNING_FILE, rank 0's tuning), core::decodeCard and core::snapshotFromJson
// (another rank's diagnostics reply). The first input byte
// picks the decoder. None may throw or crash; what one accepts must survive its own round trip.
#include "core/diag_service.hpp"
#include "core/init_card.hpp"
#include "cost/tuning.hpp"
#include "fuzz_check.hpp"
#include "topo/topology.hpp"

using namespace loom;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  std::string text = fuzz::text(data + 1, size - 1);
  switch (mode >= 0x80 ? 4 : mode % 4) {  // 0x80 and above: added later, old seeds keep their decoder
    case 0: {
      auto t = topo::fromJson(text);
      if (!t) break;
      auto back = topo::fromJson(topo::toJson(*t));
      LOOM_FUZZ_CHECK(back.isOk(), "a dumped topology does not load again");
      LOOM_FUZZ_CHECK(back.value() == t.value(), "a topology changes through dump and load");
      (void)topo::renderTree(*t);
      break;
    }
    case 1: {
      auto h = topo::hostFromJson(text);
      if (!h) break;
      auto back = topo::hostFromJson(topo::hostToJson(*h));
      LOOM_FUZZ_CHECK(back.isOk() && back.value() == h.value(), "a host changes through its round trip");
      break;
    }
    case 2: {
      auto t = cost::fromJson(text);
      if (!t) break;
      auto back = cost::fromJson(cost::toJson(*t));
      LOOM_FUZZ_CHECK(back.isOk(), "a saved tuning does not load again");
      back.value().source = t.value().source;
      LOOM_FUZZ_CHECK(back.value() == t.value(), "a tuning changes through save and load");
      break;
    }
    case 4: {
      auto s = core::snapshotFromJson(text);
      if (!s) break;
      auto back = core::snapshotFromJson(core::snapshotToJson(1, *s));
      LOOM_FUZZ_CHECK(back.isOk() && back->issued == s->issued && back->waitingOn == s->waitingOn,
                      "a progress snapshot changes through its round trip");
      break;
    }
    default: {
      auto c = core::decodeCard(text, 3);
      if (!c) break;
      auto back = core::decodeCard(core::encodeCard(*c), 3);
      LOOM_FUZZ_CHECK(back.isOk() && back->hostId == c->hostId && back->fabric == c->fabric &&
                          back->cores == c->cores,
                      "an init card changes through encode and decode");
      break;
    }
  }
  return 0;
}
