// Engine-level tests with the real model: the rollout's recorded log-probs (KV-cache decoding, absorbed MLA) equal a
// teacher-forced Model::forward + the log-prob head; determinism across thread counts; the latent cache's size.
#include "policy/model_decoder.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <cstring>

#include "model/fused_sample.h"
#include "policy/logprob.h"
#include "policy/rollout.h"
#include "rl/util/error.h"

namespace reasonrl::policy {
namespace {

model::ModelConfig tiny_config() {
  model::ModelConfig c;
  c.vocab_size = 256;
  c.hidden_size = 64;
  c.intermediate_size = 128;
  c.moe_intermediate_size = 32;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.q_lora_rank = 32;
  c.kv_lora_rank = 32;
  c.qk_nope_head_dim = 16;
  c.qk_rope_head_dim = 8;
  c.v_head_dim = 16;
  c.n_routed_experts = 4;
  c.num_experts_per_tok = 2;
  c.max_position_embeddings = 128;
  c.initializer_range = 0.1;  // large enough for a far-from-uniform next-token distribution
  return c;
}

std::vector<Prompt> prompts(int n) {
  std::vector<Prompt> ps;
  for (int i = 0; i < n; ++i) {
    Prompt p;
    p.id = i;
    for (int k = 0; k < 6 + 3 * i; ++k) p.tokens.push_back(int32_t((11 * i + 5 * k + 2) % 256));
    ps.push_back(p);
  }
  return ps;
}

RolloutConfig cfg() {
  RolloutConfig c;
  c.num_generations = 3;
  c.max_completion_length = 20;
  c.sampling_params.temperature = 0.7;
  c.sampling_params.top_p = 0.9;
  c.max_batch = 4;
  c.seed = 5;
  c.stop_token_ids = {0};
  return c;
}

TEST(ModelDecoder, RolloutLogprobEqualsTeacherForcedForward) {
  model::Model m(tiny_config());
  m.init_weights(3);
  RolloutEngine eng(cfg());
  ModelDecoder dec(m, eng.slots_needed(), 64);
  const auto r = eng.generate(dec, prompts(3), 0);
  ASSERT_EQ(r.trajectories.size(), 9u);
  const int V = 256;
  double max_err = 0, max_plain = 0;
  int64_t n = 0;
  for (const auto& t : r.trajectories) {
    std::vector<int32_t> seq = t.prompt;
    seq.insert(seq.end(), t.tokens.begin(), t.tokens.end());
    const int T = int(seq.size()), P = int(t.prompt.size()), L = t.length();
    std::vector<float> logits(size_t(T) * V);
    m.forward(seq.data(), 1, T, logits.data());  // teacher forced, no cache
    std::vector<float> lp(static_cast<size_t>(L)), plain(static_cast<size_t>(L));
    const auto st = sampling_logprob(logits.data() + size_t(P - 1) * V, L, V, eng.config().sampling(), t.tokens.data(), lp.data());
    EXPECT_EQ(st.outside_kept_set, 0);
    sampling_logprob(logits.data() + size_t(P - 1) * V, L, V, SamplingParams{}, t.tokens.data(), plain.data());
    for (int i = 0; i < L; ++i) {
      max_err = std::max(max_err, double(std::abs(lp[size_t(i)] - t.logp[size_t(i)])));
      max_plain = std::max(max_plain, double(std::abs(plain[size_t(i)] - t.logp[size_t(i)])));
    }
    n += L;
  }
  EXPECT_GT(n, 30);
  EXPECT_LT(max_err, 1e-4);
  EXPECT_GT(max_plain, 0.05);  // T = 1 without truncation is a different distribution: the check is not vacuous
}

// Teacher-forced sampling log-probs of every trajectory's tokens under model m.
std::vector<std::vector<float>> recompute_logp(model::Model& m, const std::vector<Trajectory>& ts, const SamplingParams& sp) {
  std::vector<std::vector<float>> out;
  const int V = m.config().vocab_size;
  for (const auto& t : ts) {
    std::vector<int32_t> seq = t.prompt;
    seq.insert(seq.end(), t.tokens.begin(), t.tokens.end());
    const int T = int(seq.size()), P = int(t.prompt.size()), L = t.length();
    std::vector<float> logits(size_t(T) * V), lp(static_cast<size_t>(L));
    m.forward(seq.data(), 1, T, logits.data());
    sampling_logprob(logits.data() + size_t(P - 1) * V, L, V, sp, t.tokens.data(), lp.data());
    out.push_back(lp);
  }
  return out;
}

TEST(ModelDecoder, ReusedLatentCacheIsExactUnderTheSameWeightsAndStaleAfterAnUpdate) {
  model::Model m(tiny_config());
  m.init_weights(6);
  RolloutConfig c = cfg();
  c.stop_token_ids = {};
  c.partial_rollout = true;
  c.partial_rollout_segment = 6;
  c.partial_rollout_kv = PartialKv::Reuse;
  c.loss_segments = LossSegments::All;
  c.max_staleness = -1;
  RolloutEngine eng(c);
  ModelDecoder dec(m, eng.slots_needed(), 64);
  // Same weights in every call: the restored cache is what a prefill would compute, so the recorded log-probs equal
  // a teacher-forced forward.
  {
    ReplayBuffer buf;
    std::vector<Trajectory> done;
    int64_t restored = 0;
    for (int v = 0; v < 10 && (v == 0 || !buf.empty()); ++v) {
      auto r = eng.generate(dec, v == 0 ? prompts(2) : std::vector<Prompt>{}, v, &buf);
      restored += r.stats.restored_tokens;
      for (auto& t : r.trajectories) done.push_back(t);
    }
    ASSERT_EQ(done.size(), 6u);
    EXPECT_GT(restored, 0);
    const auto ref = recompute_logp(m, done, c.sampling());
    double max_err = 0;
    for (size_t i = 0; i < done.size(); ++i)
      for (size_t k = 0; k < ref[i].size(); ++k) max_err = std::max(max_err, double(std::abs(ref[i][k] - done[i].logp[k])));
    EXPECT_LT(max_err, 1e-4);
  }
  // The weights change after the first call: tokens after the cut attend to a context cached by the old weights,
  // so their log-probs differ from a full recompute under the new weights (what `recompute` mode would sample from).
  {
    ReplayBuffer buf;
    eng.generate(dec, prompts(2), 0, &buf);
    ASSERT_GT(buf.num_unfinished(), 0u);
    for (auto& p : m.params()) p *= 1.05f;  // an "update"
    std::vector<Trajectory> done;
    for (int v = 1; v < 10 && !buf.empty(); ++v)
      for (auto& t : eng.generate(dec, {}, v, &buf).trajectories) done.push_back(t);
    ASSERT_EQ(done.size(), 6u);
    const auto ref = recompute_logp(m, done, c.sampling());
    double max_err = 0;
    for (size_t i = 0; i < done.size(); ++i)
      for (size_t k = size_t(c.partial_rollout_segment); k < ref[i].size(); ++k)
        max_err = std::max(max_err, double(std::abs(ref[i][k] - done[i].logp[k])));
    EXPECT_GT(max_err, 1e-3);  // the staleness is real and visible to the trainer's importance correction
  }
}

TEST(ModelDecoder, SameRolloutsWithOneOrTwoThreads) {
  model::Model m(tiny_config());
  m.init_weights(4);
  auto run = [&](int threads) {
    RolloutEngine eng(cfg());
    ModelDecoder dec(m, eng.slots_needed(), 64);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    auto r = eng.generate(dec, prompts(2), 0);
    omp_set_num_threads(saved);
    std::vector<std::vector<int32_t>> toks;
    for (auto& t : r.trajectories) toks.push_back(t.tokens);
    return toks;
  };
  EXPECT_EQ(run(1), run(2));
}

// The paged latent cache (blocks of 8 positions here, the default 64 elsewhere) against the contiguous layout of the
// cache before paging (block_tokens 0): the same seeded rollouts - continuous batching with forked groups, and
// partial rollouts whose caches are saved and restored (reuse) - give the same tokens and log-prob bits, and the
// paged pool ends smaller than n_slots x max_seq_len.
TEST(ModelDecoder, PagedCacheGivesBitIdenticalRollouts) {
  model::Model m(tiny_config());
  m.init_weights(8);
  RolloutConfig pc = cfg();
  pc.stop_token_ids = {};
  pc.partial_rollout = true;
  pc.partial_rollout_segment = 7;
  pc.partial_rollout_kv = PartialKv::Reuse;
  pc.max_staleness = -1;
  for (const RolloutConfig& c : {cfg(), pc}) {
    auto run = [&](int block_tokens, size_t* pool_bytes) {
      RolloutEngine eng(c);
      ModelDecoder dec(m, eng.slots_needed(), 64, block_tokens);
      ReplayBuffer buf;
      std::vector<Trajectory> done;
      for (int v = 0; v < 10 && (v == 0 || !buf.empty()); ++v)
        for (auto& t : eng.generate(dec, v == 0 ? prompts(3) : std::vector<Prompt>{}, v, &buf).trajectories)
          done.push_back(t);
      *pool_bytes = dec.cache().pool_bytes();
      return done;
    };
    size_t flat_bytes = 0, paged_bytes = 0;
    const auto flat = run(0, &flat_bytes), paged = run(8, &paged_bytes);
    ASSERT_EQ(flat.size(), 9u);
    ASSERT_EQ(paged.size(), flat.size());
    for (size_t i = 0; i < flat.size(); ++i) {
      EXPECT_EQ(paged[i].tokens, flat[i].tokens) << i;
      ASSERT_EQ(paged[i].logp.size(), flat[i].logp.size());
      EXPECT_EQ(std::memcmp(paged[i].logp.data(), flat[i].logp.data(), sizeof(float) * flat[i].logp.size()), 0) << i;
    }
    EXPECT_LT(paged_bytes, flat_bytes);
  }
}

TEST(ModelDecoder, LatentCacheSizeAndCapacity) {
  const auto c = tiny_config();
  model::Model m(c);
  m.init_weights(1);
  ModelDecoder dec(m, 5, 32);
  // MLA caches kv_norm(c_KV) and the rotated k_R per token and layer: L * (d_c + d_R) floats
  EXPECT_EQ(dec.kv_bytes_per_token(), size_t(c.num_hidden_layers) * size_t(c.kv_lora_rank + c.qk_rope_head_dim) * 4);
  std::vector<int32_t> toks(40, 1);
  std::vector<float> lg(256);
  EXPECT_THROW(dec.prefill(0, toks.data(), 40, lg.data()), CapacityError);
  EXPECT_THROW(ModelDecoder(m, 2, 1000), ConfigError);  // beyond max_position_embeddings
  RolloutConfig rc = cfg();
  rc.max_completion_length = 30;
  RolloutEngine eng(rc);
  ModelDecoder small(m, eng.slots_needed(), 32);
  EXPECT_THROW(eng.generate(small, prompts(1), 0), CapacityError);
}


// The fused sampling head (sample_kernel fused, model/fused_sample.h) against the reference path (decode_step's
// logits + the sampler chain), on a vocabulary of several tiles: every rollout token the same (both draw with the same
// uniform from each row's stream; a token could differ only where a draw falls within float rounding of a token
// boundary), log-probs to float rounding, and the recorded log-probs equal a teacher-forced forward's as the
// reference's do. Greedy or truncated sampling with a forced fused kernel is a ConfigError; auto picks fused only from
// kFusedSampleMinVocab entries with untruncated sampling on a decoder that has the fused head.
TEST(ModelDecoder, FusedSamplingMatchesTheSamplerChain) {
  model::ModelConfig mc = tiny_config();
  mc.vocab_size = 3 * model::kFusedSampleCols + 77;
  model::Model m(mc);
  m.init_weights(12);
  RolloutConfig c = cfg();
  c.sampling_params.top_p = 1.0f;  // untruncated, temperature 0.7
  c.num_generations = 4;
  auto run = [&](SampleKernel k, RolloutStats* st) {
    RolloutConfig ck = c;
    ck.sample_kernel = k;
    RolloutEngine eng(ck);
    ModelDecoder dec(m, eng.slots_needed(), 64);
    auto r = eng.generate(dec, prompts(3), 0);
    *st = r.stats;
    return r.trajectories;
  };
  RolloutStats s_ref, s_fused;
  const auto ref = run(SampleKernel::Reference, &s_ref), fused = run(SampleKernel::Fused, &s_fused);
  ASSERT_EQ(ref.size(), 12u);
  ASSERT_EQ(fused.size(), ref.size());
  int64_t n = 0;
  double max_diff = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    ASSERT_EQ(fused[i].tokens, ref[i].tokens) << "trajectory " << i;
    for (size_t k = 0; k < ref[i].logp.size(); ++k)
      max_diff = std::max(max_diff, double(std::abs(fused[i].logp[k] - ref[i].logp[k])));
    n += ref[i].length();
  }
  EXPECT_GT(n, 100);
  EXPECT_LT(max_diff, 2e-5);
  EXPECT_GT(max_diff, 0.0);  // the fused kernel ran: its sums round differently
  EXPECT_GT(s_ref.sample_seconds, 0.0);
  EXPECT_EQ(s_fused.sample_seconds, 0.0);  // the fused kernel samples inside the decode step
  const auto tf = recompute_logp(m, fused, c.sampling());
  double max_err = 0;
  for (size_t i = 0; i < fused.size(); ++i)
    for (size_t k = 0; k < tf[i].size(); ++k) max_err = std::max(max_err, double(std::abs(tf[i][k] - fused[i].logp[k])));
  EXPECT_LT(max_err, 1e-4);

  RolloutConfig bad = c;
  bad.sample_kernel = SampleKernel::Fused;
  bad.sampling_params.top_p = 0.9f;
  EXPECT_THROW(bad.fused_sampling(mc.vocab_size, true), ConfigError);
  bad.sampling_params.top_p = 1.0f;
  bad.sampling_params.temperature = 0.0f;
  EXPECT_THROW(bad.fused_sampling(mc.vocab_size, true), ConfigError);
  bad.sampling_params.temperature = 1.0f;
  EXPECT_THROW(bad.fused_sampling(mc.vocab_size, false), ConfigError);  // a decoder without the fused head
  EXPECT_TRUE(bad.fused_sampling(mc.vocab_size, true));
  RolloutConfig aut = c;  // sample_kernel auto
  EXPECT_FALSE(aut.fused_sampling(kFusedSampleMinVocab - 1, true));
  EXPECT_TRUE(aut.fused_sampling(kFusedSampleMinVocab, true));
  EXPECT_FALSE(aut.fused_sampling(kFusedSampleMinVocab, false));
  aut.sampling_params.top_k = 50;
  EXPECT_FALSE(aut.fused_sampling(kFusedSampleMinVocab, true));
}

}  // namespace
}  // namespace reasonrl::policy
