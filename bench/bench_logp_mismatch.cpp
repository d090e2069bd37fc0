// bench_logp_mismatch: where rollout/logp_max_abs_diff comes from. The same weights and the same (prompt, response)
// tokens go through the rollout's decode (prefill + one decode_step per token, absorbed MLA over the latent cache) and
// the trainer's forward (ResponseLogprobRunner: padded full-sequence forward), each under several batch compositions
// and thread counts; prints the largest |logp difference| between each pair (one factor changed at a time) and the
// time of each variant, in the default and the deterministic mode (model.h set_deterministic). Usage:
// bench_logp_mismatch [--tokens N] [model.json [init_std]] (default configs/model_tiny.json, random weights with the
// config's initializer_range; a larger init_std gives peaked, trained-like distributions). --tokens N runs the
// trainer's loop instead (onpolicy_main below) until the deterministic mode has generated N tokens; exit status 1 if
// its log-probs or routes ever differed.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/model.h"
#include "policy/logprob.h"
#include "policy/model_decoder.h"
#include "policy/rollout.h"
#include "rl/train/response_logprob.h"
#include "rl/util/rng.h"

using namespace reasonrl;

namespace {

struct Data {
  std::vector<std::vector<int32_t>> prompts, responses;
};

using LogpSet = std::vector<std::vector<float>>;  // per sequence, per response token

// The trainer's log-prob function (policy::sampling_logprob) of one row of decode logits, as the rollout records it
// in deterministic mode.
float row_logp(const float* logits, int V, const policy::SamplingParams& sp, int32_t target) {
  float lp = 0;
  policy::sampling_logprob(logits, 1, V, sp, &target, &lp);
  return lp;
}

// Decode: every sequence is prefilled, then response token j is fed at step j and the logits of step j - 1 (the
// prefill's last logits for j = 0) give its log-prob. rows_per_step sequences share each decode_step (1 = alone);
// sequences that run out of tokens leave the step (row compaction, as in the rollout engine).
LogpSet decode_logp(model::Model& m, const Data& d, int rows_per_step) {
  const int S = int(d.prompts.size()), V = m.config().vocab_size;
  policy::ModelDecoder dec(m, S, 256);
  const policy::SamplingParams sp;
  LogpSet out;
  out.resize(size_t(S));
  std::vector<float> logits(size_t(S) * V);
  for (int g0 = 0; g0 < S; g0 += rows_per_step) {
    const int g1 = std::min(S, g0 + rows_per_step);
    for (int s = g0; s < g1; ++s) {
      dec.prefill(s, d.prompts[size_t(s)].data(), int(d.prompts[size_t(s)].size()), logits.data() + size_t(s) * V);
      out[size_t(s)].push_back(row_logp(logits.data() + size_t(s) * V, V, sp, d.responses[size_t(s)][0]));
    }
    for (size_t j = 1;; ++j) {
      std::vector<int> slots;
      std::vector<int32_t> toks;
      for (int s = g0; s < g1; ++s)
        if (j < d.responses[size_t(s)].size()) slots.push_back(s), toks.push_back(d.responses[size_t(s)][j - 1]);
      if (slots.empty()) break;
      std::vector<float> lg(slots.size() * size_t(V));
      dec.decode_step(slots.data(), toks.data(), int(slots.size()), lg.data());
      for (size_t i = 0; i < slots.size(); ++i)
        out[size_t(slots[i])].push_back(
            row_logp(lg.data() + i * V, V, sp, d.responses[size_t(slots[i])][j]));
    }
  }
  return out;
}

LogpSet train_logp(model::Model& m, const Data& d, size_t micro_batch) {
  std::vector<train::ResponseSeq> seqs;
  for (size_t s = 0; s < d.prompts.size(); ++s) seqs.push_back({d.prompts[s], d.responses[s]});
  return train::response_logprobs(m, policy::SamplingParams{}, seqs, micro_batch);
}

struct Diff {
  double max = 0, frac = 0;  // largest |difference|, fraction of tokens that differ at all
};
Diff diff(const LogpSet& a, const LogpSet& b) {
  Diff d;
  double n = 0, nd = 0;
  for (size_t s = 0; s < a.size(); ++s)
    for (size_t j = 0; j < a[s].size(); ++j) {
      d.max = std::max(d.max, double(std::fabs(a[s][j] - b[s][j])));
      n += 1;
      nd += a[s][j] != b[s][j] ? 1 : 0;
    }
  d.frac = n > 0 ? nd / n : 0;
  return d;
}

// --tokens N: the trainer's loop. Per round: the rollout engine samples G = 4 responses to each of 16 random prompts
// (continuous batching, 32 rows, stop tokens 0-7, up to 128 tokens), recording log-probs and routes; then the
// trainer's side: ResponseLogprobRunner (full kernel) over micro-batches of 16 sequences, whose forward's log-probs and
// routes are compared with the rollout's (the trainer's rollout/logp_max_abs_diff and moe/route_mismatch).
// Phase 1 (timing, both modes, alternating round by round so that the ratios see the same load, until each mode has
// generated kCompareTokens): the update is a real one (backward of the mean log-prob, one AdamW step at lr 1e-4).
// Phase 2 (counting, deterministic mode only, until it has generated N tokens in all): forward only, then every
// weight moves by a relative N(0, 1e-3) perturbation (cheaper than a backward; every round still sees new weights).
constexpr int64_t kCompareTokens = 30000;
struct ModeRun {
  std::unique_ptr<model::Model> m;
  std::unique_ptr<model::AdamW> opt;
  int64_t tokens = 0, compare_tokens = 0, tok_differ = 0;
  double max_diff = 0, decode_s = 0, train_s = 0;  // times: phase 1 only
  train::RouteCounts routes;
};

void onpolicy_round(ModeRun& r, const std::vector<policy::Prompt>& prompts, int round, bool update, Rng& rng) {
  policy::RolloutConfig rc;
  rc.num_generations = 4;
  rc.max_completion_length = 128;
  rc.max_batch = 32;
  rc.seed = uint64_t(round);
  rc.stop_token_ids = {0, 1, 2, 3, 4, 5, 6, 7};
  policy::RolloutEngine engine(rc);
  policy::ModelDecoder dec(*r.m, engine.slots_needed(), 192);
  double t0 = omp_get_wtime();
  const policy::RolloutResult res = engine.generate(dec, prompts, round);
  const double t1 = omp_get_wtime();
  std::vector<train::ResponseSeq> seqs;
  int64_t n = 0;
  for (const auto& t : res.trajectories) {
    seqs.push_back({t.prompt, t.tokens, t.routes});
    n += t.length();
  }
  train::ResponseLogprobRunner run(*r.m, rc.sampling(), train::TrainKernel::Full);
  if (update) r.m->zero_grad();
  const size_t mb = 16;
  for (size_t i0 = 0; i0 < seqs.size(); i0 += mb) {
    const size_t k = std::min(mb, seqs.size() - i0);
    const train::ResponseLogprobs& lp = run.forward(std::span(seqs).subspan(i0, k), false);
    r.routes += lp.routes;
    for (size_t s = 0; s < k; ++s) {
      const auto& want = res.trajectories[i0 + s].logp;
      for (size_t j = 0; j < want.size(); ++j) {
        const float got = lp.logp[size_t(lp.offsets[s]) + j];
        r.max_diff = std::max(r.max_diff, double(std::fabs(got - want[j])));
        r.tok_differ += got != want[j];
      }
    }
    if (update)
      run.backward(std::vector<float>(lp.logp.size(), -1.0f / float(n)), 1.0f / float((seqs.size() + mb - 1) / mb));
  }
  if (update) {
    r.opt->step(*r.m, 1e-4f);
    r.decode_s += t1 - t0;
    r.train_s += omp_get_wtime() - t1;
    r.compare_tokens += n;
  } else {
    for (float& w : r.m->params()) w *= float(1.0 + 1e-3 * rng.normal());
  }
  r.tokens += n;
}

std::vector<policy::Prompt> random_prompts(Rng& rng, int round, int V) {
  std::vector<policy::Prompt> prompts(16);
  for (size_t i = 0; i < prompts.size(); ++i) {
    prompts[i].id = int64_t(round) * 16 + int64_t(i);
    for (int t = 0, P = 8 + int(rng.below(24)); t < P; ++t) prompts[i].tokens.push_back(int32_t(8 + rng.below(uint64_t(V - 8))));
  }
  return prompts;
}

int onpolicy_main(int64_t target, const model::ModelConfig& mc) {
  ModeRun runs[2];
  for (int det = 0; det < 2; ++det) {
    runs[det].m = std::make_unique<model::Model>(mc);
    runs[det].m->init_weights(1);
    runs[det].m->set_deterministic(det == 1);
    runs[det].opt = std::make_unique<model::AdamW>();
  }
  Rng rng(11), noise(12);
  int round = 0;
  for (; runs[0].compare_tokens < kCompareTokens || runs[1].compare_tokens < kCompareTokens; ++round) {
    const auto prompts = random_prompts(rng, round, mc.vocab_size);
    for (int det = 0; det < 2; ++det) onpolicy_round(runs[det], prompts, round, true, noise);
  }
  const int phase1 = round;
  for (; runs[1].tokens < target; ++round) onpolicy_round(runs[1], random_prompts(rng, round, mc.vocab_size), round, false, noise);
  std::printf("init_std %g, threads %d; phase 1: %d rounds in both modes, phase 2: %d rounds deterministic only\n",
              mc.initializer_range, omp_get_max_threads(), phase1, round - phase1);
  for (int det = 0; det < 2; ++det) {
    const ModeRun& r = runs[det];
    std::printf("%-13s tokens %lld  logp_max_abs_diff %.3e  tokens differing %.4f  route_mismatch %.4f (%lld of %lld "
                "(token, layer) pairs)  phase 1: decode %.2f s (%.0f tok/s), train %.2f s (%.0f tok/s)\n",
                det ? "deterministic" : "default", (long long)r.tokens, r.max_diff,
                double(r.tok_differ) / double(r.tokens), r.routes.mismatch(), (long long)r.routes.pairs_differ,
                (long long)r.routes.pairs, r.decode_s, double(r.compare_tokens) / r.decode_s, r.train_s,
                double(r.compare_tokens) / r.train_s);
  }
  auto per_tok = [&](int det, double s) { return s / double(runs[det].compare_tokens); };
  std::printf("deterministic / default (phase 1, time per token): decode x%.3f, train x%.3f\n",
              per_tok(1, runs[1].decode_s) / per_tok(0, runs[0].decode_s),
              per_tok(1, runs[1].train_s) / per_tok(0, runs[0].train_s));
  return runs[1].max_diff == 0 && runs[1].routes.pairs_differ == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t tokens = 0;
  if (argc > 2 && std::string(argv[1]) == "--tokens") {
    tokens = std::stoll(argv[2]);
    argc -= 2;
    argv += 2;
  }
  const std::string path = argc > 1 ? argv[1] : std::string(REASONRL_SOURCE_DIR) + "/configs/model_tiny.json";
  model::ModelConfig mc = model::load_model_config(path);
  if (argc > 2) mc.initializer_range = std::stod(argv[2]);
  if (tokens > 0) return onpolicy_main(tokens, mc);
  model::Model m(mc);
  m.init_weights(1);
  double mean_lp = 0, n_lp = 0;
  const int V = m.config().vocab_size;
  Rng rng(7);
  Data d;
  const int S = 16;
  for (int s = 0; s < S; ++s) {
    d.prompts.emplace_back();
    d.responses.emplace_back();
    for (int t = 0, P = 8 + int(rng.below(24)); t < P; ++t) d.prompts.back().push_back(int32_t(rng.below(V)));
    for (int t = 0, R = 16 + int(rng.below(48)); t < R; ++t) d.responses.back().push_back(int32_t(rng.below(V)));
  }
  struct Variant {
    const char* name;
    bool decode;
    int batch, threads;
    LogpSet lp;
    double secs = 0;
  };
  const std::vector<Variant> variants = {
      {"decode rows=16 threads=2", true, 16, 2, {}}, {"decode rows=1 threads=2", true, 1, 2, {}},
      {"decode rows=16 threads=1", true, 16, 1, {}}, {"train mb=16 threads=2", false, 16, 2, {}},
      {"train mb=1 threads=2", false, 1, 2, {}},     {"train mb=16 threads=1", false, 16, 1, {}},
      {"train mb=4 threads=2", false, 4, 2, {}}};
  // Both modes, interleaved per variant so that the time ratios see the same machine load.
  std::vector<Variant> vs[2] = {variants, variants};
  for (size_t k = 0; k < variants.size(); ++k)
    for (int det = 0; det < 2; ++det) {
      Variant& v = vs[det][k];
      m.set_deterministic(det == 1);
      omp_set_num_threads(v.threads);
      const double t0 = omp_get_wtime();
      v.lp = v.decode ? decode_logp(m, d, v.batch) : train_logp(m, d, size_t(v.batch));
      v.secs = omp_get_wtime() - t0;
    }
  for (const auto& r : vs[0][0].lp)
    for (float x : r) mean_lp += x, n_lp += 1;
  std::printf("init_std %g, mean token logp %.3f over %.0f tokens\n", mc.initializer_range, mean_lp / n_lp, n_lp);
  for (size_t k = 0; k < variants.size(); ++k)
    std::printf("time %-26s default %.3f s  deterministic %.3f s  ratio %.2f\n", variants[k].name, vs[0][k].secs,
                vs[1][k].secs, vs[1][k].secs / vs[0][k].secs);
  for (int det = 0; det < 2; ++det) {
    std::printf("%s mode:\n", det ? "deterministic" : "default");
    auto pair = [&](int a, int b, const char* why) {
      const Diff df = diff(vs[det][size_t(a)].lp, vs[det][size_t(b)].lp);
      std::printf("  max_abs_diff %-26s vs %-26s %.3e  tokens differing %.3f  (%s)\n", variants[size_t(a)].name,
                  variants[size_t(b)].name, df.max, df.frac, why);
    };
    pair(0, 1, "decode: batch composition / compaction");
    pair(0, 2, "decode: thread count");
    pair(3, 4, "train: batch composition / padding");
    pair(3, 6, "train: micro-batch 16 vs 4");
    pair(3, 5, "train: thread count");
    pair(1, 4, "decode alone vs forward alone: the two code paths");
    pair(0, 3, "what the trainer reports (rollout/logp_max_abs_diff)");
  }
  const Diff dd = diff(vs[0][0].lp, vs[1][0].lp);
  std::printf("default vs deterministic (decode rows=16): %.3e\n", dd.max);
  return 0;
}
