// Golden: an independent PyTorch implementation (tests/golden/deepseek_ref.py, float64, run by /usr/bin/python3)
// loads our safetensors checkpoint and computes logits, loss (CE + MTP + balance) and every parameter gradient; ours
// must match within 1e-4 relative per tensor. This also shows PyTorch reads our checkpoints.
#include <gtest/gtest.h>
#include "tests/require.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "model/flash_attention.h"
#include "model/model.h"
#include "model/safetensors.h"
#include "test_util.h"

namespace reasonrl::model {
namespace {

namespace fs = std::filesystem;

bool have_torch() {
  const std::string cmd = std::string(REASONRL_PYTHON) + " -c 'import torch' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

// replay: router replay, every odd token row forced to K experts per MoE layer that the router does not rank first
// (the reference forces the same ids; it has no notion of order within a route).
void run_golden(ModelConfig c, const std::string& tag, AttentionKernel kernel = AttentionKernel::Auto,
                bool replay = false) {
  REASONRL_REQUIRE_OR_SKIP(have_torch(), std::string(REASONRL_PYTHON) + " cannot import torch (install python3-torch)");
  const std::string dir = std::string(REASONRL_BINARY_DIR) + "/test_tmp/golden_" + tag;
  fs::remove_all(dir);
  fs::create_directories(dir);
  Model m(c);
  m.set_attention_kernel(kernel);
  m.init_weights(1234);
  testing::perturb(m, 99, 0.3, 0.05);
  save_checkpoint(m, dir + "/ckpt");

  const int B = 2, T = 9, V = c.vocab_size;
  auto tok = testing::random_tokens(B * T, V, 5);
  std::vector<float> mask(B * T, 1.0f);
  mask[B * T - 1] = mask[B * T - 2] = mask[B * T - 3] = 0.0f;  // padding at the end of row 1
  mask[0] = 0.0f;                                              // a prompt token that does not count
  json in = {{"tokens", json::array()}, {"mask", json::array()}};
  for (int b = 0; b < B; ++b) {
    json tr = json::array(), mr = json::array();
    for (int t = 0; t < T; ++t) {
      tr.push_back(tok[b * T + t]);
      mr.push_back(mask[b * T + t]);
    }
    in["tokens"].push_back(tr);
    in["mask"].push_back(mr);
  }
  std::vector<int16_t> routes;
  if (replay) {  // the router's own choice from an unforced forward, shifted by one expert id on odd rows
    std::vector<float> lg(size_t(B) * T * V);
    m.forward(tok.data(), B, T, lg.data(), mask.data());
    const int W = m.route_width(), K = c.num_experts_per_tok, E = c.n_routed_experts;
    routes.assign(size_t(B) * T * W, -1);
    std::vector<int16_t> own(routes.size());
    m.last_routes(own);
    m.reset_router_loads();
    json rj = json::array();
    for (int n = 0; n < B * T; ++n) {
      json row = json::array();
      for (int j = 0; j < W; ++j) {
        if (n % 2 == 1) routes[size_t(n) * W + j] = int16_t((own[size_t(n) * W + j - j % K] + 1 + j % K) % E);
        row.push_back(routes[size_t(n) * W + j]);
      }
      rj.push_back(row);
    }
    in["routes"] = rj;  // (B*T, W)
  }
  write_file_atomic(dir + "/inputs.json", in.dump());
  const std::string cmd = std::string(REASONRL_PYTHON) + " " + REASONRL_SOURCE_DIR + "/tests/golden/deepseek_ref.py " +
                          dir + "/ckpt " + dir + "/inputs.json " + dir + "/ref.safetensors";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const auto ref = SafetensorsFile::read(dir + "/ref.safetensors");

  std::vector<float> logits(size_t(B) * T * V), dl(logits.size());
  m.zero_grad();
  if (replay) m.force_routes(routes);
  m.forward(tok.data(), B, T, logits.data(), mask.data());
  const float ce = next_token_loss(logits.data(), tok.data(), B, T, V, mask.data(), dl.data());
  m.backward(dl.data());
  const double loss = double(ce) + m.last_mtp_loss() + m.last_balance_loss();

  const auto rl = ref.get_as_double("logits");
  std::vector<double> ours(logits.begin(), logits.end());
  const double lerr = testing::rel_err(ours.data(), rl.data(), rl.size());
  EXPECT_LT(lerr, 1e-4) << "logits";
  const double ref_loss = ref.get_as_double("loss")[0];
  EXPECT_LT(std::abs(loss - ref_loss) / std::abs(ref_loss), 1e-4) << "loss " << loss << " vs " << ref_loss;
  EXPECT_NEAR(m.last_mtp_loss(), ref.get_as_double("mtp")[0], 1e-4 * std::abs(ref.get_as_double("mtp")[0]) + 1e-9);
  EXPECT_NEAR(m.last_balance_loss(), ref.get_as_double("bal")[0], 1e-4 * std::abs(ref.get_as_double("bal")[0]) + 1e-12);
  if (c.seq_aux_alpha > 0) { EXPECT_GT(ref.get_as_double("bal")[0], 0.0); }
  if (c.num_nextn_predict_layers > 0) { EXPECT_GT(ref.get_as_double("mtp")[0], 0.0); }

  double worst = 0;
  std::string worst_name;
  int nonzero = 0;
  for (const auto& t : m.tensors()) {
    const auto g = ref.get_as_double("grad." + t.name);
    ASSERT_EQ(g.size(), t.size) << t.name;
    std::vector<double> ours_g(m.grads().begin() + t.offset, m.grads().begin() + t.offset + t.size);
    double mx = 0;
    for (double v : g) mx = std::max(mx, std::abs(v));
    nonzero += mx > 0;
    const double e = testing::rel_err(ours_g.data(), g.data(), g.size(), 1e-30);
    const double err = mx > 0 ? e : testing::rel_err(ours_g.data(), g.data(), g.size(), 1.0);  // all-zero: absolute
    EXPECT_LT(err, 1e-4) << t.name;
    if (err > worst) worst = err, worst_name = t.name;
  }
  std::printf("golden [%s]: loss %.6f vs torch %.6f; logits rel err %.3g; %zu gradient tensors (%d non-zero), worst "
              "%.3g in %s\n",
              tag.c_str(), loss, ref_loss, lerr, m.tensors().size(), nonzero, worst, worst_name.c_str());
  EXPECT_GT(nonzero, int(m.tensors().size()) / 2);
}

TEST(Golden, LowRankQueryGroupRoutingMtpBalanceLoss) {
  ModelConfig c = testing::micro_config();
  c.initializer_range = 0.1;
  c.n_routed_experts = 8;
  c.n_group = 2;
  c.topk_group = 1;
  c.routed_scaling_factor = 2.5;
  c.seq_aux_alpha = 0.01;
  c.num_hidden_layers = 3;
  run_golden(c, "lora_group_mtp");
}

TEST(Golden, RouterReplayLowRankQueryGroupRoutingMtpBalanceLoss) {
  ModelConfig c = testing::micro_config();
  c.initializer_range = 0.1;
  c.n_routed_experts = 8;
  c.n_group = 2;
  c.topk_group = 1;
  c.routed_scaling_factor = 2.5;
  c.seq_aux_alpha = 0.01;
  c.num_hidden_layers = 3;
  run_golden(c, "replay_lora_group_mtp", AttentionKernel::Auto, true);
}

TEST(Golden, PlainQueryNoSharedExpertUnnormalisedGates) {
  ModelConfig c = testing::micro_config();
  c.initializer_range = 0.1;
  c.q_lora_rank = 0;
  c.n_shared_experts = 2;
  c.norm_topk_prob = false;
  c.num_nextn_predict_layers = 0;
  c.first_k_dense_replace = 0;
  c.seq_aux_alpha = 0.0;
  run_golden(c, "plain_q");
}

// YaRN as DeepSeek-V3 configures it (mscale = mscale_all_dim, so the softmax scale carries the correction), and with
// mscale != mscale_all_dim (the rotated parts carry a factor too), against HF's DeepseekV3 YaRN in the reference.
TEST(Golden, YarnRopeScaling) {
  ModelConfig c = testing::micro_config();
  c.rope_scaling.type = RopeScalingType::Yarn;
  c.rope_scaling.factor = 40.0;
  c.rope_scaling.original_max_position_embeddings = 64;
  c.rope_scaling.beta_fast = 32.0;
  c.rope_scaling.beta_slow = 1.0;
  c.rope_scaling.mscale = 1.0;
  c.rope_scaling.mscale_all_dim = 1.0;
  c.rope_theta = 500.0;
  run_golden(c, "yarn");
  c.rope_scaling.mscale = 0.7;
  c.rope_scaling.factor = 4.0;
  run_golden(c, "yarn_mscale");
}

TEST(Golden, TinyPresetAsShipped) {
  ModelConfig c = load_model_config(std::string(REASONRL_SOURCE_DIR) + "/configs/model_tiny.json");
  c.vocab_size = 128;  // keep the reference fast; everything else as the preset
  c.num_hidden_layers = 2;
  run_golden(c, "tiny");
}

TEST(Golden, TinyPresetWithTiledAttention) {
  ModelConfig c = load_model_config(std::string(REASONRL_SOURCE_DIR) + "/configs/model_tiny.json");
  c.vocab_size = 128;
  c.num_hidden_layers = 2;
  run_golden(c, "tiny_tiled", AttentionKernel::Tiled);
}

// The tiled attention kernel alone on packed sequences (lengths across block edges, one empty) against PyTorch
// autograd (tests/golden/flash_attention_ref.py, float64): o, lse and the three input gradients.
TEST(Golden, TiledAttentionKernelMatchesTorch) {
  REASONRL_REQUIRE_OR_SKIP(have_torch(), std::string(REASONRL_PYTHON) + " cannot import torch (install python3-torch)");
  const std::string dir = std::string(REASONRL_BINARY_DIR) + "/test_tmp/golden_flash";
  fs::remove_all(dir);
  fs::create_directories(dir);
  const int H = 4, Dn = 32, Dr = 16, Dv = 32;
  const std::vector<int> cu = {0, 70, 70, 70 + 2 * kFlashBlockQ + 5, 70 + 2 * kFlashBlockQ + 6};
  const int N = cu.back(), ns = int(cu.size()) - 1;
  const double scale = 1.0 / std::sqrt(double(Dn + Dr));
  const auto q = testing::tof(testing::randn(size_t(N) * H * (Dn + Dr), 81, 2.0)),
             kv = testing::tof(testing::randn(size_t(N) * H * (Dn + Dv), 82)),
             kpe = testing::tof(testing::randn(size_t(N) * Dr, 83, 2.0)),
             dout = testing::tof(testing::randn(size_t(N) * H * Dv, 84));
  json in = {{"H", H}, {"Dn", Dn}, {"Dr", Dr}, {"Dv", Dv}, {"scale", scale}, {"cu_seqlens", cu},
             {"q", q}, {"kv", kv}, {"kpe", kpe}, {"dout", dout}};
  write_file_atomic(dir + "/inputs.json", in.dump());
  const std::string cmd = std::string(REASONRL_PYTHON) + " " + REASONRL_SOURCE_DIR +
                          "/tests/golden/flash_attention_ref.py " + dir + "/inputs.json " + dir + "/ref.safetensors";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const auto ref = SafetensorsFile::read(dir + "/ref.safetensors");
  std::vector<float> o(size_t(N) * H * Dv), lse(size_t(N) * H), dq(q.size()), dkv(kv.size()), dkpe(kpe.size());
  flash_mla_forward(o.data(), lse.data(), q.data(), kv.data(), kpe.data(), cu.data(), ns, H, Dn, Dr, Dv, scale);
  flash_mla_backward(dq.data(), dkv.data(), dkpe.data(), dout.data(), o.data(), lse.data(), q.data(), kv.data(),
                     kpe.data(), cu.data(), ns, H, Dn, Dr, Dv, scale);
  auto check = [&](const char* name, const std::vector<float>& ours) {
    const auto r = ref.get_as_double(name);
    ASSERT_EQ(r.size(), ours.size()) << name;
    const std::vector<double> od(ours.begin(), ours.end());
    const double e = testing::rel_err(od.data(), r.data(), r.size());
    EXPECT_LT(e, 1e-5) << name;
    std::printf("golden flash attention: %s rel err %.3g\n", name, e);
  };
  check("o", o);
  check("lse", lse);
  check("dq", dq);
  check("dkv", dkv);
  check("dkpe", dkpe);
}

}  // namespace
}  // namespace reasonrl::model
