// The run configs shipped in configs/ load into their structs: every key known, every value valid (validate() runs
// on load), so a renamed option or a typo in a shipped config fails here rather than in a user's first command.
// configs/<kind>_*.json: sft and base (an SFT stage) -> SftConfig, grpo -> TrainConfig, long2short -> Long2shortConfig,
// dpo -> DpoConfig, difficulty -> DifficultyConfig.
#include <gtest/gtest.h>

#include <filesystem>

#include "rl/long2short/difficulty.h"
#include "rl/long2short/dpo.h"
#include "rl/long2short/pipeline.h"
#include "rl/train/train_config.h"
#include "rl/util/config.h"

namespace reasonrl {
namespace {

TEST(ShippedConfigs, RunConfigsLoad) {
  namespace fs = std::filesystem;
  int n = 0;
  for (const auto& e : fs::directory_iterator(fs::path(REASONRL_SOURCE_DIR) / "configs")) {
    const std::string name = e.path().filename().string(), path = e.path().string();
    auto starts = [&](const char* p) { return name.rfind(p, 0) == 0; };
    SCOPED_TRACE(name);
    if (starts("sft_") || starts("base_")) {
      train::SftConfig c;
      EXPECT_NO_THROW(config_load_file(c, path));
    } else if (starts("grpo_")) {
      train::TrainConfig c;
      EXPECT_NO_THROW(config_load_file(c, path));
    } else if (starts("long2short_")) {
      long2short::Long2shortConfig c;
      EXPECT_NO_THROW(config_load_file(c, path));
    } else if (starts("dpo_")) {
      long2short::DpoConfig c;
      EXPECT_NO_THROW(config_load_file(c, path));
    } else if (starts("difficulty_")) {
      long2short::DifficultyConfig c;
      EXPECT_NO_THROW(config_load_file(c, path));
    } else {
      continue;
    }
    ++n;
  }
  EXPECT_GE(n, 6);  // sft_arith(_long), grpo_arith(_long), long2short_arith, dpo_arith
  // and the check can fail: an unknown key is an error
  train::TrainConfig c;
  EXPECT_THROW(config_apply_json(c, json{{"stepz", 3}}, "inline"), ConfigError);
}

}  // namespace
}  // namespace reasonrl
