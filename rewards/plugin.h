// plugin.h: user rewards outside the binary: a shared library (C ABI of plugin_abi.h) or a subprocess speaking JSON
// lines on stdin/stdout. Both out-of-process kinds share one supervisor: batched requests, a per-call timeout, SIGKILL
// and restart after a crash, a hang or a protocol error (at most max_restarts times, then errors only), an address
// space limit (RLIMIT_AS), and errors recorded per sample (never a 0 score). A shared library runs in a worker process
// (reasonrl-reward-worker, plugins[].isolation process, the default) or, with isolation none, in the trainer (unsafe).
// With plugins[].workers N > 1, N such processes score a batch's groups in parallel (group g goes to the (g mod N)-th
// process still usable when the batch starts), each supervised on its own: a crash costs the groups of that process's
// call, and only that process restarts.
//
// Subprocess protocol, version 2. One request line per batch, with an id the reply must echo:
//   {"version":2,"id":7,"options":{...},"samples":[{"prompt":..,"response":..,"gold":..,"task":..,"meta":{..},
//     "response_tokens":N,"max_response_tokens":N,"finish_reason":".."}, ...]}
// Exactly one reply line:
//   {"version":2,"id":7,"results":[{"score":1.0,"correct":true}, {"score":null}, {"error":"why"}, ...]}  (one per sample)
// A missing/garbled reply, a wrong or missing id, any output besides the one reply line, a crash or a timeout records
// an error for every sample of the batch; the process is killed and restarted on the next call. (Version 1 had no id:
// a plugin that wrote one extra line shifted every later batch's rewards by one batch.)
#pragma once

#include <memory>
#include <string>

#include "rewards/plugin_library.h"
#include "rewards/reward.h"
#include "rewards/reward_config.h"

namespace reasonrl::rewards {

// Loads/starts the plugin described by `spec`. A missing file, a missing symbol, an ABI version mismatch or a failed
// create is a PluginError (for a shared library in a worker: reported by the worker at start).
std::unique_ptr<Reward> make_plugin_reward(const PluginSpec& spec);

// The worker executable for isolation process: $REASONRL_REWARD_WORKER, else reasonrl-reward-worker next to the
// running program, else the one of this build tree. PluginError when none is executable.
std::string reward_worker_path();

// Whether max_memory_mb (RLIMIT_AS on the plugin's process) is applied. False in an AddressSanitizer build only: ASan
// reserves terabytes of shadow address space at start, so any address-space limit would stop every worker before it
// runs; sanitized builds run plugins without the memory limit (the CPU and wall-clock limits still apply).
bool plugin_memory_limit_enforced();

}  // namespace reasonrl::rewards
