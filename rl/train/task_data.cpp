// task_data.cpp: loading prompts, setting up the tokenizer, and building reward inputs.
#include "rl/train/task_data.h"

#include <omp.h>

#include <algorithm>

#include "datasets/bpe_trainer.h"
#include "rl/util/log.h"

namespace reasonrl::train {

void DataConfig::validate() const {
  if (source != "synthetic" && source != "jsonl")
    throw ConfigError("unknown value '" + source + "' for 'data.source'; valid: synthetic, jsonl");
  if (source == "jsonl" && train_file.empty()) throw ConfigError("data.source is jsonl but data.train_file is empty");
  if (train_size < 1 || heldout_size < 0) throw ConfigError("data.train_size must be >= 1 and data.heldout_size >= 0");
}

TaskData load_task_data(const DataConfig& cfg) {
  TaskData d;
  if (cfg.source == "synthetic") {
    datasets::SyntheticTask task(cfg.synthetic);
    d.train = task.generate(datasets::Split::Train, cfg.train_size, cfg.seed);
    if (cfg.heldout_size > 0) d.heldout = task.generate(datasets::Split::Heldout, cfg.heldout_size, cfg.seed + 1);
  } else {
    d.train = datasets::load_jsonl(cfg.train_file, cfg.jsonl);
    if (!cfg.heldout_file.empty()) {
      d.heldout = datasets::load_jsonl(cfg.heldout_file, cfg.jsonl);
      if (int(d.heldout.size()) > cfg.heldout_size) d.heldout.resize(size_t(cfg.heldout_size));
    }
  }
  if (d.train.empty()) throw ConfigError("data: no training examples");
  return d;
}

datasets::Tokenizer setup_tokenizer(const TokenizerSetup& cfg, const TaskData& data, const datasets::PromptTemplate& tpl) {
  if (!cfg.path.empty()) return datasets::Tokenizer::load(cfg.path);
  std::vector<std::string> texts;
  texts.reserve(data.train.size() * 2);
  for (const auto& e : data.train) {
    texts.push_back(tpl.prompt(e));
    texts.push_back(tpl.target(e));
  }
  auto tok = datasets::train_bpe(texts, cfg.train);
  log_info("trained a byte-level BPE tokenizer: {} ids ({} merges) on {} texts", tok.vocab_size(), tok.n_merges(), texts.size());
  return tok;
}

rewards::RewardInput make_reward_input(const datasets::Example& e, const std::string& prompt_text, const std::string& response,
                                       int response_tokens, int max_response_tokens, const std::string& finish_reason) {
  rewards::RewardInput in;
  in.prompt = prompt_text;
  in.response = response;
  in.gold = e.answer;
  in.task = e.task == "countdown" ? "countdown" : "math";
  in.meta = e.meta;
  in.response_tokens = response_tokens;
  in.max_response_tokens = max_response_tokens;
  in.finish_reason = finish_reason;
  return in;
}

std::vector<int> stop_ids(const datasets::Tokenizer& tok) {
  const int eos = tok.eos_id();
  if (eos < 0) throw ConfigError("the tokenizer has no end-of-sentence token; responses could never stop");
  return {eos};
}

int check_prompts_fit(const std::vector<datasets::Example>& examples, const datasets::Tokenizer& tok,
                      const datasets::PromptTemplate& tpl, int completion_tokens, int max_positions, const std::string& what) {
  int longest = 0;
  for (const auto& e : examples) {
    const int n = int(tpl.encode_prompt(tok, e).size());
    longest = std::max(longest, n);
    if (int64_t(n) + completion_tokens + 1 > max_positions)
      throw ConfigError((e.source.empty() ? "prompt '" + e.id + "'" : e.source + ": the prompt") + " is " +
                        std::to_string(n) + " tokens; with " + what + " " + std::to_string(completion_tokens) +
                        " it needs " + std::to_string(int64_t(n) + completion_tokens + 1) +
                        " positions, more than the model's max_position_embeddings (" + std::to_string(max_positions) +
                        "). HINT: lower " + what + ", drop the prompt, or use a model with a longer context");
  }
  return longest;
}

void EvalConfig::validate() const {
  if (every < 0) throw ConfigError("every must be >= 0 (0 = only at the start and the end), got " + std::to_string(every));
  if (size < 0) throw ConfigError("size must be >= 0, got " + std::to_string(size));
  if (max_completion_length < 1) throw ConfigError("max_completion_length must be >= 1, got " + std::to_string(max_completion_length));
  if (max_batch < 1) throw ConfigError("max_batch must be >= 1, got " + std::to_string(max_batch));
  if (pass_k < 1) throw ConfigError("pass_k must be >= 1, got " + std::to_string(pass_k));
  if (pass_k_samples != 0 && pass_k_samples < pass_k)
    throw ConfigError("pass_k_samples must be 0 (off) or >= pass_k (" + std::to_string(pass_k) + "), got " + std::to_string(pass_k_samples));
  if (pass_k_every < 0) throw ConfigError("pass_k_every must be >= 0 (0 = the first and the last evaluation), got " + std::to_string(pass_k_every));
}

int setup_threads(int threads) {
  if (threads < 0) throw ConfigError("threads must be >= 0 (0 = all cores), got " + std::to_string(threads));
  if (threads > 0) omp_set_num_threads(threads);
  return omp_get_max_threads();
}

}  // namespace reasonrl::train
