// difficulty.cpp: k graded samples per prompt -> pass-rate table -> curated prompts, and the terminal summary.
#include "rl/long2short/difficulty.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include "model/model.h"
#include "rl/long2short/pipeline.h"
#include "rl/train/run_dir.h"
#include "rl/train/task_data.h"
#include "rl/util/log.h"

namespace fs = std::filesystem;

namespace reasonrl::long2short {

void DifficultyConfig::validate() const {
  if (num_samples < 1) throw ConfigError("difficulty: num_samples (k) must be >= 1");
  if (num_prompts < 0) throw ConfigError("difficulty: num_prompts must be >= 0 (0 = all)");
  if (max_completion_length < 1 || max_batch < 1)
    throw ConfigError("difficulty: max_completion_length and max_batch must be >= 1");
  if (temperature < 0) throw ConfigError("difficulty: temperature must be >= 0");
  if (run_dir.empty()) throw ConfigError("difficulty: run_dir must not be empty");
  curation.validate();
}

namespace {

void make_parent_dirs(const std::string& path) {
  const fs::path parent = fs::path(path).parent_path();
  if (!parent.empty()) train::make_dirs(parent.string());
}

}  // namespace

DifficultyResult tally_difficulty(const std::vector<datasets::Example>& examples, std::vector<PromptSamples> samples,
                                  int num_samples, const sampler::CurationConfig& curation) {
  DifficultyResult r;
  r.num_samples = num_samples;
  r.examples = int(examples.size());
  r.measured = int(samples.size());
  r.histogram.assign(size_t(num_samples) + 1, 0);
  std::set<std::string> ids;
  int duplicates = 0;
  double rate_sum = 0;
  for (const auto& p : samples) {
    if (p.example >= examples.size()) throw ConfigError("difficulty: a sample refers to a missing example");
    const int n = int(p.samples.size());
    const int c = int(std::count_if(p.samples.begin(), p.samples.end(), [](const Candidate& x) { return x.correct; }));
    if (n == 0) throw ConfigError("difficulty: no samples for example '" + examples[p.example].id + "'");
    const std::string& id = examples[p.example].id;
    duplicates += !ids.insert(id).second;
    r.table.add(id, c, n);
    r.n_correct.push_back(c);
    if (n == num_samples) ++r.histogram[size_t(c)];
    rate_sum += double(c) / double(n);
  }
  if (duplicates > 0)
    log_warn("difficulty: {} measured prompts share an id with an earlier one; their counts are pooled per id", duplicates);
  if (r.measured > 0) r.mean_pass_rate = rate_sum / r.measured;

  const std::vector<int> keep = sampler::curate_by_pass_rate(examples, r.table, curation);
  r.curated.reserve(keep.size());
  for (int i : keep) r.curated.push_back(examples[size_t(i)]);
  r.kept = int(keep.size());
  std::vector<bool> kept(examples.size(), false);
  for (int i : keep) kept[size_t(i)] = true;
  for (size_t i = 0; i < examples.size(); ++i) {
    if (kept[i]) continue;
    const auto rate = r.table.rate(examples[i].id);
    if (!rate) ++r.dropped_unknown;
    else if (*rate > curation.max_pass_rate) ++r.dropped_easy;
    else ++r.dropped_hard;
  }
  r.samples = std::move(samples);
  return r;
}

DifficultyResult run_difficulty(const DifficultyConfig& cfg) {
  cfg.validate();
  if (cfg.checkpoint.empty()) throw ConfigError("difficulty: checkpoint is required (--checkpoint DIR)");
  const double t0 = now_seconds();
  const int threads = train::setup_threads(cfg.threads);
  const std::string ckpt = resolve_checkpoint(cfg.checkpoint);
  train::save_resolved_config(cfg.run_dir, config_to_json(cfg), "difficulty");
  log_info("threads: {}; checkpoint {}", threads, ckpt);

  const train::TaskData data = train::load_task_data(cfg.data);
  const datasets::PromptTemplate tpl(cfg.data.prompt_template);
  auto m = model::load_model(ckpt);
  const auto tok = datasets::Tokenizer::load(ckpt + "/tokenizer.json");
  if (tok.vocab_size() > m->config().vocab_size)
    throw FormatError(ckpt + ": tokenizer.json has " + std::to_string(tok.vocab_size()) +
                      " ids but the model's vocab_size is " + std::to_string(m->config().vocab_size));

  SamplingSetup s;
  s.num_samples = cfg.num_samples;
  s.num_prompts = cfg.num_prompts > 0 ? std::min<int>(cfg.num_prompts, int(data.train.size())) : int(data.train.size());
  s.temperature = cfg.temperature;
  s.max_completion_length = cfg.max_completion_length;
  s.max_batch = cfg.max_batch;
  s.seed = cfg.seed;
  s.validate();
  log_info("difficulty: sampling {} answers to each of {} of {} training prompts (T = {})", s.num_samples,
           s.num_prompts, data.train.size(), s.temperature);
  auto samples = sample_responses(*m, tok, tpl, data.train, s);

  DifficultyResult r = tally_difficulty(data.train, std::move(samples), cfg.num_samples, cfg.curation);
  r.checkpoint = ckpt;
  r.pass_rates_path = cfg.pass_rates.empty() ? cfg.run_dir + "/pass_rates.jsonl" : cfg.pass_rates;
  r.output_path = cfg.output.empty() ? cfg.run_dir + "/curated.jsonl" : cfg.output;
  make_parent_dirs(r.pass_rates_path);
  r.table.save(r.pass_rates_path);
  make_parent_dirs(r.output_path);
  datasets::write_examples_jsonl(r.output_path, r.curated);
  r.seconds = now_seconds() - t0;
  return r;
}

std::string difficulty_summary(const DifficultyResult& r, const sampler::CurationConfig& c) {
  std::string s = fmt::format("prompts measured: {} of {} (k = {} answers each)\n", r.measured, r.examples, r.num_samples);
  s += fmt::format("mean pass rate:   {:.3f}\n", r.mean_pass_rate);
  s += fmt::format("kept:             {} (pass rate in [{:g}, {:g}]{})\n", r.kept, c.min_pass_rate, c.max_pass_rate,
                   c.keep_unknown ? ", or not measured" : "");
  s += fmt::format("dropped:          {} too easy (> {:g}), {} too hard (< {:g}), {} not measured\n", r.dropped_easy,
                   c.max_pass_rate, r.dropped_hard, c.min_pass_rate, r.dropped_unknown);
  s += "correct of k   prompts\n";
  const int most = r.histogram.empty() ? 0 : *std::max_element(r.histogram.begin(), r.histogram.end());
  for (size_t k = 0; k < r.histogram.size(); ++k) {
    const int n = r.histogram[k];
    const int bar = most > 0 ? int((40LL * n + most - 1) / most) : 0;
    s += fmt::format("{:>5}/{:<5} {:>8}  {}\n", k, r.num_samples, n, std::string(size_t(bar), '#'));
  }
  if (!r.pass_rates_path.empty()) s += "pass rates:       " + r.pass_rates_path + "\n";
  if (!r.output_path.empty()) s += "curated prompts:  " + r.output_path + "\n";
  return s;
}

}  // namespace reasonrl::long2short
