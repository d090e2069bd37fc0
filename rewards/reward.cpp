// reward.cpp: the registry of reward functions by name, and the default batch scoring (group by group).
#include "rewards/reward.h"

#include <algorithm>
#include <mutex>

#include "rl/util/error.h"

namespace reasonrl::rewards {

void register_builtin_rewards();  // builtin.cpp

namespace {
struct Entry {
  RewardFactory factory;
  std::string help;
};
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, Entry>& registry() {
  static std::map<std::string, Entry> r;
  return r;
}
void ensure_builtins() {
  static std::once_flag once;
  std::call_once(once, [] { register_builtin_rewards(); });
}

class SimpleReward final : public Reward {
 public:
  explicit SimpleReward(std::function<std::optional<double>(const RewardInput&)> fn) : fn_(std::move(fn)) {}
  std::vector<RewardScore> score_group(const std::vector<RewardInput>& group, const GroupContext&) override {
    std::vector<RewardScore> out(group.size());
    for (size_t i = 0; i < group.size(); ++i) out[i].value = fn_(group[i]);
    return out;
  }

 private:
  std::function<std::optional<double>(const RewardInput&)> fn_;
};
}  // namespace

std::vector<std::vector<RewardScore>> Reward::score_groups(std::span<const std::vector<RewardInput>> groups,
                                                           std::span<const GroupContext> ctx) {
  std::vector<std::vector<RewardScore>> out(groups.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    try {
      out[g] = score_group(groups[g], ctx[g]);
    } catch (const std::exception& e) {
      out[g].assign(groups[g].size(), RewardScore{});
      for (auto& x : out[g]) x.error = e.what();
    }
  }
  return out;
}

void register_reward(const std::string& name, RewardFactory factory, const std::string& help) {
  if (name.empty()) throw ConfigError("register_reward: empty reward name");
  std::lock_guard<std::mutex> lock(registry_mutex());
  registry()[name] = Entry{std::move(factory), help};
}

bool reward_registered(const std::string& name) {
  ensure_builtins();
  std::lock_guard<std::mutex> lock(registry_mutex());
  return registry().count(name) != 0;
}

std::unique_ptr<Reward> make_reward(const std::string& name, const nlohmann::ordered_json& options) {
  ensure_builtins();
  RewardFactory f;
  {
    std::lock_guard<std::mutex> lock(registry_mutex());
    auto it = registry().find(name);
    if (it == registry().end()) {
      std::string valid;
      for (const auto& [n, e] : registry()) valid += (valid.empty() ? "" : ", ") + n;
      throw ConfigError("unknown reward '" + name + "'; registered: " + valid);
    }
    f = it->second.factory;
  }
  return f(options);
}

std::vector<std::pair<std::string, std::string>> registered_rewards() {
  ensure_builtins();
  std::lock_guard<std::mutex> lock(registry_mutex());
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& [n, e] : registry()) out.emplace_back(n, e.help);
  return out;
}

std::unique_ptr<Reward> make_simple_reward(std::function<std::optional<double>(const RewardInput&)> fn) {
  return std::make_unique<SimpleReward>(std::move(fn));
}

}  // namespace reasonrl::rewards
