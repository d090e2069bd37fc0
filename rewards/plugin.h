// plugin.h: user rewards outside the binary: a shared library (C ABI of plugin_abi.h, loaded with dlopen) or a
// subprocess speaking JSON lines on stdin/stdout (batched, per-call timeout, restart after a crash, errors per sample).
//
// Subprocess protocol, version 1. One request line per batch:
//   {"version":1,"options":{...},"samples":[{"prompt":..,"response":..,"gold":..,"task":..,"meta":{..},
//     "response_tokens":N,"max_response_tokens":N,"finish_reason":".."}, ...]}
// One reply line:
//   {"version":1,"results":[{"score":1.0,"correct":true}, {"score":null}, {"error":"why"}, ...]}   (one per sample)
// A missing/garbled reply, a crash or a timeout records an error for every sample of the batch (never a 0 score);
// the process is restarted on the next call, at most max_restarts times.
#pragma once

#include <memory>

#include "rewards/reward.h"
#include "rewards/reward_config.h"

namespace reasonrl::rewards {

// Loads/starts the plugin described by `spec`. A missing file, a missing symbol or an ABI version mismatch is a PluginError.
std::unique_ptr<Reward> make_plugin_reward(const PluginSpec& spec);

inline constexpr int kSubprocessProtocolVersion = 1;

}  // namespace reasonrl::rewards
