// rejection.cpp: n samples per prompt, shortest-correct selection and Kimi's DPO pairs.
#include "rl/long2short/rejection.h"


#include <algorithm>
#include <set>

#include "policy/model_decoder.h"
#include "policy/rollout.h"
#include "rewards/manager.h"
#include "rl/train/task_data.h"
#include "rl/util/log.h"
#include "rl/util/utf8.h"

namespace reasonrl::long2short {

void SamplingSetup::validate() const {
  if (num_samples < 1 || num_prompts < 1 || max_completion_length < 1 || max_batch < 1)
    throw ConfigError("sampling: num_samples, num_prompts, max_completion_length and max_batch must be >= 1");
  if (temperature < 0) throw ConfigError("sampling.temperature must be >= 0");
}

std::vector<PromptSamples> sample_responses(model::Model& m, const datasets::Tokenizer& tok,
                                            const datasets::PromptTemplate& tpl,
                                            const std::vector<datasets::Example>& examples, const SamplingSetup& cfg) {
  const double t0 = now_seconds();
  const int n = std::min<int>(cfg.num_prompts, int(examples.size()));
  policy::RolloutConfig rc;
  rc.num_generations = cfg.num_samples;
  rc.sampling_params.temperature = cfg.temperature;
  rc.max_completion_length = cfg.max_completion_length;
  rc.max_batch = cfg.max_batch;
  rc.stop_token_ids = train::stop_ids(tok);
  rc.seed = cfg.seed;
  policy::RolloutEngine engine(rc);
  std::vector<policy::Prompt> prompts(static_cast<size_t>(n));
  int max_prompt = 0;
  for (int i = 0; i < n; ++i) {
    prompts[size_t(i)].id = i;
    const auto ids = tpl.encode_prompt(tok, examples[size_t(i)]);
    prompts[size_t(i)].tokens.assign(ids.begin(), ids.end());
    max_prompt = std::max(max_prompt, int(ids.size()));
  }
  const int max_seq = max_prompt + cfg.max_completion_length + 1;
  if (max_seq > m.config().max_position_embeddings)
    throw ConfigError("sampling: prompt (" + std::to_string(max_prompt) + ") + max_completion_length (" +
                      std::to_string(cfg.max_completion_length) + ") exceeds max_position_embeddings " +
                      std::to_string(m.config().max_position_embeddings));
  policy::ModelDecoder dec(m, engine.slots_needed(), max_seq);
  const auto out = engine.generate(dec, prompts, 0);

  rewards::RewardConfig rcfg;
  rcfg.rewards = {"accuracy"};
  rewards::RewardManager grader(rcfg);
  std::vector<PromptSamples> res(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    res[size_t(i)].example = size_t(i);
    res[size_t(i)].prompt = prompts[size_t(i)].tokens;
  }
  for (const auto& t : out.trajectories) {
    const auto& e = examples[size_t(t.prompt_id)];
    Candidate c;
    std::vector<int> ids(t.tokens.begin(), t.tokens.end());
    c.text = tok.decode(ids, /*skip_special=*/true);
    c.tokens = t.tokens;
    c.n_tokens = t.length();
    c.finish_reason = enum_to_string(t.finish);
    c.correct = grader
                    .score_one(train::make_reward_input(e, tpl.prompt(e), c.text, c.n_tokens, cfg.max_completion_length,
                                                        c.finish_reason))
                    .correct;
    res[size_t(t.prompt_id)].samples.push_back(std::move(c));
  }
  log_info("sampled {} x {} responses in {:.1f}s", n, cfg.num_samples, now_seconds() - t0);
  return res;
}

int shortest_correct(const std::vector<Candidate>& c) {
  int best = -1;
  for (int i = 0; i < int(c.size()); ++i)
    if (c[size_t(i)].correct && (best < 0 || c[size_t(i)].n_tokens < c[size_t(best)].n_tokens)) best = i;
  return best;
}

std::vector<std::pair<int, int>> dpo_pair_indices(const std::vector<Candidate>& c, double ratio, int max_pairs) {
  std::vector<std::pair<int, int>> out;
  const int ch = shortest_correct(c);
  if (ch < 0) return out;
  const int L = c[size_t(ch)].n_tokens;
  std::vector<int> cand;
  for (int i = 0; i < int(c.size()); ++i) {
    if (i == ch) continue;
    const auto& x = c[size_t(i)];
    const bool wrong_longer = !x.correct && x.n_tokens > L;
    const bool correct_much_longer = x.correct && double(x.n_tokens) >= ratio * double(L);
    if (wrong_longer || correct_much_longer) cand.push_back(i);
  }
  std::stable_sort(cand.begin(), cand.end(), [&](int a, int b) { return c[size_t(a)].n_tokens > c[size_t(b)].n_tokens; });
  std::set<std::string> seen;
  for (int i : cand) {
    if (int(out.size()) >= max_pairs) break;
    if (!seen.insert(c[size_t(i)].text).second) continue;
    out.emplace_back(ch, i);
  }
  return out;
}

bool split_target(const datasets::PromptTemplate& tpl, const std::string& response, std::string* cot,
                  std::string* answer) {
  const std::string shape = tpl.target("\x01", "\x02");
  const size_t a = shape.find('\x01'), b = shape.find('\x02');
  if (a == std::string::npos || b == std::string::npos || b < a) return false;
  const std::string pre = shape.substr(0, a), mid = shape.substr(a + 1, b - a - 1), post = shape.substr(b + 1);
  if (response.size() < pre.size() + mid.size() + post.size()) return false;
  if (response.compare(0, pre.size(), pre) != 0) return false;
  if (response.compare(response.size() - post.size(), post.size(), post) != 0) return false;
  const std::string inner = response.substr(pre.size(), response.size() - pre.size() - post.size());
  const size_t m = inner.find(mid);
  if (m == std::string::npos) return false;
  *cot = inner.substr(0, m);
  *answer = inner.substr(m + mid.size());
  return tpl.target(*cot, *answer) == response;
}

ShortestSet build_shortest_set(const std::vector<PromptSamples>& ps, const std::vector<datasets::Example>& examples,
                               const datasets::PromptTemplate& tpl) {
  ShortestSet s;
  double sampled = 0, n_sampled = 0;
  for (const auto& p : ps) {
    ++s.prompts;
    for (const auto& c : p.samples) sampled += c.n_tokens, n_sampled += 1;
    const int k = shortest_correct(p.samples);
    if (k < 0) continue;
    ++s.with_correct;
    const auto& c = p.samples[size_t(k)];
    if (!utf8_valid(c.text)) {  // a byte-level tokenizer can stop inside a character; the JSONL file cannot hold it
      ++s.not_utf8;
      continue;
    }
    datasets::Example e = examples[p.example];
    std::string cot, ans;
    if (!split_target(tpl, c.text, &cot, &ans)) {
      ++s.unparsed;
      continue;
    }
    e.cot = cot;
    e.solution = ans == e.answer ? "" : ans;
    s.mean_selected_tokens += c.n_tokens;
    s.examples.push_back(std::move(e));
  }
  if (!s.examples.empty()) s.mean_selected_tokens /= double(s.examples.size());
  if (n_sampled > 0) s.mean_sampled_tokens = sampled / n_sampled;
  return s;
}

PairSet build_dpo_pairs(const std::vector<PromptSamples>& ps, const std::vector<datasets::Example>& examples,
                        double ratio, int max_pairs) {
  PairSet out;
  for (const auto& p : ps) {
    const auto idx = dpo_pair_indices(p.samples, ratio, max_pairs);
    bool any = false;
    for (const auto& [ci, ri] : idx) {
      const auto& c = p.samples[size_t(ci)];
      const auto& r = p.samples[size_t(ri)];
      // Sampled bytes need not be UTF-8 (a byte-level tokenizer can stop inside a character); JSON text must be.
      if (!utf8_valid(c.text) || !utf8_valid(r.text)) {  // could not be written as TRL-layout JSONL: left out
        ++out.skipped_not_utf8;
        continue;
      }
      any = true;
      out.pairs.push_back({p.prompt, c.tokens, r.tokens, ""});
      out.text.push_back({examples[p.example].prompt, c.text, r.text, ""});
      json x;
      x["id"] = examples[p.example].id;
      x["chosen_tokens"] = c.n_tokens;
      x["rejected_tokens"] = r.n_tokens;
      x["rejected_correct"] = r.correct;
      out.extra.push_back(std::move(x));
    }
    if (any) ++out.prompts_with_pairs;
  }
  return out;
}

}  // namespace reasonrl::long2short
