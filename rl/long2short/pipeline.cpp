// pipeline.cpp: the long2short stages, their evaluation, the run database and the results table.
#include "rl/long2short/pipeline.h"

#include <cmath>
#include <filesystem>
#include <map>

#include "rl/train/run_dir.h"
#include "rl/train/sft.h"
#include "rl/train/task_data.h"
#include "rl/train/trainer.h"
#include "rl/util/log.h"

namespace fs = std::filesystem;

namespace reasonrl::long2short {

void Long2shortConfig::validate() const {
  if (stages.empty()) throw ConfigError("long2short.stages is empty; valid stages: " + enum_valid_list<Stage>());
}

std::string resolve_checkpoint(const std::string& dir) {
  if (dir.empty()) throw ConfigError("long2short: init_from (the long model) is required");
  if (fs::exists(fs::path(dir) / model::kModelFile)) return dir;
  // an SFT / DPO run's final model first (its checkpoints/ holds the periodic ones, for --resume)
  if (fs::exists(fs::path(dir) / "checkpoint" / model::kModelFile)) return dir + "/checkpoint";
  if (fs::exists(fs::path(dir) / "checkpoints")) {
    const std::string latest = train::latest_checkpoint(dir);
    if (!latest.empty()) return latest;
  }
  throw IoError("'" + dir + "' is neither a checkpoint directory (with " + model::kModelFile +
                "), nor a run directory with checkpoints/latest or checkpoint/");
}

namespace {

struct Pipeline {
  const Long2shortConfig& cfg;
  train::TaskData data;
  std::unique_ptr<datasets::PromptTemplate> tpl;
  std::map<std::string, std::vector<PromptSamples>> samples;  // by input checkpoint
  std::optional<store::RolloutStore> st;

  const std::vector<PromptSamples>& samples_of(const std::string& ckpt) {
    auto it = samples.find(ckpt);
    if (it != samples.end()) return it->second;
    auto m = model::load_model(ckpt);
    const auto tok = datasets::Tokenizer::load(ckpt + "/tokenizer.json");
    log_info("long2short: sampling {} responses to each of {} training prompts from {}", cfg.sampling.num_samples,
             std::min<size_t>(size_t(cfg.sampling.num_prompts), data.train.size()), ckpt);
    return samples[ckpt] = sample_responses(*m, tok, *tpl, data.train, cfg.sampling);
  }

  train::EvalResult evaluate(const std::string& ckpt) {
    auto m = model::load_model(ckpt);
    const auto tok = datasets::Tokenizer::load(ckpt + "/tokenizer.json");
    return train::evaluate_greedy(*m, tok, *tpl, data.heldout, cfg.eval);
  }

  std::string run_merge(const std::string& in, const std::string& dir) {
    MergeConfig mc = cfg.merge;
    if (mc.models.empty())
      throw ConfigError("long2short merge: merge.models is empty; list checkpoints (\"@input\" = the long model)");
    for (auto& m : mc.models) m = m == "@input" ? in : resolve_checkpoint(m);
    if (mc.base_model == "@input") mc.base_model = in;
    else if (!mc.base_model.empty()) mc.base_model = resolve_checkpoint(mc.base_model);
    mc.output = dir + "/checkpoint";
    return merge_checkpoints(mc);
  }

  std::string run_shortest(const std::string& in, const std::string& dir) {
    const auto& ps = samples_of(in);
    const ShortestSet set = build_shortest_set(ps, data.train, *tpl);
    log_info("shortest rejection sampling: {} of {} prompts have a correct sample ({} not in template shape, {} not valid "
             "UTF-8: left out); mean tokens {:.1f} selected vs {:.1f} sampled",
             set.with_correct, set.prompts, set.unparsed, set.not_utf8, set.mean_selected_tokens,
             set.mean_sampled_tokens);
    if (set.examples.empty()) throw ConfigError("shortest rejection sampling: no prompt has a correct sample");
    train::make_dirs(dir);
    const std::string file = dir + "/shortest_sft.jsonl";
    datasets::write_examples_jsonl(file, set.examples);
    train::SftConfig sc;
    sc.run_dir = dir + "/sft";
    sc.threads = cfg.threads;
    sc.data = cfg.data;
    sc.init_from = in;
    sc.optim = cfg.shortest.optim;
    sc.steps = cfg.shortest.steps;
    sc.batch_size = cfg.shortest.batch_size;
    sc.eval.size = 0;
    sc.sft_file = file;
    return train::run_sft(sc).checkpoint;
  }

