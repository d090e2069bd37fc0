// synthetic.cpp: deterministic synthetic run data (reward and length trends, partial rollouts, truncations).
#include "rl/store/synthetic.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "rl/util/rng.h"

namespace reasonrl::store {

namespace {
const char* kWords[] = {"let", "x", "be", "the", "number", "so", "we", "add", "3", "and", "7", "then", "divide", "by",
                        "2", "wait", "check", "again", "therefore", "answer", "is", "<think>", "</think>", "=", "+"};
constexpr int kNWords = sizeof(kWords) / sizeof(kWords[0]);

double progress(const SyntheticSpec& spec, int64_t step) {
  return spec.n_steps > 1 ? static_cast<double>(step) / static_cast<double>(spec.n_steps - 1) : 1.0;
}
}  // namespace

std::vector<PromptRecord> synthetic_prompts(const SyntheticSpec& spec) {
  std::vector<PromptRecord> out;
  Rng rng(Rng::derive_seed(spec.seed, 1));
  for (int i = 0; i < spec.n_prompts; ++i) {
    const int a = static_cast<int>(rng.below(90)) + 10, b = static_cast<int>(rng.below(90)) + 10;
    PromptRecord p;
    p.id = i;
    p.dataset = "synthetic";
    p.source_id = "syn-" + std::to_string(i);
    p.text = "What is " + std::to_string(a) + " + " + std::to_string(b) + "?";
    p.gold = std::to_string(a + b);
    p.difficulty = 1 + i % 5;
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<SampleRecord> synthetic_samples(const SyntheticSpec& spec, int64_t step) {
  Rng rng(Rng::derive_seed(spec.seed, 2, static_cast<uint64_t>(step)));
  const double t = progress(spec, step);
  std::vector<SampleRecord> out;
  for (int p = 0; p < spec.prompts_per_step; ++p) {
    const int64_t pid = static_cast<int64_t>(rng.below(static_cast<uint64_t>(spec.n_prompts)));
    const int difficulty = 1 + static_cast<int>(pid % 5);
    // Success probability rises over the run and falls with difficulty.
    const double p_ok = std::clamp(0.15 + 0.6 * t - 0.08 * (difficulty - 1), 0.02, 0.98);
    std::vector<SampleRecord> group;
    for (int g = 0; g < spec.group_size; ++g) {
      SampleRecord s;
      s.step = step;
      s.prompt_id = pid;
      s.group_id = p;
      s.group_index = g;
      const int chars = std::max(8, static_cast<int>(spec.text_chars * (0.5 + 0.7 * t) * (0.5 + rng.uniform())));
      std::string text;
      while (static_cast<int>(text.size()) < chars) {
        if (!text.empty()) text += ' ';
        text += kWords[rng.below(kNWords)];
      }
      const bool truncated = rng.uniform() < 0.08;  // cut at the length limit: no answer, so never correct
      s.correct = !truncated && rng.uniform() < p_ok;
      const bool formatted = !truncated && rng.uniform() < 0.5 + 0.5 * t;
      s.text = text + (truncated ? "" : (s.correct ? " \\boxed{" + std::to_string(pid) + "}" : " \\boxed{0}"));
      s.n_tokens = static_cast<int>(s.text.size() / 4) + 1;
      s.finish_reason = truncated ? "length" : "stop";
      s.reward_components["accuracy"] = s.correct ? 1.0 : 0.0;
      s.reward_components["format"] = formatted ? 0.2 : 0.0;
      // A length penalty that only applies to correct answers (Kimi-style): null otherwise.
      s.reward_components["length"] = s.correct ? std::optional<double>(-0.1 * rng.uniform()) : std::nullopt;
      s.reward = 0;
      for (const auto& [k, v] : s.reward_components) s.reward += v.value_or(0.0);
      const int version = static_cast<int>(step);
      s.policy_version_max = version;
      if (rng.uniform() < 0.25 && version > 0) {  // a partial rollout continued across two policy versions
        s.policy_version_min = version - 1;
        s.segments = {{version - 1, s.n_tokens / 2}, {version, s.n_tokens - s.n_tokens / 2}};
      } else {
        s.policy_version_min = version;
      }
      group.push_back(std::move(s));
    }
    double mean = 0, sq = 0;
    for (const auto& s : group) mean += s.reward;
    mean /= static_cast<double>(group.size());
    for (const auto& s : group) sq += (s.reward - mean) * (s.reward - mean);
    const double sd = std::sqrt(sq / static_cast<double>(group.size()));
    for (auto& s : group) {
      s.advantage = (s.reward - mean) / (sd + 1e-4);
      out.push_back(std::move(s));
    }
  }
  return out;
}

StepRecord synthetic_step_metrics(const SyntheticSpec& spec, int64_t step, const std::vector<SampleRecord>& samples) {
  Rng rng(Rng::derive_seed(spec.seed, 3, static_cast<uint64_t>(step)));
  const double t = progress(spec, step);
  StepRecord r;
  r.step = step;
  r.metrics[metric::kKl] = 0.002 + 0.02 * t + 0.002 * rng.uniform();
  r.metrics[metric::kEntropy] = 1.2 - 0.5 * t + 0.05 * rng.uniform();
  r.metrics[metric::kClipFrac] = 0.05 + 0.03 * rng.uniform();
  r.metrics[metric::kTokensPerS] = 900 + 100 * rng.uniform();
  r.metrics["time/rollout_ms"] = 800 + 200 * t + 50 * rng.uniform();
  r.metrics["time/reward_ms"] = 20 + 5 * rng.uniform();
  r.metrics["time/update_ms"] = 400 + 30 * rng.uniform();
  r.metrics["loss"] = -0.01 + 0.02 * rng.uniform();
  r.metrics["time/step_ms"] = r.metrics["time/rollout_ms"] + r.metrics["time/reward_ms"] + r.metrics["time/update_ms"] + 15;
  add_sample_metrics(r, samples, static_cast<int>(step));
  return r;
}

void write_synthetic_run(RolloutStore& st, const SyntheticSpec& spec) {
  st.begin_run({spec.name, R"({"synthetic": true})", "reasonrl 0.1.0", static_cast<int64_t>(spec.seed), ""});
  st.upsert_prompts(synthetic_prompts(spec));
  for (int64_t step = 0; step < spec.n_steps; ++step) {
    auto samples = synthetic_samples(spec, step);
    st.write_step(synthetic_step_metrics(spec, step, samples), samples);
    if (step % 10 == 0 || step == spec.n_steps - 1) {
      const double t = progress(spec, step);
      st.write_eval({step, "synthetic_test", "", {{"pass@1", 0.2 + 0.5 * t}, {"mean_tokens", 120 + 80 * t}}});
    }
  }
}

void write_synthetic_file(const std::string& path, const SyntheticSpec& spec) {
  auto st = RolloutStore::open(path);
  write_synthetic_run(st, spec);
}

}  // namespace reasonrl::store
