// log.cpp: stderr logging with elapsed-time stamps.
#include "rl/util/log.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace reasonrl {
namespace {
LogLevel g_level = LogLevel::Info;
const double g_start = now_seconds();
}  // namespace

void set_log_level(LogLevel l) { g_level = l; }

void log_line(LogLevel l, const std::string& msg) {
  if (l < g_level) return;
  static const char* tags[] = {"debug", "info", "warn", "error"};
  std::fprintf(stderr, "[%8.2fs %s] %s\n", now_seconds() - g_start, tags[int(l)], msg.c_str());
}

bool stderr_is_tty() { return isatty(fileno(stderr)) != 0; }

double now_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace reasonrl
