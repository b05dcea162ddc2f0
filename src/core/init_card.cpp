#include "core/init_card.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace loom::core {

using nlohmann::json;

std::string encodeCard(const InitCard& c) {
  json j = {{"control", ControlPort::encode(c.control)},
            {"host_id", c.hostId},
            {"cores", c.cores},
            {"fabric", c.fabric}};
  if (c.diag.port) j["diag"] = ControlPort::encode(c.diag);
  if (!c.tuning.empty()) j["tuning"] = c.tuning;
  if (!c.host.empty()) j["host"] = c.host;
  // LOOM_HOST_ID may hold any bytes: replace invalid UTF-8 rather than throw.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<InitCard> decodeCard(const std::string& text, int fromRank) {
  auto bad = [&](const std::string& what) {
    return remoteError(fmt::format("malformed init exchange from rank {}: {}", fromRank, what), fromRank);
  };
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return bad("not a JSON object");
  InitCard c;
  auto str = [&](const char* key, std::string* out, bool required) {
    auto it = j.find(key);
    if (it == j.end()) return !required;
    if (!it->is_string()) return false;
    *out = it->get<std::string>();
    return true;
  };
  std::string control;
  if (!str("control", &control, true)) return bad("control");
  auto ctl = ControlPort::decode(control);
  if (!ctl.isOk()) return bad("control");
  c.control = ctl.value();
  std::string diag;
  if (!str("diag", &diag, false)) return bad("diag");
  if (!diag.empty()) {
    auto d = ControlPort::decode(diag);
    if (!d.isOk()) return bad("diag");
    c.diag = d.value();
  }
  if (!str("host_id", &c.hostId, true)) return bad("host_id");
  if (!str("fabric", &c.fabric, true)) return bad("fabric");
  if (!str("tuning", &c.tuning, false)) return bad("tuning");
  if (!str("host", &c.host, false)) return bad("host");
  // Checked as unsigned 64 bits: get<int>() would wrap 4294967297 to 1 and accept it.
  auto cores = j.find("cores");
  if (cores == j.end() || !cores->is_number_unsigned() || cores->get<uint64_t>() < 1 ||
      cores->get<uint64_t>() > kMaxCores)
    return bad(fmt::format("cores must be a whole number from 1 to {}", kMaxCores));
  c.cores = static_cast<int>(cores->get<uint64_t>());
  return c;
}

}  // namespace loom::core
