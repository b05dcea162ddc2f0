#include "core/log.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>

namespace loom::log {

namespace {

// Reads LOOM_DEBUG directly: the parameter registry logs through us.
Level parseLevel() {
  const char* v = std::getenv("LOOM_DEBUG");
  if (!v || !*v) return Level::Warn;
  std::string s(v);
  for (auto& c : s) c = static_cast<char>(toupper(c));
  if (s == "NONE") return Level::None;
  if (s == "ERROR") return Level::Error;
  if (s == "INFO") return Level::Info;
  if (s == "DEBUG") return Level::Debug;
  if (s == "TRACE") return Level::Trace;
  return Level::Warn;
}

FILE* openSink() {
  const char* path = std::getenv("LOOM_DEBUG_FILE");
  if (!path || !*path) return stderr;
  std::string name;
  char host[64] = {};
  gethostname(host, sizeof host - 1);
  for (const char* p = path; *p; ++p) {
    if (p[0] == '%' && p[1] == 'h') { name += host; ++p; }
    else if (p[0] == '%' && p[1] == 'p') { name += std::to_string(getpid()); ++p; }
    else name += *p;
  }
  FILE* f = std::fopen(name.c_str(), "a");
  return f ? f : stderr;
}

const char* levelName(Level l) {
  switch (l) {
    case Level::Error: return "ERROR";
    case Level::Warn: return "WARN";
    case Level::Info: return "INFO";
    case Level::Debug: return "DEBUG";
    case Level::Trace: return "TRACE";
    default: return "";
  }
}

}  // namespace

Level threshold() {
  static const Level level = parseLevel();
  return level;
}

void write(Level level, std::string_view message) {
  static std::mutex mu;
  static FILE* sink = openSink();
  static char host[64] = {};
  std::lock_guard lock(mu);
  if (!host[0]) gethostname(host, sizeof host - 1);
  double t = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  fmt::print(sink, "{}:{} [{:.3f}] LOOM {} {}\n", host, getpid(), t, levelName(level), message);
  std::fflush(sink);
}

}  // namespace loom::log
