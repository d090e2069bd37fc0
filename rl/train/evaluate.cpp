// evaluate.cpp: greedy held-out evaluation, and sampled pass@k.
#include "rl/train/evaluate.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "policy/model_decoder.h"
#include "policy/rollout.h"
#include "rewards/manager.h"
#include "rl/train/task_data.h"
#include "rl/util/error.h"
#include "rl/util/log.h"

namespace reasonrl::train {

double pass_at_k(int n, int c, int k) {
  if (k < 1 || k > n || c < 0 || c > n)
    throw ConfigError("pass_at_k: need 1 <= k <= n and 0 <= c <= n, got n " + std::to_string(n) + ", c " + std::to_string(c) +
                      ", k " + std::to_string(k));
  if (n - c < k) return 1.0;
  double miss = 1.0;  // C(n-c, k) / C(n, k) = prod_{i = n-c+1}^{n} (1 - k / i)
  for (int i = n - c + 1; i <= n; ++i) miss *= 1.0 - double(k) / i;
  return 1.0 - miss;
}

bool pass_k_due(const EvalConfig& cfg, long step, bool first_or_last) {
  return cfg.pass_k_samples > 0 && (first_or_last || (cfg.pass_k_every > 0 && step % cfg.pass_k_every == 0));
}

std::vector<std::pair<std::string, double>> eval_metric_items(const EvalResult& r) {
  std::vector<std::pair<std::string, double>> m = {{"pass@1", r.pass_at_1},
                                                   {"mean_tokens", r.mean_tokens},
                                                   {"truncated_frac", r.truncated_frac},
                                                   {"n", double(r.n)},
                                                   {"reward_errors", double(r.reward_errors)}};
  if (r.pass_k > 0) {
    m.emplace_back("pass@" + std::to_string(r.pass_k), r.pass_at_k);
    m.emplace_back("sampled_pass@1", r.sampled_pass_at_1);
  }
  return m;
}

void log_eval(long step, const EvalResult& r) {
  const std::string pass_k =
      r.pass_k == 0 ? "" : fmt::format(", pass@{} {:.3f} (sampled pass@1 {:.3f}, {} samples per prompt)", r.pass_k,
                                       r.pass_at_k, r.sampled_pass_at_1, r.pass_k_samples);
  log_info("eval at step {}: greedy pass@1 {:.3f} on {} held-out prompts, mean {:.1f} tokens{} ({:.1f}s)", step,
           r.pass_at_1, r.n, r.mean_tokens, pass_k, r.seconds);
}

EvalResult evaluate_greedy(model::Model& m, const datasets::Tokenizer& tok, const datasets::PromptTemplate& tpl,
                           const std::vector<datasets::Example>& examples, const EvalConfig& cfg, bool with_pass_k) {
  const double t0 = now_seconds();
  EvalResult r;
  const int n = std::min<int>(cfg.size, int(examples.size()));
  if (n == 0) return r;
  policy::RolloutConfig rc;
  rc.num_generations = 1;
  rc.sampling_params.temperature = 0.0f;  // greedy
  rc.max_completion_length = cfg.max_completion_length;
  rc.max_batch = cfg.max_batch;
  rc.stop_token_ids = stop_ids(tok);
  rc.repeat_detection = false;
  policy::RolloutEngine engine(rc);
  // a held-out prompt that does not fit with its completion budget is an error naming it (file:line or id)
  check_prompts_fit({examples.begin(), examples.begin() + n}, tok, tpl, cfg.max_completion_length,
                    m.config().max_position_embeddings, "eval.max_completion_length");
  std::vector<policy::Prompt> prompts(static_cast<size_t>(n));
  int max_prompt = 0;
  for (int i = 0; i < n; ++i) {
    prompts[i].id = i;
    const auto ids = tpl.encode_prompt(tok, examples[i]);
    prompts[i].tokens.assign(ids.begin(), ids.end());
    max_prompt = std::max(max_prompt, int(ids.size()));
  }
  policy::ModelDecoder dec(m, engine.slots_needed(), max_prompt + cfg.max_completion_length + 1);
  auto out = engine.generate(dec, prompts, 0);

  rewards::RewardConfig rcfg;
  rcfg.rewards = {"accuracy"};
  rewards::RewardManager grader(rcfg);
  double tokens = 0, truncated = 0, correct = 0;
  r.samples.resize(size_t(n));
  for (const auto& t : out.trajectories) {
    const int i = int(t.prompt_id);
    const auto& e = examples[size_t(i)];
    EvalSample s;
    s.index = i;
    std::vector<int> ids(t.tokens.begin(), t.tokens.end());
    s.response = tok.decode(ids, /*skip_special=*/true);
    s.n_tokens = t.length();
    s.finish_reason = enum_to_string(t.finish);
    const auto res = grader.score_one(make_reward_input(e, tpl.prompt(e), s.response, s.n_tokens,
                                                        cfg.max_completion_length, s.finish_reason));
    s.correct = res.correct;
    if (!res.errors.empty() && ++r.reward_errors <= 3)
      log_warn("evaluation: the grader failed on held-out example {} ({}){}", i, res.error,
               r.reward_errors == 3 ? " (further failures are only counted)" : "");
    tokens += s.n_tokens;
    truncated += t.finish == policy::FinishReason::Length;
    correct += s.correct;
    r.samples[size_t(i)] = std::move(s);
  }
  if (with_pass_k && cfg.pass_k_samples > 0) {
    policy::RolloutConfig sc = rc;
    sc.num_generations = cfg.pass_k_samples;
    sc.sampling_params.temperature = 1.0f;
    sc.seed = 0;
    policy::RolloutEngine sampler(sc);
    policy::ModelDecoder sdec(m, sampler.slots_needed(), max_prompt + cfg.max_completion_length + 1);
    auto sampled = sampler.generate(sdec, prompts, 0);
    std::vector<int> seen(size_t(n), 0);
    for (auto& s : r.samples) s.sampled_correct = 0;
    int errors = 0;
    double all_correct = 0;
    for (const auto& t : sampled.trajectories) {
      const int i = int(t.prompt_id);
      const auto& e = examples[size_t(i)];
      std::vector<int> ids(t.tokens.begin(), t.tokens.end());
      const auto res = grader.score_one(make_reward_input(e, tpl.prompt(e), tok.decode(ids, true), t.length(),
                                                          cfg.max_completion_length, enum_to_string(t.finish)));
      if (!res.errors.empty() && ++errors <= 3) log_warn("pass@k: the grader failed on a sample of held-out example {} ({})", i, res.error);
      r.samples[size_t(i)].sampled_correct += res.correct;
      all_correct += res.correct;
      ++seen[size_t(i)];
    }
    if (errors > 0) log_warn("pass@k: the grader failed on {} samples (counted as not correct)", errors);
    r.reward_errors += errors;
    double sum = 0;
    for (int i = 0; i < n; ++i) {
      if (seen[size_t(i)] != cfg.pass_k_samples)
        throw Error("pass@k: held-out example " + std::to_string(i) + " got " + std::to_string(seen[size_t(i)]) + " samples, expected " +
                         std::to_string(cfg.pass_k_samples));
      sum += pass_at_k(cfg.pass_k_samples, r.samples[size_t(i)].sampled_correct, cfg.pass_k);
    }
    r.pass_k = cfg.pass_k;
    r.pass_k_samples = cfg.pass_k_samples;
    r.pass_at_k = sum / n;
    r.sampled_pass_at_1 = all_correct / (double(n) * cfg.pass_k_samples);
  }
  if (r.reward_errors > 0)
    log_warn("evaluation: the grader failed on {} of {} held-out examples (counted as not correct)", r.reward_errors, n);
  r.n = n;
  r.pass_at_1 = correct / n;
  r.mean_tokens = tokens / n;
  r.truncated_frac = truncated / n;
  r.seconds = now_seconds() - t0;
  return r;
}

void write_eval_samples(const std::string& run_dir, long step, const std::vector<datasets::Example>& examples,
                        const EvalResult& r) {
  const std::string dir = run_dir + "/eval_samples";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const std::string path = dir + "/step_" + std::to_string(step) + ".jsonl";
  std::ofstream f(path, std::ios::trunc);
  if (!f) throw IoError("cannot write " + path);
  f << nlohmann::ordered_json{{"format", "reasonrl.eval_samples"}, {"version", 1}, {"step", step}}.dump() << "\n";
  for (const auto& s : r.samples) {
    nlohmann::ordered_json j{{"id", examples[size_t(s.index)].id}, {"response", s.response}, {"n_tokens", s.n_tokens},
                             {"finish_reason", s.finish_reason}, {"correct", s.correct}};
    if (s.sampled_correct >= 0) j["sampled_correct"] = s.sampled_correct;
    f << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  }
  if (!f) throw IoError("cannot write " + path);
}

}  // namespace reasonrl::train
