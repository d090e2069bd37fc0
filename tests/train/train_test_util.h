// train_test_util.h: small SFT/RL configs for trainer tests, and helpers to read metrics.jsonl and to expect a run's
// error.
#pragma once
#include <gtest/gtest.h>

#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "rl/train/train_config.h"
#include "rl/train/trainer.h"

namespace reasonrl::train::testing {

// A fresh, empty scratch directory under the build tree.
std::string scratch_dir(const std::string& name);
// SFT on the synthetic arithmetic task with a very small MoE (MTP on, 2 layers, 4 routed experts).
SftConfig tiny_sft_config(const std::string& run_dir, int steps);
// GRPO from `init_from` with small groups.
TrainConfig tiny_train_config(const std::string& run_dir, const std::string& init_from, int steps);
// metrics.jsonl as step -> (key -> value), without wall-clock keys (time/*, tokens_per_s).
std::map<long, std::map<std::string, double>> read_metrics(const std::string& path);

// Runs `c` (resumed if `resume`) and expects it to throw an E whose message names each of `parts`.
template <class E>
void expect_train_error(const TrainConfig& c, bool resume, std::initializer_list<const char*> parts) {
  try {
    run_train(c, resume);
    ADD_FAILURE() << "the run succeeded; expected an error naming " << *parts.begin();
  } catch (const E& e) {
    for (const char* p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << p << " in: " << e.what();
  }
}

}  // namespace reasonrl::train::testing
