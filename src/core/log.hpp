// Leveled logging to stderr (or LOOM_DEBUG_FILE), prefixed with host, pid and time.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace loom::log {

enum class Level : int { None = 0, Error = 1, Warn = 2, Info = 3, Debug = 4, Trace = 5 };

Level threshold();  // from LOOM_DEBUG, read once
void write(Level level, std::string_view message);

template <typename... Args>
void emit(Level level, fmt::format_string<Args...> f, Args&&... args) {
  if (static_cast<int>(level) <= static_cast<int>(threshold())) write(level, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace loom::log

#define LOOM_ERROR(...) ::loom::log::emit(::loom::log::Level::Error, __VA_ARGS__)
#define LOOM_WARN(...) ::loom::log::emit(::loom::log::Level::Warn, __VA_ARGS__)
#define LOOM_INFO(...) ::loom::log::emit(::loom::log::Level::Info, __VA_ARGS__)
#define LOOM_DEBUG(...) ::loom::log::emit(::loom::log::Level::Debug, __VA_ARGS__)
#define LOOM_TRACE(...) ::loom::log::emit(::loom::log::Level::Trace, __VA_ARGS__)