  std::string run_dpo_stage(const std::string& in, const std::string& dir) {
    const auto& ps = samples_of(in);
    const PairSet pairs = build_dpo_pairs(ps, data.train, cfg.dpo.rejected_length_ratio, cfg.dpo.max_pairs_per_prompt);
    log_info("dpo pairs: {} from {} prompts ({} left out: a response is not valid UTF-8)", pairs.pairs.size(),
             pairs.prompts_with_pairs, pairs.skipped_not_utf8);
    if (pairs.pairs.empty()) throw ConfigError("long2short dpo: no preference pairs (no prompt has a correct sample and a longer negative)");
    train::make_dirs(dir);
    write_preference_jsonl(dir + "/pairs.jsonl", pairs.text, pairs.extra);
    auto m = model::load_model(in);
    const auto tok = datasets::Tokenizer::load(in + "/tokenizer.json");
    const DpoResult r = train_dpo(*m, pairs.pairs, cfg.dpo.dpo, dir + "/metrics.jsonl");
    const std::string out = dir + "/checkpoint";
    model::save_checkpoint(*m, out);
    tok.save(out + "/tokenizer.json");
    json s;
    s["format"] = "reasonrl.dpo_summary";
    s["version"] = 1;
    s["pairs_used"] = r.pairs_used;
    s["pairs_skipped"] = r.pairs_skipped;
    s["final_loss"] = r.final_stats.loss;
    s["final_margin"] = r.final_stats.margin;
    s["final_accuracy"] = r.final_stats.accuracy;
    write_file_atomic(dir + "/dpo_summary.json", s.dump(2) + "\n");
    return out;
  }

  std::string run_length_rl(const std::string& in, const std::string& dir) {
    train::TrainConfig tc = cfg.length_rl.train;
    tc.run_dir = dir;
    tc.init_from = in;
    tc.threads = cfg.threads;
    tc.data = cfg.data;
    tc.eval.size = 0;
    tc.eval.every = 0;
    if (cfg.length_rl.max_completion_length > 0) {
      tc.rollout.max_completion_length = cfg.length_rl.max_completion_length;
    }
    auto& names = tc.rewards.rewards;
    if (std::find(names.begin(), names.end(), "accuracy") == names.end()) names.insert(names.begin(), "accuracy");
    if (std::find(names.begin(), names.end(), "length") == names.end()) names.push_back("length");
    if (!tc.rewards.weights.count("length")) tc.rewards.weights["length"] = cfg.length_rl.length_weight;
    tc.validate();
    std::error_code ec;
    fs::remove_all(dir, ec);  // a fresh RL run (its own rollouts.db)
    train::run_train(tc, false);
    const std::string out = train::latest_checkpoint(dir);
    if (out.empty()) throw IoError("length_rl: the RL run in '" + dir + "' left no checkpoint");
    return out;
  }

