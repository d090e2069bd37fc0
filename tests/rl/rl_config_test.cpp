// Tests for RlConfig: unknown modes list the valid ones, invalid values name the key, JSON round trip.
#include "rl/core/rl_config.h"

#include <gtest/gtest.h>

namespace reasonrl::rl {
namespace {

std::string error_of(const std::string& text) {
  RlConfig c;
  try {
    config_apply_json(c, parse_json_text(text, "rl.json"), "rl.json", text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(RlConfig, UnknownModesListTheValidOnes) {
  struct Case {
    const char* json;
    const char* valid;
  } cases[] = {
      {R"({"loss_type": "dapo"})", "token_mean, seq_mean_token_mean, seq_mean_token_sum, dr_grpo"},
      {R"({"kl_estimator": "k4"})", "k1, k2, k3"},
      {R"({"kl_mode": "both"})", "loss, reward, none"},
      {R"({"scale_rewards": "true"})", "group, batch, none"},
      {R"({"advantage_estimator": "gae"})", "grpo, rloo, reinforce_pp"},
      {R"({"algorithm": "ppo"})", "grpo, kimi"},
  };
  for (const auto& k : cases) {
    const std::string msg = error_of(k.json);
    EXPECT_NE(msg.find(k.valid), std::string::npos) << k.json << " -> " << msg;
  }
}

TEST(RlConfig, InvalidValuesNameTheKey) {
  EXPECT_NE(error_of(R"({"num_generations": 1})").find("num_generations"), std::string::npos);
  EXPECT_NE(error_of(R"({"delta": 1.1})").find("delta"), std::string::npos);  // must exceed 1 + epsilon_high
  EXPECT_NE(error_of(R"({"epsilon": 1.5})").find("epsilon"), std::string::npos);
  EXPECT_NE(error_of(R"({"beta": -0.1})").find("beta"), std::string::npos);
  EXPECT_NE(error_of(R"({"kimi_tau": 0})").find("kimi_tau"), std::string::npos);
  EXPECT_NE(error_of(R"({"max_num_gen_batches": 0})").find("max_num_gen_batches"), std::string::npos);
  EXPECT_NE(error_of(R"({"bogus": 0})").find("num_generations"), std::string::npos);  // unknown key lists valid keys
  EXPECT_EQ(error_of(R"({"delta": 3.0, "epsilon_high": 0.28, "loss_type": "dr_grpo"})"), "");
}

TEST(RlConfig, RoundTripAndHelpers) {
  RlConfig a;
  a.algorithm = Algorithm::Kimi;
  a.loss_type = LossType::SeqMeanTokenSum;
  a.kl_estimator = KlEstimator::K2;
  a.beta = 0.04;
  RlConfig b;
  config_apply_json(b, config_to_json(a), "test");
  EXPECT_EQ(config_to_json(a).dump(), config_to_json(b).dump());
  EXPECT_TRUE(needs_reference(a));
  a.kl_mode = KlMode::None;
  EXPECT_FALSE(needs_reference(a));
  EXPECT_FALSE(needs_rollout_logp(a));
  a.tis_cap = 2;
  EXPECT_TRUE(needs_rollout_logp(a));
  EXPECT_FALSE(needs_reference(RlConfig{}));  // TRL default beta = 0: no reference model
}

}  // namespace
}  // namespace reasonrl::rl
