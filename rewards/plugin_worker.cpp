// plugin_worker.cpp: reasonrl-reward-worker, the process that hosts a shared-library reward plugin out of the trainer
// (plugins[].isolation process). The trainer supervises it exactly as a subprocess plugin: JSON lines (protocol 2,
// rewards/plugin.h), a per-call timeout, SIGKILL and restart after a crash or a hang; its address space is limited
// (RLIMIT_AS, set by the trainer before exec) and each call's CPU time is limited here (RLIMIT_CPU).
//
//   reasonrl-reward-worker NAME LIBRARY OPTIONS_JSON CPU_SECONDS_PER_CALL
// First line written: {"version":2,"ready":true} once the library is loaded and created, or {"version":2,"fatal":"…"}
// (then exit 2). Anything the library prints to stdout goes to stderr: stdout carries the protocol only.
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "rewards/plugin_library.h"
#include "rl/util/sanitizer.h"

#if REASONRL_ASAN
// In an AddressSanitizer build, a plugin's crash reaches the supervisor as the signal it is (as in release) instead of
// ASan's report and exit status 1: the worker exists to be killed by its plugin's faults.
extern "C" const char* __asan_default_options() {
  return "handle_segv=0:handle_sigbus=0:handle_sigfpe=0:handle_abort=0:handle_sigill=0";
}
#endif

namespace {

using json = nlohmann::ordered_json;
using namespace reasonrl::rewards;

FILE* g_out = nullptr;  // the protocol channel (the original stdout)

void reply(const json& j) {
  const std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  std::fwrite(s.data(), 1, s.size(), g_out);
  std::fflush(g_out);
}

// Lets this call use `seconds` more CPU time: the soft RLIMIT_CPU moves to the time used so far + seconds (SIGXCPU,
// which ends the process, past it). The hard limit is left alone: an unprivileged process cannot raise it again.
void limit_cpu_for_one_call(double seconds) {
  if (!(seconds > 0)) return;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double used = double(ru.ru_utime.tv_sec) + double(ru.ru_stime.tv_sec) +
                      1e-6 * double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  rlimit rl{};
  getrlimit(RLIMIT_CPU, &rl);
  const rlim_t want = rlim_t(std::ceil(used + seconds));
  if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max) return;
  rl.rlim_cur = want;
  setrlimit(RLIMIT_CPU, &rl);
}

}  // namespace

int main(int argc, char** argv) {
  // the protocol keeps the original stdout; the library's own prints go to stderr
  const int proto = dup(1);
  g_out = proto >= 0 ? fdopen(proto, "w") : nullptr;
  if (!g_out || dup2(2, 1) < 0) return 3;
  if (argc != 5) {
    reply({{"version", kSubprocessProtocolVersion},
           {"fatal", "usage: reasonrl-reward-worker NAME LIBRARY OPTIONS_JSON CPU_SECONDS_PER_CALL"}});
    return 2;
  }
  const double cpu_s = std::atof(argv[4]);
  std::unique_ptr<PluginLibrary> lib;
  try {
    lib = std::make_unique<PluginLibrary>(argv[1], argv[2], argv[3]);
  } catch (const std::exception& e) {
    reply({{"version", kSubprocessProtocolVersion}, {"fatal", e.what()}});
    return 2;
  }
  reply({{"version", kSubprocessProtocolVersion}, {"ready", true}});
  std::string line;
  while (std::getline(std::cin, line)) {
    json req, out;
    out["version"] = kSubprocessProtocolVersion;
    try {
      req = json::parse(line);
      out["id"] = req.at("id");
      std::vector<RewardInput> group;
      for (const auto& x : req.at("samples")) group.push_back(sample_from_json(x));
      limit_cpu_for_one_call(cpu_s);
      const std::vector<RewardScore> s = lib->score(group);
      json res = json::array();
      for (const auto& r : s) res.push_back(score_to_json(r));
      out["results"] = std::move(res);
    } catch (const std::exception& e) {
      out["error"] = std::string("worker: bad request: ") + e.what();
    }
    reply(out);
  }
  return 0;
}