  void record(const StageResult& s, int index) {
    if (!st) return;
    store::EvalRecord rec;
    rec.step = index;
    rec.split = "heldout";
    rec.stage = s.stage;
    rec.metrics = {{"pass@1", s.eval.pass_at_1},
                   {"mean_tokens", s.eval.mean_tokens},
                   {"truncated_frac", s.eval.truncated_frac},
                   {"n", double(s.eval.n)},
                   {"stage_seconds", s.seconds}};
    st->write_eval(rec);
  }
};

}  // namespace

std::string results_table(const Long2shortResult& r) {
  std::string s = "| stage | pass@1 | mean tokens | Δ pass@1 (points) | Δ tokens | truncated | stage time (s) |\n"
                  "|---|---:|---:|---:|---:|---:|---:|\n";
  if (r.stages.empty()) return s;
  const auto& b = r.stages[0].eval;
  for (const auto& x : r.stages) {
    const double dp = 100.0 * (x.eval.pass_at_1 - b.pass_at_1);
    const double dt = b.mean_tokens > 0 ? 100.0 * (x.eval.mean_tokens - b.mean_tokens) / b.mean_tokens : 0.0;
    s += fmt::format("| {} | {:.1f}% | {:.1f} | {:+.1f} | {:+.1f}% | {:.1f}% | {:.0f} |\n", x.stage, 100.0 * x.eval.pass_at_1,
                     x.eval.mean_tokens, dp, dt, 100.0 * x.eval.truncated_frac, x.seconds);
  }
  return s;
}

Long2shortResult run_long2short(const Long2shortConfig& cfg) {
  Long2shortResult res;
  const train::RunDirLock lock(cfg.run_dir);  // before anything is written to the run directory
  train::require_fresh_run_dir(cfg.run_dir, "", {cfg.store.file, "long2short.md", "long2short.json"});
  train::setup_threads(cfg.threads);
  train::save_resolved_config(cfg.run_dir, config_to_json(cfg), "long2short");
  Pipeline p{cfg, {}, {}, {}, {}};
  p.data = train::load_task_data(cfg.data);
  if (p.data.heldout.empty() || cfg.eval.size < 1) throw ConfigError("long2short: needs a held-out split and eval.size >= 1");
  p.tpl = std::make_unique<datasets::PromptTemplate>(cfg.data.prompt_template);
  if (cfg.store.enabled) {
    p.st.emplace(store::RolloutStore::open(cfg.run_dir + "/" + cfg.store.file, false, cfg.store));
    if (!p.st->run_info()) {
      store::RunInfo info;
      info.name = fs::path(cfg.run_dir).filename().string();
      info.config_json = config_to_json(cfg).dump();
      info.version = "reasonrl 0.1.0";
      info.seed = int64_t(cfg.sampling.seed);
      p.st->begin_run(info);
    }
  }
  const std::string long_model = resolve_checkpoint(cfg.init_from);
  auto finish = [&](StageResult s) {
    log_info("long2short [{}]: greedy pass@1 {:.3f}, mean {:.1f} tokens on {} held-out prompts", s.stage,
             s.eval.pass_at_1, s.eval.mean_tokens, s.eval.n);
    p.record(s, int(res.stages.size()));
    res.stages.push_back(std::move(s));
    const std::string table = results_table(res);
    write_file_atomic(cfg.run_dir + "/long2short.md",
                      "# long2short: greedy held-out pass@1 and mean response tokens per stage\n\n" + table);
    json j;
    j["format"] = "reasonrl.long2short";
    j["version"] = 1;
    j["init_from"] = long_model;
    for (const auto& x : res.stages)
      j["stages"].push_back({{"stage", x.stage}, {"checkpoint", x.checkpoint}, {"pass@1", x.eval.pass_at_1},
                             {"mean_tokens", x.eval.mean_tokens}, {"truncated_frac", x.eval.truncated_frac},
                             {"n", x.eval.n}, {"stage_seconds", x.seconds}});
    write_file_atomic(cfg.run_dir + "/long2short.json", j.dump(2) + "\n");
  };
  {
    StageResult s;
    s.stage = "before";
    s.checkpoint = long_model;
    s.eval = p.evaluate(long_model);
    finish(std::move(s));
  }
  std::string input = long_model;
  for (Stage stage : cfg.stages) {
    const std::string name = enum_to_string(stage);
    const std::string dir = cfg.run_dir + "/" + name;
    log_info("long2short: stage {} from {}", name, input);
    const double t0 = now_seconds();
    StageResult s;
    s.stage = name;
    switch (stage) {
      case Stage::Merge: s.checkpoint = p.run_merge(input, dir); break;
      case Stage::Shortest: s.checkpoint = p.run_shortest(input, dir); break;
      case Stage::Dpo: s.checkpoint = p.run_dpo_stage(input, dir); break;
      case Stage::LengthRl: s.checkpoint = p.run_length_rl(input, dir); break;
    }
    s.seconds = now_seconds() - t0;
    s.eval = p.evaluate(s.checkpoint);
    if (cfg.chain) input = s.checkpoint;
    finish(std::move(s));
  }
  std::fprintf(stderr, "\n%s\n", results_table(res).c_str());
  log_info("long2short: results in {}/long2short.md and {}/{}", cfg.run_dir, cfg.run_dir, cfg.store.file);
  return res;
}

}  // namespace reasonrl::long2short
