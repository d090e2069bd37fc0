// evaluate.cpp: greedy held-out evaluation.
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

EvalResult evaluate_greedy(model::Model& m, const datasets::Tokenizer& tok, const datasets::PromptTemplate& tpl,
                           const std::vector<datasets::Example>& examples, const EvalConfig& cfg) {
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
  for (const auto& s : r.samples)
    f << nlohmann::ordered_json{{"id", examples[size_t(s.index)].id}, {"response", s.response}, {"n_tokens", s.n_tokens},
                                {"finish_reason", s.finish_reason}, {"correct", s.correct}}
             .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
      << "\n";
  if (!f) throw IoError("cannot write " + path);
}

}  // namespace reasonrl::train
