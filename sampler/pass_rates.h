// pass_rates.h: offline per-prompt pass rates (k answers per prompt from a checkpoint) and Kimi-style curation:
// drop prompts that are too easy. The `reasonrl difficulty` command fills a table and calls these.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "datasets/example.h"
#include "rl/util/config.h"
#include "sampler/prompt_sampler.h"

namespace reasonrl::sampler {

struct CurationConfig {
  double max_pass_rate = 0.9;  // drop prompts solved more often than this (too easy); Kimi drops the trivial ones
  double min_pass_rate = 0.0;  // drop prompts solved less often than this (0 keeps never-solved prompts)
  bool keep_unknown = true;    // keep prompts without a measured pass rate
  template <class V>
  void visit(V& v) {
    v("max_pass_rate", max_pass_rate, "drop prompts whose pass rate is above this (too easy)");
    v("min_pass_rate", min_pass_rate, "drop prompts whose pass rate is below this");
    v("keep_unknown", keep_unknown, "keep prompts that have no measured pass rate");
  }
  void validate() const {
    if (!(min_pass_rate >= 0 && min_pass_rate <= max_pass_rate && max_pass_rate <= 1))
      throw ConfigError("curation: need 0 <= min_pass_rate <= max_pass_rate <= 1");
  }
};

class PassRateTable {
 public:
  // Accumulates: several calls for one id add up.
  void add(const std::string& example_id, int n_correct, int n_total);
  std::optional<double> rate(const std::string& example_id) const;
  size_t size() const { return rows_.size(); }
  // JSONL: a header line {"format":"reasonrl.pass_rates","version":1}, then {"id","n_correct","n_total","pass_rate"} per prompt.
  void save(const std::string& path) const;
  static PassRateTable load(const std::string& path);  // FormatError names file:line

 private:
  std::map<std::string, std::pair<long long, long long>> rows_;  // id -> (correct, total)
};

// Indices of `examples` kept by the curation rule.
std::vector<int> curate_by_pass_rate(const std::vector<datasets::Example>& examples, const PassRateTable& table, const CurationConfig& cfg);
// Sampler metadata for `examples`: difficulty labels, and offline pass rates when a table is given.
std::vector<PromptMeta> make_prompt_meta(const std::vector<datasets::Example>& examples, const PassRateTable* table = nullptr);
// The same, with the table named by cfg.pass_rates (none when empty). A table that matches none of the examples'
// ids is a ConfigError naming the file (measured on another dataset?); how many matched is logged.
std::vector<PromptMeta> make_prompt_meta(const std::vector<datasets::Example>& examples, const SamplerConfig& cfg);

}  // namespace reasonrl::sampler
