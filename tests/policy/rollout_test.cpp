// Tests for the rollout engine on the fake decoder: group prefill + fork, recorded log-probs vs a teacher-forced
// recomputation, determinism (seed, threads, batch size), finish reasons, continuous vs static batching, capacity,
// and partial rollouts (continuation, budget, restarts, loss masks, staleness).
#include "policy/rollout.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <map>
#include <memory>

#include "policy/logprob.h"
#include "rl/util/error.h"
#include "tests/policy/fake_decoder.h"

namespace reasonrl::policy {
namespace {

std::vector<Prompt> make_prompts(int n, int V, int len = 5) {
  std::vector<Prompt> ps;
  for (int i = 0; i < n; ++i) {
    Prompt p;
    p.id = 100 + i;
    for (int k = 0; k < len + i; ++k) p.tokens.push_back(int32_t((7 * i + 3 * k + 1) % V));
    ps.push_back(p);
  }
  return ps;
}

RolloutConfig base_cfg() {
  RolloutConfig c;
  c.num_generations = 4;
  c.max_completion_length = 24;
  c.sampling_params.temperature = 0.7;
  c.sampling_params.top_p = 0.9;
  c.max_batch = 5;
  c.seed = 17;
  c.repeat_detection = false;
  return c;
}

// Runs calls (version 0, 1, ...) until the buffer is empty; returns every emitted trajectory keyed by (prompt, index).
std::map<std::pair<int64_t, int>, Trajectory> run_to_completion(RolloutEngine& eng, Decoder& dec,
                                                                 const std::vector<Prompt>& prompts,
                                                                 std::vector<RolloutStats>* stats = nullptr) {
  ReplayBuffer buf;
  std::map<std::pair<int64_t, int>, Trajectory> out;
  for (int v = 0; v < 100; ++v) {
    auto r = eng.generate(dec, v == 0 ? prompts : std::vector<Prompt>{}, v, &buf);
    for (auto& t : r.trajectories) out[{t.prompt_id, t.group_index}] = t;
    if (stats) stats->push_back(r.stats);
    if (buf.empty()) break;
  }
  EXPECT_TRUE(buf.empty());
  return out;
}

TEST(Rollout, GroupsArePrefilledOnceAndForked) {
  const int V = 64;
  RolloutConfig c = base_cfg();
  RolloutEngine eng(c);
  FakeDecoder dec(V, eng.slots_needed(), 64);
  const auto prompts = make_prompts(3, V);
  const auto r = eng.generate(dec, prompts, 0);
  int64_t prompt_tokens = 0;
  for (const auto& p : prompts) prompt_tokens += int64_t(p.tokens.size());
  EXPECT_EQ(dec.tokens_prefilled(), prompt_tokens);  // once per prompt, not once per sample
  EXPECT_EQ(r.stats.prefill_tokens, prompt_tokens);
  ASSERT_EQ(r.trajectories.size(), 12u);
  for (size_t i = 0; i < r.trajectories.size(); ++i) {
    const auto& t = r.trajectories[i];
    EXPECT_EQ(t.prompt_id, prompts[i / 4].id);
    EXPECT_EQ(t.group_index, int(i % 4));
    EXPECT_EQ(t.prompt, prompts[i / 4].tokens);
    EXPECT_EQ(t.finish, FinishReason::Length);
    EXPECT_EQ(t.length(), 24);
    EXPECT_EQ(t.versions, std::vector<int32_t>(24, 0));
    ASSERT_EQ(t.segments.size(), 1u);
    EXPECT_EQ(t.segments[0].end, 24);
  }
  EXPECT_NE(r.trajectories[0].tokens, r.trajectories[1].tokens);  // members sample independently
  EXPECT_EQ(r.stats.groups_emitted, 3);
  EXPECT_LE(r.stats.max_rows, c.max_batch);
}

// TRL #4159 / #6789: the rollout's log-prob must be the one the trainer computes, temperature and top-p included.
TEST(Rollout, RecordedLogprobEqualsTeacherForcedRecompute) {
  const int V = 300;
  RolloutConfig c = base_cfg();
  c.sampling_params.temperature = 0.7;
  c.sampling_params.top_p = 0.9;
  RolloutEngine eng(c);
  FakeDecoder dec(V, eng.slots_needed(), 128, 5, 3.0f);
  const auto r = eng.generate(dec, make_prompts(2, V), 0);
  std::vector<float> logits;
  std::vector<int32_t> targets;
  std::vector<float> recorded;
  for (const auto& t : r.trajectories) {
    std::vector<int32_t> ctx = t.prompt;
    for (int i = 0; i < t.length(); ++i) {
      std::vector<float> row(static_cast<size_t>(V));
      dec.logits_for(ctx.data(), int(ctx.size()), row.data());  // a whole-context forward, no cache
      logits.insert(logits.end(), row.begin(), row.end());
      targets.push_back(t.tokens[size_t(i)]);
      recorded.push_back(t.logp[size_t(i)]);
      ctx.push_back(t.tokens[size_t(i)]);
    }
  }
  std::vector<float> lp(targets.size());
  const auto st = sampling_logprob(logits.data(), int64_t(targets.size()), V, c.sampling(), targets.data(), lp.data());
  EXPECT_EQ(st.outside_kept_set, 0);
  double max_err = 0;
  for (size_t i = 0; i < lp.size(); ++i) max_err = std::max(max_err, double(std::abs(lp[i] - recorded[i])));
  EXPECT_LT(max_err, 1e-4);
  // The same tokens under the untruncated T = 1 distribution differ: the check above is not vacuous.
  std::vector<float> plain(targets.size());
  sampling_logprob(logits.data(), int64_t(targets.size()), V, SamplingParams{}, targets.data(), plain.data());
  double diff = 0;
  for (size_t i = 0; i < lp.size(); ++i) diff = std::max(diff, double(std::abs(plain[i] - recorded[i])));
  EXPECT_GT(diff, 0.1);
}

TEST(Rollout, DeterministicAcrossThreadsAndBatchSizes) {
  const int V = 2048;  // large enough for the sampling loop to go parallel
  auto run = [&](int threads, int max_batch, uint64_t seed) {
    RolloutConfig c = base_cfg();
    c.max_batch = max_batch;
    c.seed = seed;
    RolloutEngine eng(c);
    FakeDecoder dec(V, eng.slots_needed(), 64);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    auto r = eng.generate(dec, make_prompts(4, V), 3);
    omp_set_num_threads(saved);
    std::vector<std::vector<int32_t>> toks;
    for (auto& t : r.trajectories) toks.push_back(t.tokens);
    return toks;
  };
  const auto a = run(1, 16, 1);
  EXPECT_EQ(a, run(2, 16, 1));
  EXPECT_EQ(a, run(2, 3, 1));
  EXPECT_NE(a, run(1, 16, 2));
}

TEST(Rollout, StopTokensEndEarlyAndContinuousBatchingComputesNoPadding) {
  const int V = 64, eos = 7;
  RolloutConfig c = base_cfg();
  c.stop_token_ids = {eos};
  c.max_completion_length = 40;
  auto run = [&](bool static_batch, int64_t* decoded) {
    c.static_batch = static_batch;
    RolloutEngine eng(c);
    FakeDecoder dec(V, eng.slots_needed(), 128);
    dec.bias()[eos] = 3.0f;  // a long-tailed mix of lengths
    auto r = eng.generate(dec, make_prompts(6, V), 0);
    *decoded = dec.rows_decoded();
    return r;
  };
  int64_t dec_cont = 0, dec_static = 0;
  const auto cont = run(false, &dec_cont);
  const auto stat = run(true, &dec_static);
  int n_stop = 0;
  for (const auto& t : cont.trajectories) {
    if (t.finish == FinishReason::Stop) {
      ++n_stop;
      EXPECT_EQ(t.tokens.back(), eos);
      EXPECT_EQ(std::count(t.tokens.begin(), t.tokens.end(), eos), 1);
    } else {
      EXPECT_EQ(t.finish, FinishReason::Length);
      EXPECT_EQ(t.length(), 40);
    }
  }
  EXPECT_GT(n_stop, 0);
  EXPECT_EQ(cont.stats.n_stop, n_stop);
  // Continuous: every computed row yields a kept token. Static: padded rows are computed too.
  EXPECT_EQ(cont.stats.useful_fraction(), 1.0);
  EXPECT_EQ(cont.stats.rows_computed, dec_cont + int64_t(cont.trajectories.size()));
  EXPECT_LT(stat.stats.useful_fraction(), 0.95);
  EXPECT_GT(dec_static, dec_cont);
  // ...and both produce the same samples (per-row streams, context-only logits).
  ASSERT_EQ(cont.trajectories.size(), stat.trajectories.size());
  for (size_t i = 0; i < cont.trajectories.size(); ++i) EXPECT_EQ(cont.trajectories[i].tokens, stat.trajectories[i].tokens);
}

// A decoder whose next token is (last + 1) % 3 with near certainty: the response cycles 0 1 2 0 1 2 ...
class CycleDecoder : public FakeDecoder {
 public:
  using FakeDecoder::FakeDecoder;
  void prefill(int slot, const int32_t* tokens, int n, float* out) override {
    FakeDecoder::prefill(slot, tokens, n, out);
    last_[slot] = tokens[n - 1];
    shape(last_[slot], out);
  }
  void decode_step(const int* slots, const int32_t* tokens, int n, float* logits) override {
    FakeDecoder::decode_step(slots, tokens, n, logits);
    for (int i = 0; i < n; ++i) shape(last_[slots[i]] = tokens[i], logits + i * vocab());
  }
  void copy_slot(int src, int dst) override {
    FakeDecoder::copy_slot(src, dst);
    last_[dst] = last_[src];
  }

