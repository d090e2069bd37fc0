// cmd_score.cpp: `reasonrl score`: scores a JSONL file of responses with the configured rewards; prints every row's
// components and a summary (mean per component, share not applicable, accuracy); --explain says how the grader read
// each row; rows that cannot be read are reported by line and counted.
#include <fmt/format.h>

#include <fstream>
#include <iostream>

#include "rewards/manager.h"
#include "rewards/reward_errors.h"
#include "rewards/math_verify.h"
#include "rl/cli/commands.h"
#include "rl/cli/config_cli.h"
#include "rl/util/config.h"
#include "rl/util/error.h"
#include "rl/util/utf8.h"

namespace reasonrl::cli {

namespace {

using rewards::RewardInput;
using rewards::RewardResult;

std::string str_field(const json& row, std::initializer_list<const char*> keys) {
  for (const char* k : keys) {
    auto it = row.find(k);
    if (it != row.end() && !it->is_null()) return it->is_string() ? it->get<std::string>() : it->dump();
  }
  return "";
}

RewardInput input_from_row(const json& row, const std::string& where) {
  if (!row.is_object()) throw FormatError(where + ": a row must be a JSON object");
  RewardInput in;
  in.prompt = str_field(row, {"prompt", "question", "problem"});
  in.response = str_field(row, {"response", "completion", "solution"});
  in.gold = str_field(row, {"gold", "answer", "ground_truth"});
  in.task = str_field(row, {"task"});
  if (in.task.empty()) in.task = "math";
  if (auto it = row.find("meta"); it != row.end()) in.meta = *it;
  for (const char* k : {"numbers", "target", "language"})
    if (row.contains(k)) in.meta[k] = row[k];
  // A token count is checked before it is narrowed (get<int>() would read 2^32 + 100 as 100).
  auto count = [&](const char* key, int& out) {
    auto it = row.find(key);
    if (it == row.end() || !it->is_number_integer()) return;
    if (!json_int_in(*it, 0, INT32_MAX))
      throw FormatError(where + ": '" + key + "' = " + it->dump() + " is not a token count (an integer in [0, 2^31 - 1])");
    out = it->get<int>();
  };
  count("response_tokens", in.response_tokens);
  count("max_response_tokens", in.max_response_tokens);
  in.finish_reason = str_field(row, {"finish_reason"});
  return in;
}

std::string fmt_opt(const std::optional<double>& v) { return v ? fmt::format("{:.4g}", *v) : std::string("n/a"); }

struct ScoreOptions {
  std::string input, group_key;
  bool jsonl = false, explain = false, strict_input = false;
};

// --explain: how the math grader read one row (as the accuracy reward does).
json explanation(const RewardInput& in, const rewards::AccuracyOptions& acc) {
  json j;
  if (in.task == "countdown") {
    j["rule"] = "countdown";
    return j;
  }
  rewards::VerifyExplanation why;
  rewards::accuracy_verdict(in.gold, in.response, acc, &why);
  if (why.rule == "no_think_close") {
    j["rule"] = why.rule;
    j["verdict"] = "not_equal";
    return j;
  }
  j["gold"] = {{"extracted", why.gold_extracted}, {"normalized", why.gold_normalized},
               {"canonical", why.gold_canonical}, {"value", why.gold_value}};
  j["prediction"] = {{"extracted", why.pred_extracted}, {"normalized", why.pred_normalized},
                     {"canonical", why.pred_canonical}, {"value", why.pred_value}};
  j["rule"] = why.rule;
  j["verdict"] = rewards::verdict_name(why.verdict);
  return j;
}

void print_explanation(const json& e) {
  if (e.contains("gold")) {
    for (const char* side : {"gold", "prediction"}) {
      const json& x = e[side];
      std::cout << fmt::format("    {:<10} extracted {}  normalized {}  canonical {}  value {}\n", side,
                               json(x["extracted"]).dump(), json(x["normalized"]).dump(),
                               json(x["canonical"]).dump(), json(x["value"]).dump());
    }
  }
  std::cout << fmt::format("    rule {}  verdict {}\n", e["rule"].get<std::string>(),
                           e.value("verdict", std::string("(countdown check)")));
}

void run_score(const rewards::RewardConfig& cfg, const ScoreOptions& o) {
  std::ifstream f(o.input);
  if (!f) throw IoError("cannot open '" + o.input + "'");
  struct Row {
    RewardInput in;
    std::string key;  // the group key's value
    int line;
  };
  std::vector<Row> rows;
  std::vector<std::pair<int, std::string>> bad;  // (line, why): rows that could not be read
  std::string line;
  for (int ln = 1; std::getline(f, line); ++ln) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = fmt::format("{}:{}", o.input, ln);
    try {
      if (!utf8_valid(line)) throw FormatError(where + ": not valid UTF-8");
      json row;
      try {
        row = json::parse(line);
      } catch (const std::exception& e) {
        throw FormatError(fmt::format("{}: invalid JSON: {}", where, e.what()));
      }
      rows.push_back({input_from_row(row, where),
                      o.group_key.empty() ? std::to_string(ln) : str_field(row, {o.group_key.c_str()}), ln});
    } catch (const FormatError& e) {
      if (o.strict_input) throw;
      bad.emplace_back(ln, e.what());
      if (o.jsonl) std::cout << json{{"line", ln}, {"input_error", e.what()}}.dump() << "\n";
      else std::cout << fmt::format("line {:>5}  input error: {}\n", ln, e.what());
    }
  }
  rewards::RewardManager mgr(cfg);
  // Consecutive rows with the same group key form a group (all responses to one prompt); one batch of groups.
  std::vector<std::vector<RewardInput>> groups;
  for (size_t b = 0; b < rows.size();) {
    size_t e = b + 1;
    while (e < rows.size() && rows[e].key == rows[b].key) ++e;
    std::vector<RewardInput>& group = groups.emplace_back();
    for (size_t i = b; i < e; ++i) group.push_back(rows[i].in);
    b = e;
  }
  std::vector<RewardResult> results;
  for (auto& r : mgr.score_groups(groups)) results.insert(results.end(), r.begin(), r.end());
  std::map<std::string, double> sum;
  std::map<std::string, int> applicable, errors;
  double total = 0;
  int correct = 0, counted = 0;
  rewards::RewardErrorCounts failures(mgr.names());
  std::string first_failure;
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    const json why = o.explain ? explanation(rows[i].in, cfg.accuracy) : json();
    if (o.jsonl) {
      json j;
      j["row"] = i;
      j["line"] = rows[i].line;
      j["total"] = r.total;
      j["correct"] = r.correct;
      json c = json::object();
      for (const auto& [k, v] : r.components) c[k] = v ? json(*v) : json(nullptr);
      j["components"] = c;
      if (!r.error.empty()) j["error"] = r.error;
      if (o.explain) j["explain"] = why;
      std::cout << j.dump() << "\n";
    } else {
      std::string s = fmt::format("row {:>5}  line {:>5}  total {:>8.4f}  correct {}", i, rows[i].line, r.total, r.correct ? 1 : 0);
      for (const auto& n : mgr.names()) s += fmt::format("  {}={}", n, fmt_opt(r.components.at(n)));
      if (!r.error.empty()) s += "  error: " + r.error;
      std::cout << s << "\n";
      if (o.explain) print_explanation(why);
    }
    failures.add(r);
    if (!r.errors.empty() && first_failure.empty()) first_failure = fmt::format("line {}: {}", rows[i].line, r.error);
    for (const auto& [k, v] : r.components) {
      if (v) sum[k] += *v, applicable[k]++;
    }
    for (const auto& [k, why] : r.errors) errors[k]++;
    if (rewards::skip_failed_sample(cfg, r)) continue;  // skip_sample / fail: a failed row is left out of the means
    total += r.total;
    correct += r.correct;
    ++counted;
  }
  const double n = static_cast<double>(std::max(1, counted));
  const std::string over = counted == int(results.size())
                               ? ""
                               : fmt::format(" over the {} rows whose reward did not fail (rewards.on_error {})", counted,
                                             enum_to_string(cfg.on_error));
  std::cout << fmt::format("summary: {} rows  mean total {:.4f}  accuracy {:.4f} ({}/{}){}  {} input error rows  {} rows "
                           "with reward errors\n",
                           results.size(), total / n, correct / n, correct, counted, over, bad.size(),
                           failures.failed_samples);
  for (const auto& name : mgr.names()) {
    const int a = applicable[name];
    std::cout << fmt::format("  {:<22} mean {:>8.4f} over {:>6} applicable  ({} n/a, {} errors)  weight {}\n", name,
                             a ? sum[name] / a : 0.0, a, results.size() - a - errors[name], errors[name], cfg.weight(name));
  }
  std::cout.flush();
  rewards::check_error_fraction(cfg, failures, o.input, first_failure);
  if (!bad.empty()) {
    std::string lines;
    for (size_t i = 0; i < bad.size() && i < 10; ++i) lines += (i ? ", " : "") + std::to_string(bad[i].first);
    throw FormatError(fmt::format("{}: {} row(s) could not be read (lines {}{}); the other {} rows were scored",
                                  o.input, bad.size(), lines, bad.size() > 10 ? ", ..." : "", results.size()));
  }
}

}  // namespace

