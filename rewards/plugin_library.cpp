// plugin_library.cpp: loading a shared-library reward plugin (dlopen + ABI checks) and the protocol's JSON records.
#include "rewards/plugin_library.h"

#include <dlfcn.h>

#include <cmath>
#include <cstring>

#include "rewards/plugin_abi.h"
#include "rl/util/error.h"

namespace reasonrl::rewards {

using json = nlohmann::ordered_json;

PluginLibrary::PluginLibrary(const std::string& name, const std::string& path, const std::string& options_json) {
  handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle_) throw PluginError("plugin '" + name + "': cannot load '" + path + "': " + dlerror());
  auto fail = [&](const std::string& msg) {
    dlclose(handle_);
    handle_ = nullptr;
    throw PluginError(msg);
  };
  auto sym = [&](const char* s) {
    dlerror();
    void* p = dlsym(handle_, s);
    if (!p) fail("plugin '" + name + "' (" + path + "): missing symbol '" + s + "' (see rewards/plugin_abi.h)");
    return p;
  };
  auto version = reinterpret_cast<reasonrl_reward_abi_version_fn>(sym("reasonrl_reward_abi_version"));
  auto create = reinterpret_cast<reasonrl_reward_create_fn>(sym("reasonrl_reward_create"));
  score_ = sym("reasonrl_reward_score");
  destroy_ = sym("reasonrl_reward_destroy");
  const uint32_t v = version();
  if (v != REASONRL_REWARD_ABI_VERSION)
    fail("plugin '" + name + "' (" + path + ") was built for reward ABI version " + std::to_string(v) +
         "; this build speaks version " + std::to_string(REASONRL_REWARD_ABI_VERSION));
  char err[512] = {0};
  state_ = create(options_json.c_str(), err, sizeof err);
  if (!state_) fail("plugin '" + name + "': create failed: " + std::string(err[0] ? err : "(no message)"));
}

PluginLibrary::~PluginLibrary() {
  if (handle_) {
    if (state_) reinterpret_cast<reasonrl_reward_destroy_fn>(destroy_)(state_);
    dlclose(handle_);
  }
}

std::vector<RewardScore> PluginLibrary::score(const std::vector<RewardInput>& group) {
  const size_t n = group.size();
  std::vector<std::string> metas(n);
  std::vector<reasonrl_reward_sample> in(n);
  std::vector<reasonrl_reward_result> out(n);
  for (size_t i = 0; i < n; ++i) {
    const auto& g = group[i];
    metas[i] = g.meta.is_null() ? "{}" : g.meta.dump();
    in[i] = {g.prompt.c_str(), g.response.c_str(), g.gold.c_str(), g.task.c_str(), metas[i].c_str(),
             g.finish_reason.c_str(), g.response_tokens, g.max_response_tokens};
    out[i].score = 0;
    out[i].status = REASONRL_REWARD_ERROR;
    out[i].correct = -1;
    std::strcpy(out[i].error, "plugin did not set a result");
  }
  const int rc = reinterpret_cast<reasonrl_reward_score_fn>(score_)(state_, in.data(), n, out.data());
  std::vector<RewardScore> s(n);
  for (size_t i = 0; i < n; ++i) {
    if (rc != 0) {
      s[i].error = "plugin returned " + std::to_string(rc) + " for the batch";
      continue;
    }
    out[i].error[sizeof out[i].error - 1] = '\0';
    switch (out[i].status) {
      case REASONRL_REWARD_OK: s[i].value = out[i].score; break;
      case REASONRL_REWARD_NOT_APPLICABLE: break;
      default: s[i].error = out[i].error[0] ? out[i].error : "plugin error"; break;
    }
    if (out[i].correct == 0 || out[i].correct == 1) s[i].correct = out[i].correct == 1;
  }
  return s;
}

json sample_to_json(const RewardInput& g) {
  json x;
  x["prompt"] = g.prompt;
  x["response"] = g.response;
  x["gold"] = g.gold;
  x["task"] = g.task;
  x["meta"] = g.meta.is_null() ? json::object() : g.meta;
  x["response_tokens"] = g.response_tokens;
  x["max_response_tokens"] = g.max_response_tokens;
  x["finish_reason"] = g.finish_reason;
  return x;
}

RewardInput sample_from_json(const json& x) {
  RewardInput g;
  g.prompt = x.value("prompt", "");
  g.response = x.value("response", "");
  g.gold = x.value("gold", "");
  g.task = x.value("task", "math");
  g.meta = x.contains("meta") ? x["meta"] : json::object();
  g.response_tokens = x.value("response_tokens", -1);
  g.max_response_tokens = x.value("max_response_tokens", 0);
  g.finish_reason = x.value("finish_reason", "");
  return g;
}

json score_to_json(const RewardScore& s) {
  json x = json::object();
  if (!s.error.empty()) {
    x["error"] = s.error;
    return x;
  }
  // a non-finite value has no JSON number: sent as an error (the manager would make it one anyway)
  if (s.value && !std::isfinite(*s.value)) {
    x["error"] = "non-finite value";
    return x;
  }
  x["score"] = s.value ? json(*s.value) : json(nullptr);
  if (s.correct) x["correct"] = *s.correct;
  return x;
}

RewardScore score_from_json(const json& x) {
  RewardScore s;
  if (!x.is_object()) {
    s.error = "result is not an object";
    return s;
  }
  if (x.contains("error") && !x["error"].is_null()) {
    s.error = x["error"].is_string() ? x["error"].get<std::string>() : x["error"].dump();
    return s;
  }
  if (x.contains("score") && x["score"].is_number()) s.value = x["score"].get<double>();
  else if (!(x.contains("score") && x["score"].is_null())) s.error = "result has no numeric 'score'";
  if (x.contains("correct") && x["correct"].is_boolean()) s.correct = x["correct"].get<bool>();
  return s;
}

}  // namespace reasonrl::rewards
