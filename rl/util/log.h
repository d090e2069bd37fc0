// log.h: timestamped log lines to stderr, and whether stderr is a terminal (for progress bars).
#pragma once
#include <fmt/format.h>

#include <string>

namespace reasonrl {

enum class LogLevel { Debug, Info, Warn, Error };
void set_log_level(LogLevel l);
void log_line(LogLevel l, const std::string& msg);
bool stderr_is_tty();

template <class... A>
void log_info(fmt::format_string<A...> f, A&&... a) { log_line(LogLevel::Info, fmt::format(f, std::forward<A>(a)...)); }
template <class... A>
void log_warn(fmt::format_string<A...> f, A&&... a) { log_line(LogLevel::Warn, fmt::format(f, std::forward<A>(a)...)); }
template <class... A>
void log_debug(fmt::format_string<A...> f, A&&... a) { log_line(LogLevel::Debug, fmt::format(f, std::forward<A>(a)...)); }

// Monotonic wall-clock seconds, for stage timers.
double now_seconds();

}  // namespace reasonrl
