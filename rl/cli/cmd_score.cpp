// cmd_score.cpp: `reasonrl score`: scores a JSONL file of responses with the configured rewards; prints every row's
// components and a summary (mean per component, share not applicable, accuracy).
#include <fmt/format.h>

#include <fstream>
#include <iostream>

#include "rewards/manager.h"
#include "rl/cli/commands.h"
#include "rl/cli/config_cli.h"
#include "rl/util/error.h"

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
  if (auto it = row.find("response_tokens"); it != row.end() && it->is_number_integer()) in.response_tokens = it->get<int>();
  if (auto it = row.find("max_response_tokens"); it != row.end() && it->is_number_integer())
    in.max_response_tokens = it->get<int>();
  in.finish_reason = str_field(row, {"finish_reason"});
  return in;
}

std::string fmt_opt(const std::optional<double>& v) { return v ? fmt::format("{:.4g}", *v) : std::string("n/a"); }

void run_score(const rewards::RewardConfig& cfg, const std::string& input, const std::string& group_key, bool jsonl) {
  std::ifstream f(input);
  if (!f) throw IoError("cannot open '" + input + "'");
  std::vector<RewardInput> rows;
  std::vector<std::string> keys;
  std::string line;
  for (int ln = 1; std::getline(f, line); ++ln) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    json row;
    try {
      row = json::parse(line);
    } catch (const std::exception& e) {
      throw FormatError(fmt::format("{}:{}: invalid JSON: {}", input, ln, e.what()));
    }
    rows.push_back(input_from_row(row, fmt::format("{}:{}", input, ln)));
    keys.push_back(group_key.empty() ? std::to_string(ln) : str_field(row, {group_key.c_str()}));
  }
  rewards::RewardManager mgr(cfg);
  // Consecutive rows with the same group key form a group (all responses to one prompt).
  std::vector<RewardResult> results;
  for (size_t b = 0; b < rows.size();) {
    size_t e = b + 1;
    while (e < rows.size() && keys[e] == keys[b]) ++e;
    std::vector<RewardInput> group(rows.begin() + b, rows.begin() + e);
    auto r = mgr.score_group(group);
    results.insert(results.end(), r.begin(), r.end());
    b = e;
  }
  std::map<std::string, double> sum;
  std::map<std::string, int> applicable, errors;
  double total = 0;
  int correct = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    if (jsonl) {
      json j;
      j["row"] = i;
      j["total"] = r.total;
      j["correct"] = r.correct;
      json c = json::object();
      for (const auto& [k, v] : r.components) c[k] = v ? json(*v) : json(nullptr);
      j["components"] = c;
      if (!r.error.empty()) j["error"] = r.error;
      std::cout << j.dump() << "\n";
    } else {
      std::string s = fmt::format("row {:>5}  total {:>8.4f}  correct {}", i, r.total, r.correct ? 1 : 0);
      for (const auto& n : mgr.names()) s += fmt::format("  {}={}", n, fmt_opt(r.components.at(n)));
      if (!r.error.empty()) s += "  error: " + r.error;
      std::cout << s << "\n";
    }
    total += r.total;
    correct += r.correct;
    for (const auto& [k, v] : r.components) {
      if (v) sum[k] += *v, applicable[k]++;
    }
    for (const auto& n : mgr.names())
      if (r.error.find(n + ":") != std::string::npos) errors[n]++;
  }
  const double n = static_cast<double>(std::max<size_t>(1, results.size()));
  std::cout << fmt::format("summary: {} rows  mean total {:.4f}  accuracy {:.4f} ({}/{})\n", results.size(), total / n,
                           correct / n, correct, results.size());
  for (const auto& name : mgr.names()) {
    const int a = applicable[name];
    std::cout << fmt::format("  {:<22} mean {:>8.4f} over {:>6} applicable  ({} n/a, {} errors)  weight {}\n", name,
                             a ? sum[name] / a : 0.0, a, results.size() - a, errors[name], cfg.weight(name));
  }
}

}  // namespace

void add_score_command(CLI::App& app) {
  auto* sub = app.add_subcommand("score", "score a JSONL file of responses with reward functions");
  auto input = std::make_shared<std::string>();
  auto group_key = std::make_shared<std::string>("prompt");
  auto jsonl = std::make_shared<bool>(false);
  auto list = std::make_shared<bool>(false);
  sub->add_option("--input", *input,
                  "JSONL rows: prompt, response, gold (or answer), task, meta, response_tokens, max_response_tokens");
  sub->add_option("--group-key", *group_key, "consecutive rows with the same value of this field form a group ('' = none)");
  sub->add_flag("--jsonl", *jsonl, "print rows as JSON lines");
  sub->add_flag("--list", *list, "list the registered reward functions and exit");
  auto cfg = std::make_shared<ConfigCli<rewards::RewardConfig>>(sub, "Rewards");
  sub->callback([=] {
    if (*list) {
      for (const auto& [n, h] : rewards::registered_rewards()) std::cout << fmt::format("{:<22} {}\n", n, h);
      return;
    }
    if (input->empty()) throw ConfigError("score: --input is required");
    run_score(cfg->resolve(), *input, *group_key, *jsonl);
  });
}

}  // namespace reasonrl::cli
