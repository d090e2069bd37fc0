// pass_rates.cpp: pass-rate table JSONL format and curation filter.
#include "sampler/pass_rates.h"

#include <algorithm>

#include "rl/util/error.h"
#include "rl/util/log.h"

namespace reasonrl::sampler {

void PassRateTable::add(const std::string& id, int n_correct, int n_total) {
  if (n_total <= 0 || n_correct < 0 || n_correct > n_total)
    throw ConfigError("pass rate for '" + id + "': need 0 <= n_correct <= n_total, n_total > 0");
  auto& r = rows_[id];
  r.first += n_correct;
  r.second += n_total;
}

std::optional<double> PassRateTable::rate(const std::string& id) const {
  auto it = rows_.find(id);
  if (it == rows_.end()) return std::nullopt;
  return double(it->second.first) / double(it->second.second);
}

void PassRateTable::save(const std::string& path) const {
  std::string s = json{{"format", "reasonrl.pass_rates"}, {"version", 1}}.dump() + "\n";
  for (const auto& [id, r] : rows_)
    s += json{{"id", id}, {"n_correct", r.first}, {"n_total", r.second}, {"pass_rate", double(r.first) / double(r.second)}}.dump() + "\n";
  write_file_atomic(path, s);
}

PassRateTable PassRateTable::load(const std::string& path) {
  const std::string text = read_file(path);
  PassRateTable t;
  size_t pos = 0;
  int line_no = 0;
  bool header = false;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(line_no) + ": ";
    try {
      const auto j = nlohmann::json::parse(line);
      if (!header) {
        if (j.value("format", "") != "reasonrl.pass_rates") throw FormatError(where + "not a pass-rate table (missing header)");
        if (j.value("version", 0) != 1) throw FormatError(where + "unsupported version " + j.value("version", nlohmann::json()).dump());
        header = true;
        continue;
      }
      const int c = j.at("n_correct").get<int>(), n = j.at("n_total").get<int>();
      if (n <= 0 || c < 0 || c > n) throw FormatError(where + "need 0 <= n_correct <= n_total, n_total > 0");
      t.add(j.at("id").get<std::string>(), c, n);
    } catch (const nlohmann::json::exception& e) {
      throw FormatError(where + e.what());
    }
  }
  if (!header) throw FormatError(path + ": empty pass-rate table (no header)");
  return t;
}

std::vector<int> curate_by_pass_rate(const std::vector<datasets::Example>& ex, const PassRateTable& table, const CurationConfig& cfg) {
  cfg.validate();
  std::vector<int> keep;
  for (size_t i = 0; i < ex.size(); ++i) {
    const auto r = table.rate(ex[i].id);
    if (!r ? cfg.keep_unknown : (*r <= cfg.max_pass_rate && *r >= cfg.min_pass_rate)) keep.push_back(int(i));
  }
  return keep;
}

std::vector<PromptMeta> make_prompt_meta(const std::vector<datasets::Example>& ex, const PassRateTable* table) {
  std::vector<PromptMeta> m(ex.size());
  for (size_t i = 0; i < ex.size(); ++i) {
    m[i].difficulty = ex[i].difficulty;
    if (table)
      if (auto r = table->rate(ex[i].id)) m[i].pass_rate = *r;
  }
  return m;
}

std::vector<PromptMeta> make_prompt_meta(const std::vector<datasets::Example>& ex, const SamplerConfig& cfg) {
  if (cfg.pass_rates.empty()) return make_prompt_meta(ex, nullptr);
  const PassRateTable table = PassRateTable::load(cfg.pass_rates);
  auto m = make_prompt_meta(ex, &table);
  const auto known = std::count_if(m.begin(), m.end(), [](const PromptMeta& p) { return p.pass_rate >= 0; });
  if (known == 0 && !ex.empty())
    throw ConfigError("sampler.pass_rates: '" + cfg.pass_rates + "' has no pass rate for any of the " +
                      std::to_string(ex.size()) + " training prompts (ids like '" + ex[0].id +
                      "'); was it measured on another dataset?");
  log_info("sampler: starting success rates of {} of {} prompts from {} (the others: prior {})", known, ex.size(),
           cfg.pass_rates, cfg.prior);
  return m;
}

}  // namespace reasonrl::sampler
