// One typed registry of every LOOM_* knob: name, default, description. Values come from the
// environment (read once, on first use); `loom --list-params` prints the table.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace loom::params {

enum class Type : uint8_t { Int, Double, String, Bytes };  // Bytes accepts K/M/G suffixes

struct Param {
  const char* name;
  Type type;
  const char* defaultValue;
  const char* description;
};

const std::vector<Param>& all();

// Typed reads. An unregistered name is a bug (aborts in debug, returns the zero value
// otherwise). A malformed value in the environment logs a warning and yields the default.
int64_t getInt(std::string_view name);
double getDouble(std::string_view name);
std::string getString(std::string_view name);
uint64_t getBytes(std::string_view name);

// Parses "64", "64K", "1M", "2G" (binary multiples). False on malformed input.
bool parseBytes(std::string_view text, uint64_t* out);

}  // namespace loom::params
