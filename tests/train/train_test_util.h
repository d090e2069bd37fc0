// train_test_util.h: small SFT/RL configs for trainer tests, and helpers to read metrics.jsonl.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "rl/train/train_config.h"

namespace reasonrl::train::testing {

// A fresh, empty scratch directory under the build tree.
std::string scratch_dir(const std::string& name);
// SFT on the synthetic arithmetic task with a very small MoE (MTP on, 2 layers, 4 routed experts).
SftConfig tiny_sft_config(const std::string& run_dir, int steps);
// GRPO from `init_from` with small groups.
TrainConfig tiny_train_config(const std::string& run_dir, const std::string& init_from, int steps);
// metrics.jsonl as step -> (key -> value), without wall-clock keys (time/*, tokens_per_s).
std::map<long, std::map<std::string, double>> read_metrics(const std::string& path);

}  // namespace reasonrl::train::testing
