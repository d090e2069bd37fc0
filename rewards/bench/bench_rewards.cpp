// bench_rewards.cpp: scoring throughput of the `accuracy` reward on MATH-500 reference solutions (one core).
//   bench_rewards [path/to/math500_test.jsonl] [seconds]
// Prints responses/s for math_verify alone and through RewardManager (accuracy + format), and the share graded correct.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "rewards/manager.h"
#include "rewards/math_verify.h"

using namespace reasonrl::rewards;

int main(int argc, char** argv) {
  const std::string path = argc > 1 ? argv[1] : std::string(REASONRL_PEER_DATA) + "/math500_test.jsonl";
  const double seconds = argc > 2 ? std::atof(argv[2]) : 3.0;
  std::ifstream f(path);
  if (!f) {
    std::fprintf(stderr, "cannot open %s (give the path to math500_test.jsonl)\n", path.c_str());
    return 1;
  }
  std::vector<RewardInput> rows;
  std::string line;
  size_t bytes = 0;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    RewardInput in;
    in.prompt = j["problem"].get<std::string>();
    in.response = j["solution"].get<std::string>();
    in.gold = j["answer"].get<std::string>();
    bytes += in.response.size();
    rows.push_back(std::move(in));
  }
  using clock = std::chrono::steady_clock;
  // 1. math_verify(gold, response)
  size_t n = 0, correct = 0;
  auto t0 = clock::now();
  double el = 0;
  while (el < seconds) {
    for (const auto& r : rows) correct += math_verify(r.gold, r.response) == Verdict::Equal;
    n += rows.size();
    el = std::chrono::duration<double>(clock::now() - t0).count();
  }
  const double verify_rate = n / el;
  std::printf("math_verify: %zu responses (mean %.0f bytes) in %.2f s = %.0f responses/s on one core; %.2f%% graded correct\n", n,
              static_cast<double>(bytes) / rows.size(), el, n / el, 100.0 * correct / n);
  // 2. the manager with accuracy + format, groups of 8
  RewardConfig cfg;
  cfg.rewards = {"accuracy", "format"};
  RewardManager m(cfg);
  n = 0;
  t0 = clock::now();
  el = 0;
  while (el < seconds) {
    for (size_t b = 0; b + 8 <= rows.size(); b += 8) {
      std::vector<RewardInput> g(rows.begin() + b, rows.begin() + b + 8);
      m.score_group(g);
      n += 8;
    }
    el = std::chrono::duration<double>(clock::now() - t0).count();
  }
  const double mgr_rate = n / el;
  std::printf("RewardManager(accuracy, format): %.0f responses/s on one core (groups of 8)\n", mgr_rate);
  std::printf("bench_rewards accuracy_responses_per_s=%.0f manager_responses_per_s=%.0f target=20000\n", verify_rate, mgr_rate);
  return 0;
}
