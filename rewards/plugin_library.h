// plugin_library.h: one loaded shared-library reward plugin (the C ABI of plugin_abi.h, dlopen) and the JSON-lines
// protocol of out-of-process plugins (request and reply records). Shared by the trainer's plugin rewards (plugin.cpp)
// and the worker process that hosts a shared library out of the trainer (plugin_worker.cpp).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rewards/reward.h"

namespace reasonrl::rewards {

// Protocol version of subprocess plugins and of the shared-library worker (2: requests carry an id the reply echoes).
inline constexpr int kSubprocessProtocolVersion = 2;

// A shared library loaded with dlopen, its version checked and its state created. A missing file or symbol, an ABI
// version mismatch (naming both versions) or a failed create is a PluginError naming `name` and the path.
class PluginLibrary {
 public:
  PluginLibrary(const std::string& name, const std::string& path, const std::string& options_json);
  ~PluginLibrary();
  PluginLibrary(const PluginLibrary&) = delete;
  PluginLibrary& operator=(const PluginLibrary&) = delete;
  // Scores one batch in this process (a crash or hang in the library is this process's).
  std::vector<RewardScore> score(const std::vector<RewardInput>& group);

 private:
  void* handle_ = nullptr;
  void* state_ = nullptr;
  void* score_ = nullptr;
  void* destroy_ = nullptr;
};

// ---- protocol records (JSON) ----
nlohmann::ordered_json sample_to_json(const RewardInput& g);
RewardInput sample_from_json(const nlohmann::ordered_json& x);
// {"score": x, "correct": b} | {"score": null} | {"error": "..."}
nlohmann::ordered_json score_to_json(const RewardScore& s);
RewardScore score_from_json(const nlohmann::ordered_json& x);

}  // namespace reasonrl::rewards