void add_score_command(CLI::App& app) {
  auto* sub = app.add_subcommand("score", "score a JSONL file of responses with reward functions");
  auto o = std::make_shared<ScoreOptions>();
  o->group_key = "prompt";
  auto list = std::make_shared<bool>(false);
  sub->add_option("--input", o->input,
                  "JSONL rows: prompt, response, gold (or answer), task, meta, response_tokens, max_response_tokens");
  sub->add_option("--group-key", o->group_key, "consecutive rows with the same value of this field form a group ('' = none)");
  sub->add_flag("--jsonl", o->jsonl, "print rows as JSON lines");
  sub->add_flag("--explain", o->explain,
                "for each row: the extracted gold and prediction, their normalised and canonical forms and values, the "
                "rule that decided and the verdict");
  sub->add_flag("--strict-input", o->strict_input,
                "a row that is not valid JSON or UTF-8 rejects the whole file (default: it is reported and counted, "
                "the other rows are scored, and the command exits non-zero)");
  sub->add_flag("--list", *list, "list the registered reward functions and exit");
  auto cfg = std::make_shared<ConfigCli<rewards::RewardConfig>>(sub, "Rewards");
  sub->callback([=] {
    if (*list) {
      for (const auto& [n, h] : rewards::registered_rewards()) std::cout << fmt::format("{:<22} {}\n", n, h);
      return;
    }
    if (o->input.empty()) throw ConfigError("score: --input is required");
    run_score(cfg->resolve(), *o);
  });
}

}  // namespace reasonrl::cli
