// Tests for model merging: identity on identical checkpoints, weight checks, hand-computed linear / task arithmetic /
// TIES values, and rejection of checkpoints with different configs.
#include <gtest/gtest.h>

#include "tests/long2short/tiny_model.h"

#include <filesystem>

#include "rl/long2short/merge.h"

namespace reasonrl::long2short {
namespace {

model::ModelConfig tiny(int hidden = 32) { return testing::tiny_model_config(hidden); }

std::string scratch(const std::string& name) {
  const std::string d = std::string(REASONRL_BINARY_DIR) + "/test_scratch/l2s_merge/" + name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

TEST(Merge, IdenticalCheckpointsAreReturnedUnchanged) {
  const std::string dir = scratch("identical");
  model::Model a(tiny());
  a.init_weights(3);
  model::save_checkpoint(a, dir + "/a");
  model::save_checkpoint(a, dir + "/b");
  for (auto method : {MergeMethod::Linear, MergeMethod::TaskArithmetic, MergeMethod::Ties}) {
    MergeConfig c;
    c.merge_method = method;
    c.models = {dir + "/a", dir + "/b"};
    if (method != MergeMethod::Linear) c.base_model = dir + "/a";
    if (method == MergeMethod::Linear) c.weights = {0.3, 0.7};
    c.density = {0.5};
    c.output = dir + "/out_" + enum_to_string(method);
    merge_checkpoints(c);
    auto m = model::load_model(c.output);
    ASSERT_EQ(m->params().size(), a.params().size());
    for (size_t i = 0; i < a.params().size(); ++i)
      ASSERT_EQ(m->params()[i], a.params()[i]) << enum_to_string(method) << " element " << i;
    EXPECT_TRUE(std::filesystem::exists(c.output + "/merge_config.json"));
  }
}

TEST(Merge, LinearWeightsMustSumToOneUnlessAllowed) {
  MergeConfig c;
  c.weights = {0.6, 0.6};
  EXPECT_THROW(resolve_merge_weights(c, 2), ConfigError);
  c.weights = {0.5, 0.5, 0.5};
  EXPECT_THROW(resolve_merge_weights(c, 2), ConfigError);  // count mismatch
  c.weights = {0.6, 0.6};
  c.allow_unnormalized_weights = true;
  EXPECT_EQ(resolve_merge_weights(c, 2), (std::vector<double>{0.6, 0.6}));
  c.allow_unnormalized_weights = false;
  c.normalize = true;
  const auto w = resolve_merge_weights(c, 2);
  EXPECT_DOUBLE_EQ(w[0], 0.5);
  EXPECT_DOUBLE_EQ(w[1], 0.5);
  c = MergeConfig{};
  EXPECT_EQ(resolve_merge_weights(c, 4), (std::vector<double>{0.25, 0.25, 0.25, 0.25}));
  // and through the on-disk entry point, before loading anything
  c.weights = {0.9, 0.2};
  c.models = {"/nonexistent/a", "/nonexistent/b"};
  c.output = "/nonexistent/out";
  try {
    merge_checkpoints(c);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("sum to 1.1"), std::string::npos) << e.what();
  }
}

TEST(Merge, HandComputedValues) {
  const float x1[4] = {3.5f, -0.5f, 2.5f, 1.0f};  // base + tau1, tau1 = {3, -1, 2, 0.5}
  const float x2[4] = {-0.5f, -1.5f, 2.5f, 1.5f};  // base + tau2, tau2 = {-1, -2, 2, 1}
  const float base[4] = {0.5f, 0.5f, 0.5f, 0.5f};
  float out[4];
  MergeConfig c;
  c.weights = {0.25, 0.75};
  merge_tensor(c, c.weights, {x1, x2}, nullptr, 4, out);
  EXPECT_FLOAT_EQ(out[0], 0.25f * 3.5f + 0.75f * -0.5f);
  EXPECT_FLOAT_EQ(out[3], 0.25f * 1.0f + 0.75f * 1.5f);

  c.merge_method = MergeMethod::TaskArithmetic;
  c.weights = {1.0, 1.0};
  c.lambda = 0.5;
  merge_tensor(c, c.weights, {x1, x2}, base, 4, out);
  EXPECT_FLOAT_EQ(out[0], 0.5f + 0.5f * (3 - 1));
  EXPECT_FLOAT_EQ(out[1], 0.5f + 0.5f * (-1 - 2));

  // TIES, density 1: elected sign of the sum, mean over the agreeing task vectors.
  c.merge_method = MergeMethod::Ties;
  c.lambda = 1.0;
  merge_tensor(c, c.weights, {x1, x2}, base, 4, out);
  EXPECT_FLOAT_EQ(out[0], 0.5f + 3.0f);   // sum 2 > 0: only tau1 agrees
  EXPECT_FLOAT_EQ(out[1], 0.5f - 1.5f);   // both negative: mean
  EXPECT_FLOAT_EQ(out[2], 0.5f + 2.0f);
  EXPECT_FLOAT_EQ(out[3], 0.5f + 0.75f);
  // density 0.5: tau1 keeps {3, 2}, tau2 keeps {-2, 2}
  c.density = {0.5};
  merge_tensor(c, c.weights, {x1, x2}, base, 4, out);
  EXPECT_FLOAT_EQ(out[0], 0.5f + 3.0f);
  EXPECT_FLOAT_EQ(out[1], 0.5f - 2.0f);
  EXPECT_FLOAT_EQ(out[2], 0.5f + 2.0f);
  EXPECT_FLOAT_EQ(out[3], 0.5f);  // both trimmed: the base
}

TEST(Merge, DifferentConfigsAreRejectedWithTheKey) {
  const std::string dir = scratch("mismatch");
  model::Model a(tiny(32)), b(tiny(48));
  a.init_weights(1);
  b.init_weights(1);
  model::save_checkpoint(a, dir + "/a");
  model::save_checkpoint(b, dir + "/b");
  MergeConfig c;
  c.models = {dir + "/a", dir + "/b"};
  c.output = dir + "/out";
  try {
    merge_checkpoints(c);
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("hidden_size 32 vs 48"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(dir + "/out/model.safetensors"));
  // same shapes, different rope_theta: also rejected (same layout, different function)
  model::ModelConfig mc = tiny(32);
  mc.rope_theta = 500.0;
  model::Model d(mc);
  d.init_weights(1);
  model::save_checkpoint(d, dir + "/d");
  c.models = {dir + "/a", dir + "/d"};
  EXPECT_THROW(merge_checkpoints(c), ConfigError);
  // different tokenizers
  model::save_checkpoint(a, dir + "/a2");
  write_file_atomic(dir + "/a/tokenizer.json", "{\"a\":1}");
  write_file_atomic(dir + "/a2/tokenizer.json", "{\"a\":2}");
  c.models = {dir + "/a", dir + "/a2"};
  EXPECT_THROW(merge_checkpoints(c), ConfigError);
}

}  // namespace
}  // namespace reasonrl::long2short