 private:
  void shape(int32_t last, float* out) {
    for (int v = 0; v < vocab(); ++v) out[v] = v == (last + 1) % 3 ? 30.0f : 0.0f;
  }
  std::map<int, int32_t> last_;
};

TEST(Rollout, RepeatingTailEndsWithFinishReasonRepeat) {
  const int V = 16;
  RolloutConfig c = base_cfg();
  c.repeat_detection = true;
  c.repeat_max_ngram = 8;
  c.repeat_min_repeats = 4;
  c.repeat_min_tokens = 12;
  c.max_completion_length = 100;
  RolloutEngine eng(c);
  CycleDecoder dec(V, eng.slots_needed(), 128);
  const auto r = eng.generate(dec, make_prompts(1, V), 0);
  for (const auto& t : r.trajectories) {
    EXPECT_EQ(t.finish, FinishReason::Repeat);
    EXPECT_EQ(t.repeat_period, 3);
    EXPECT_EQ(t.length(), 12);  // the first moment 4 copies of the 3-gram cover 12 tokens
  }
  EXPECT_EQ(r.stats.n_repeat, 4);
  c.repeat_detection = false;
  RolloutEngine eng2(c);
  const auto r2 = eng2.generate(dec, make_prompts(1, V), 0);
  for (const auto& t : r2.trajectories) EXPECT_EQ(t.finish, FinishReason::Length);
}

TEST(Rollout, CapacityAndSlotErrorsAreClear) {
  RolloutConfig c = base_cfg();
  RolloutEngine eng(c);
  FakeDecoder small(64, eng.slots_needed(), 20);  // 5 prompt tokens + 24 > 20
  try {
    eng.generate(small, make_prompts(1, 64), 0);
    FAIL() << "no error";
  } catch (const CapacityError& e) {
    EXPECT_NE(std::string(e.what()).find("KV positions"), std::string::npos) << e.what();
  }
  FakeDecoder few(64, 2, 64);
  EXPECT_THROW(eng.generate(few, make_prompts(1, 64), 0), ConfigError);
  c.partial_rollout = true;
  RolloutEngine peng(c);
  FakeDecoder dec(64, peng.slots_needed(), 64);
  EXPECT_THROW(peng.generate(dec, make_prompts(1, 64), 0), ConfigError);  // partial rollouts need a buffer
}

// base_cfg with an eos, 30 tokens and no restarts; partial_cfg also cuts every trajectory after 7 tokens per call.
RolloutConfig eos_cfg(int eos) {
  RolloutConfig c = base_cfg();
  c.stop_token_ids = {eos};
  c.max_completion_length = 30;
  c.max_staleness = -1;
  return c;
}
RolloutConfig partial_cfg(int eos) {
  RolloutConfig c = eos_cfg(eos);
  c.partial_rollout = true;
  c.partial_rollout_segment = 7;
  c.loss_segments = LossSegments::All;
  return c;
}

TEST(Rollout, PartialRolloutsContinueExactlyWhereTheyWereCut) {
  const int V = 128, eos = 3;
  RolloutEngine full(eos_cfg(eos));
  FakeDecoder d1(V, full.slots_needed(), 64);
  d1.bias()[eos] = 2.0f;
  const auto prompts = make_prompts(3, V);
  const auto ref = full.generate(d1, prompts, 0);

  RolloutEngine part(partial_cfg(eos));
  FakeDecoder d2(V, part.slots_needed(), 64);
  d2.bias()[eos] = 2.0f;
  std::vector<RolloutStats> stats;
  auto got = run_to_completion(part, d2, prompts, &stats);
  ASSERT_EQ(got.size(), ref.trajectories.size());
  bool some_multi_segment = false;
  for (const auto& t : ref.trajectories) {
    const auto& g = got.at({t.prompt_id, t.group_index});
    EXPECT_EQ(g.tokens, t.tokens);  // the same RNG stream and (fake) weights: the same text
    EXPECT_EQ(g.logp, t.logp);
    EXPECT_EQ(g.finish, t.finish);
    for (size_t s = 0; s < g.segments.size(); ++s) {
      EXPECT_EQ(g.segments[s].begin, int(7 * s));
      EXPECT_EQ(g.segments[s].version, int(s));
      for (int i = g.segments[s].begin; i < g.segments[s].end; ++i) EXPECT_EQ(g.versions[size_t(i)], int(s));
    }
    some_multi_segment |= g.segments.size() > 1;
    EXPECT_EQ(g.loss_mask, std::vector<uint8_t>(g.tokens.size(), 1));
  }
  EXPECT_TRUE(some_multi_segment);
  EXPECT_GT(stats[0].n_partial, 0);
  EXPECT_EQ(stats[0].tokens_generated, stats[0].rows_computed);  // no padding
}

// Router replay: each token carries the routes of the row that sampled it, i.e. of its context under the weights of
// the call that made it (a decoder per call, seeded by the version, stands for the changing weights); the segments of
// a continued trajectory keep the routes of their own calls, with recompute and with a reused cache.
TEST(Rollout, EachTokenKeepsTheRoutesOfTheCallThatSampledIt) {
  const int V = 128, eos = 3, W = 3;
  const auto prompts = make_prompts(3, V);
  for (PartialKv kv : {PartialKv::Recompute, PartialKv::Reuse}) {
    SCOPED_TRACE(enum_to_string(kv));
    RolloutConfig c = partial_cfg(eos);
    c.partial_rollout_kv = kv;
    RolloutEngine eng(c);
    std::vector<std::unique_ptr<FakeDecoder>> decs;
    ReplayBuffer buf;
    std::vector<Trajectory> out;
    for (int v = 0; v < 100 && (v == 0 || !buf.empty()); ++v) {
      decs.push_back(std::make_unique<FakeDecoder>(V, eng.slots_needed(), 64, uint64_t(1 + v)));
      decs.back()->bias()[eos] = 2.0f;
      decs.back()->set_route_width(W);
      auto r = eng.generate(*decs.back(), v == 0 ? prompts : std::vector<Prompt>{}, v, &buf);
      for (auto& t : r.trajectories) out.push_back(std::move(t));
    }
    ASSERT_EQ(out.size(), prompts.size() * size_t(c.num_generations));
    int multi = 0;
    for (const auto& t : out) {
      ASSERT_EQ(t.route_width, W);
      ASSERT_EQ(t.routes.size(), t.tokens.size() * size_t(W));
      multi += t.segments.size() > 1;
      std::vector<int32_t> ctx = t.prompt;
      for (size_t j = 0; j < t.tokens.size(); ++j) {
        int16_t want[W];
        decs[size_t(t.versions[j])]->routes_for(ctx.data(), int(ctx.size()), want);
        EXPECT_TRUE(std::equal(want, want + W, t.routes.begin() + long(j * W)))
            << "prompt " << t.prompt_id << " sample " << t.group_index << " token " << j;
        ctx.push_back(t.tokens[j]);
      }
    }
    EXPECT_GT(multi, 0);
  }
}

// A trajectory cut by a decoder that records no routes (e.g. in a buffer from a checkpoint written before routes were
// kept) and continued by one that does: its earlier tokens get rows of -1 (unrecorded, they route themselves), the
// new ones their routes.
TEST(Rollout, TokensFromBeforeRoutesWereRecordedGetUnrecordedRows) {
  const int V = 128, eos = 3, W = 2;
  RolloutEngine eng(partial_cfg(eos));
  FakeDecoder plain(V, eng.slots_needed(), 64), routed(V, eng.slots_needed(), 64);
  plain.bias()[eos] = routed.bias()[eos] = 2.0f;
  routed.set_route_width(W);
  ReplayBuffer buf;
  eng.generate(plain, make_prompts(2, V), 0, &buf);
  ASSERT_FALSE(buf.empty());
  std::vector<Trajectory> out;
  for (int v = 1; v < 100 && !buf.empty(); ++v)
    for (auto& t : eng.generate(routed, {}, v, &buf).trajectories) out.push_back(std::move(t));
  int checked = 0;
  for (const auto& t : out) {
    if (t.segments.front().version != 0 || t.segments.size() < 2) continue;
    ASSERT_EQ(t.route_width, W);
    ASSERT_EQ(t.routes.size(), t.tokens.size() * size_t(W));
    for (size_t j = 0; j < t.tokens.size(); ++j) {
      const bool old = t.versions[j] == 0;
      EXPECT_EQ(t.routes[j * W] < 0, old) << "token " << j;
      if (old) {
        EXPECT_EQ(t.routes[j * W + 1], -1);
      }
    }
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

TEST(Rollout, ReusedCacheContinuesLikeARecomputeWithoutPrefill) {
  // The fake decoder's logits depend only on the tokens of a slot, so restoring a saved slot must give exactly the
  // trajectories a re-prefill gives, with no context prefilled again.
  const int V = 128, eos = 3;
  const RolloutConfig c = partial_cfg(eos);
  const auto prompts = make_prompts(3, V);
  auto run = [&](PartialKv kv, std::vector<RolloutStats>* stats) {
    RolloutConfig ck = c;
    ck.partial_rollout_kv = kv;
    RolloutEngine eng(ck);
    FakeDecoder d(V, eng.slots_needed(), 64);
    d.bias()[eos] = 2.0f;
    return run_to_completion(eng, d, prompts, stats);
  };
  std::vector<RolloutStats> s_re, s_reuse;
  const auto recomputed = run(PartialKv::Recompute, &s_re);
  const auto reused = run(PartialKv::Reuse, &s_reuse);
  ASSERT_EQ(reused.size(), recomputed.size());
  for (const auto& [key, t] : recomputed) {
    const auto& u = reused.at(key);
    EXPECT_EQ(u.tokens, t.tokens);
    EXPECT_EQ(u.logp, t.logp);
    EXPECT_EQ(u.versions, t.versions);
    EXPECT_TRUE(u.kv.empty());  // handed-out trajectories carry no cache
  }
  int64_t prefill_re = 0, prefill_reuse = 0, restored = 0, prompt_tokens = 0;
  for (const auto& st : s_re) prefill_re += st.prefill_tokens;
  for (const auto& st : s_reuse) {
    prefill_reuse += st.prefill_tokens;
    restored += st.restored_tokens;
  }
  for (const auto& p : prompts) prompt_tokens += int64_t(p.tokens.size());
  EXPECT_EQ(prefill_reuse, prompt_tokens);  // each prompt once, nothing re-prefilled
  EXPECT_GT(prefill_re, prompt_tokens);
  // A recompute prefills prompt + response so far; a restore holds one position less (the last token is fed by the
  // next decode step). Every cut trajectory is continued once.
  int64_t continued = 0;
  for (const auto& st : s_re) continued += st.n_partial;
  EXPECT_GT(continued, 0);
  EXPECT_EQ(restored, prefill_re - prompt_tokens - continued);
}

TEST(Rollout, BudgetCutsAndTheBufferSurvivesACheckpoint) {
  // With partial_rollout_kv = reuse the rows cut by the budget also carry their saved cache, which the checkpoint
  // keeps; a cache that does not match its trajectory is an error.
  for (PartialKv kv : {PartialKv::Recompute, PartialKv::Reuse}) {
    SCOPED_TRACE(enum_to_string(kv));
    const int V = 128;
    RolloutConfig c = base_cfg();
    c.max_completion_length = 30;
    c.partial_rollout = true;
    c.partial_rollout_budget = 50;
    c.partial_rollout_kv = kv;
    c.max_staleness = -1;
    RolloutEngine eng(c);
    FakeDecoder da(V, eng.slots_needed(), 64), db(V, eng.slots_needed(), 64);
    ReplayBuffer a;
    const auto first = eng.generate(da, make_prompts(2, V), 0, &a);
    EXPECT_TRUE(first.trajectories.empty());
    EXPECT_GE(first.stats.tokens_generated, 50);
    EXPECT_LT(first.stats.tokens_generated, 50 + c.max_batch);
    EXPECT_EQ(first.stats.n_partial, c.max_batch);
    EXPECT_EQ(a.num_groups(), 2u);
    EXPECT_EQ(a.num_unfinished(), 8u);
    size_t with_kv = 0;
    for (const auto& g : a.groups())
      for (const auto& t : g.members) with_kv += !t.kv.empty();
    EXPECT_EQ(with_kv, kv == PartialKv::Reuse ? size_t(c.max_batch) : 0u);
    // checkpoint: to JSON text and back
    ReplayBuffer b;
    b.from_json(json::parse(a.to_json().dump()));
    EXPECT_EQ(b.to_json().dump(), a.to_json().dump());
    if (kv == PartialKv::Reuse) {
      ReplayBuffer broken = b;
      for (auto& g : broken.groups())
        for (auto& t : g.members)
          if (!t.kv.empty()) t.kv.pop_back();  // one position short
      FakeDecoder dc(V, eng.slots_needed(), 64);
      EXPECT_THROW(eng.generate(dc, {}, 1, &broken), FormatError);
    }
    std::vector<std::vector<int32_t>> ra, rb;
    for (int v = 1; v < 20 && !(a.empty() && b.empty()); ++v) {
      for (auto& t : eng.generate(da, {}, v, &a).trajectories) ra.push_back(t.tokens);
      for (auto& t : eng.generate(db, {}, v, &b).trajectories) rb.push_back(t.tokens);
    }
    EXPECT_EQ(ra.size(), 8u);
    EXPECT_EQ(ra, rb);
  }
}

TEST(Rollout, StaleTrajectoriesRestartAndStalenessIsReported) {
  const int V = 64;
  RolloutConfig c = base_cfg();
  c.max_completion_length = 30;
  c.partial_rollout = true;
  c.partial_rollout_segment = 5;
  c.max_staleness = 2;
  c.loss_segments = LossSegments::WithinStaleness;
  c.loss_max_staleness = 1;
  RolloutEngine eng(c);
  FakeDecoder dec(V, eng.slots_needed(), 64);
  ReplayBuffer buf;
  std::vector<Trajectory> out;
  int restarted = 0;
  double stale_sum = 0;
  int calls = 0;
  for (int v = 0; v < 40; ++v) {
    auto r = eng.generate(dec, v == 0 ? make_prompts(1, V) : std::vector<Prompt>{}, v, &buf);
    restarted += r.stats.n_restarted;
    if (!r.trajectories.empty()) {
      stale_sum += r.stats.mean_trajectory_staleness;
      ++calls;
    }
    for (auto& t : r.trajectories) {
      EXPECT_LE(t.staleness(v), c.max_staleness);  // 5 tokens per call, 30 tokens: never finishes within 3 calls
      for (size_t i = 0; i < t.tokens.size(); ++i) EXPECT_EQ(t.loss_mask[i], v - t.versions[i] <= 1 ? 1 : 0);
      out.push_back(t);
    }
    if (buf.empty()) break;
  }
  // 30 tokens at 5 per call take 6 calls, more than max_staleness + 1 = 3: every trajectory keeps restarting,
  // so nothing is ever emitted; with max_staleness 5 they finish.
  EXPECT_GT(restarted, 0);
  EXPECT_TRUE(out.empty());
  c.max_staleness = 5;
  RolloutEngine eng2(c);
  std::vector<RolloutStats> st;
  const auto got = run_to_completion(eng2, dec, make_prompts(1, V), &st);
  EXPECT_EQ(got.size(), 4u);
  EXPECT_DOUBLE_EQ(st.back().mean_trajectory_staleness, 5.0);
  // tokens are 5,4,3,2,1,0 versions old, 5 each: mean 2.5
  EXPECT_DOUBLE_EQ(st.back().mean_token_staleness, 2.5);
  EXPECT_DOUBLE_EQ(st.back().loss_token_fraction, 10.0 / 30.0);
}

TEST(Rollout, LossMaskModes) {
  Trajectory t;
  t.tokens = {1, 2, 3, 4};
  t.versions = {3, 3, 4, 5};
  EXPECT_EQ(loss_mask_for(t, LossSegments::All, 5, 0), (std::vector<uint8_t>{1, 1, 1, 1}));
  EXPECT_EQ(loss_mask_for(t, LossSegments::CurrentOnly, 5, 0), (std::vector<uint8_t>{0, 0, 0, 1}));
  EXPECT_EQ(loss_mask_for(t, LossSegments::WithinStaleness, 5, 1), (std::vector<uint8_t>{0, 0, 1, 1}));
}

TEST(Rollout, ConfigValidationAndEnumNames) {
  RolloutConfig c;
  EXPECT_THROW(config_apply_json(c, json::parse(R"({"loss_segments": "newest"})"), "t"), ConfigError);
  try {
    config_apply_json(c, json::parse(R"({"loss_segments": "newest"})"), "t");
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("all, current_only, within_staleness"), std::string::npos) << e.what();
  }
  for (const char* bad : {R"({"top_p": 0})", R"({"max_batch": 0})", R"({"repeat_min_repeats": 1})",
                          R"({"static_batch": true, "partial_rollout": true})"}) {
    RolloutConfig d;
    EXPECT_THROW(config_apply_json(d, json::parse(bad), "t"), ConfigError) << bad;
  }
  c = RolloutConfig{};
  config_apply_json(c, json::parse(R"({"num_generations": 16, "loss_segments": "all", "stop_token_ids": [2, 5]})"), "t");
  EXPECT_EQ(c.num_generations, 16);
  EXPECT_EQ(c.loss_segments, LossSegments::All);
  EXPECT_EQ(c.stop_token_ids, (std::vector<int>{2, 5}));
}

}  // namespace
}  // namespace reasonrl::policy
