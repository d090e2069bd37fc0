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
      {R"({"loss_mode": "gspo"})", "vanilla, cispo"},
      {R"({"importance_sampling_level": "seq"})", "token, sequence"},
      {R"({"rollout_is": "geometric"})", "token, sequence"},
      {R"({"rollout_rs": "mask"})", "none, token, sequence, geometric"},
      {R"({"router_replay": "r3"})", "none, rollout"},
  };
  for (const auto& k : cases) {
    const std::string msg = error_of(k.json);
    EXPECT_NE(msg.find(k.valid), std::string::npos) << k.json << " -> " << msg;
  }
}

TEST(RlConfig, InvalidValuesNameTheKey) {
  EXPECT_NE(error_of(R"({"delta": 1.1})").find("delta"), std::string::npos);  // must exceed 1 + epsilon_high
  EXPECT_NE(error_of(R"({"epsilon": 1.5})").find("epsilon"), std::string::npos);
  EXPECT_NE(error_of(R"({"beta": -0.1})").find("beta"), std::string::npos);
  EXPECT_NE(error_of(R"({"kimi_tau": 0})").find("kimi_tau"), std::string::npos);
  EXPECT_NE(error_of(R"({"max_num_gen_batches": 0})").find("max_num_gen_batches"), std::string::npos);
  EXPECT_NE(error_of(R"({"bogus": 0})").find("loss_type"), std::string::npos);  // unknown key lists valid keys
  EXPECT_NE(error_of(R"({"num_generations": 8})").find("rollout.num_generations"), std::string::npos);  // moved
  EXPECT_NE(error_of(R"({"max_completion_length": 8})").find("rollout.max_completion_length"), std::string::npos);
  EXPECT_EQ(error_of(R"({"delta": 3.0, "epsilon_high": 0.28, "loss_type": "dr_grpo"})"), "");
  // epsilon 1 (no lower bound) only for CISPO; CISPO has no dual clip; Kimi has neither mode
  EXPECT_NE(error_of(R"({"epsilon": 1.0})").find("epsilon"), std::string::npos);
  EXPECT_EQ(error_of(R"({"epsilon": 1.0, "epsilon_high": 5.0, "loss_mode": "cispo"})"), "");
  EXPECT_NE(error_of(R"({"delta": 3.0, "loss_mode": "cispo"})").find("delta"), std::string::npos);
  EXPECT_NE(error_of(R"({"algorithm": "kimi", "loss_mode": "cispo"})").find("loss_mode"), std::string::npos);
  EXPECT_NE(error_of(R"({"algorithm": "kimi", "importance_sampling_level": "sequence"})").find("importance_sampling_level"), std::string::npos);
  EXPECT_EQ(error_of(R"({"importance_sampling_level": "sequence", "epsilon": 3e-4, "epsilon_high": 4e-4})"), "");
  // rollout correction and the entropy bonus
  EXPECT_NE(error_of(R"({"rollout_is": "sequence"})").find("'rollout_is'"), std::string::npos);  // needs tis_cap
  EXPECT_EQ(error_of(R"({"rollout_is": "sequence", "tis_cap": 2.0})"), "");
  EXPECT_NE(error_of(R"({"rollout_rs": "token"})").find("'rollout_rs_threshold'"), std::string::npos);  // required
  EXPECT_NE(error_of(R"({"rollout_rs": "token", "rollout_rs_threshold": 0.9})").find("'rollout_rs_threshold'"), std::string::npos);
  EXPECT_NE(error_of(R"({"rollout_rs": "sequence", "rollout_rs_threshold": 2, "rollout_rs_threshold_lower": 1.5})")
                .find("'rollout_rs_threshold_lower'"), std::string::npos);
  EXPECT_NE(error_of(R"({"rollout_rs_threshold": 2})").find("'rollout_rs_threshold'"), std::string::npos);  // rs none
  EXPECT_EQ(error_of(R"({"rollout_rs": "geometric", "rollout_rs_threshold": 1.001, "rollout_rs_threshold_lower": 0.999})"), "");
  EXPECT_NE(error_of(R"({"entropy_coeff": -0.01})").find("'entropy_coeff'"), std::string::npos);
  EXPECT_EQ(error_of(R"({"entropy_coeff": 0.001, "mask_truncated_completions": true})"), "");
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
  RlConfig g;  // the GRPO-only modes
  g.loss_mode = PolicyLossMode::Cispo;
  g.importance_sampling_level = ImportanceSamplingLevel::Sequence;
  RlConfig h;
  config_apply_json(h, config_to_json(g), "test");
  EXPECT_EQ(h.loss_mode, PolicyLossMode::Cispo);
  EXPECT_EQ(h.importance_sampling_level, ImportanceSamplingLevel::Sequence);
  EXPECT_TRUE(needs_reference(a));
  a.kl_mode = KlMode::None;
  EXPECT_FALSE(needs_reference(a));
  EXPECT_FALSE(needs_rollout_logp(a));
  a.tis_cap = 2;
  EXPECT_TRUE(needs_rollout_logp(a));
  EXPECT_FALSE(needs_reference(RlConfig{}));
  EXPECT_EQ(RlConfig{}.loss_mode, PolicyLossMode::Vanilla);  // the defaults keep the PPO clip on token ratios
  EXPECT_EQ(RlConfig{}.importance_sampling_level, ImportanceSamplingLevel::Token);  // TRL default beta = 0: no reference model
}

}  // namespace
}  // namespace reasonrl::rl
