// cmd_inspect.cpp: `reasonrl inspect RUN.db summary|samples|show|prompt|compare|export|sql|migrate`, aligned tables or
// --json; compare takes two steps or another run.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "rl/cli/commands.h"
#include "rl/store/inspect.h"
#include "rl/store/report.h"
#include "rl/util/error.h"

namespace reasonrl::cli {

namespace {

struct InspectOpts {
  std::string db;
  bool json = false;
  // summary
  std::vector<std::string> keys;
  // samples
  std::string step_range, finish, contains, sort = "id";
  int64_t prompt = -1, limit = 50;
  double min_reward = std::nan(""), max_reward = std::nan("");
  bool correct = false, incorrect = false, full = false;
  // show / prompt
  int64_t id = 0;
  bool bytes = false;
  // compare: two steps, or another run
  std::vector<std::string> compare_args;
  int64_t at_step = -1, at_step_a = -1, at_step_b = -1;
  std::string label_a, label_b;
  // export
  std::string format = "jsonl", table = "samples", out;
  // sql
  std::string sql;
  double timeout_s = 10;
};

// A run directory stands for its rollouts.db.
std::string db_path(const std::string& p) {
  namespace fs = std::filesystem;
  if (fs::is_directory(p)) return (fs::path(p) / "rollouts.db").string();
  return p;
}

store::RolloutStore open_ro(const InspectOpts& o) {
  const std::string path = db_path(o.db);
  if (!std::filesystem::exists(path)) throw IoError("no such run: '" + path + "' does not exist");
  return store::RolloutStore::open(path, true);
}

void emit(const InspectOpts& o, const store::Table& t, size_t max_cell = 60) {
  if (o.json) std::cout << t.to_json().dump(2) << "\n";
  else store::print_table(std::cout, t, max_cell);
}

// "N", "A:B", "A:" or ":B".
void parse_step_range(const std::string& s, store::SampleFilter& f) {
  if (s.empty()) return;
  auto num = [&](const std::string& x) -> int64_t {
    try {
      size_t used = 0;
      const int64_t v = std::stoll(x, &used);
      if (used != x.size()) throw std::invalid_argument(x);
      return v;
    } catch (const std::exception&) {
      throw Error("bad --step '" + s + "': expected N, A:B, A: or :B");
    }
  };
  const auto colon = s.find(':');
  if (colon == std::string::npos) {
    f.step_min = f.step_max = num(s);
    return;
  }
  if (colon > 0) f.step_min = num(s.substr(0, colon));
  if (colon + 1 < s.size()) f.step_max = num(s.substr(colon + 1));
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto o = std::make_shared<InspectOpts>();
  auto* cmd = app.add_subcommand("inspect", "browse a run's rollout store (rollouts.db): per-step summary, samples, "
                                            "one sample, one prompt's history, compare steps, export, read-only SQL");
  cmd->add_option("db", o->db, "the run's rollouts.db, or the run directory")->required();
  cmd->add_flag("--json", o->json, "print JSON instead of aligned tables");
  cmd->require_subcommand(1);
  cmd->fallthrough();

  auto* summary = cmd->add_subcommand("summary", "one row per step with its main metrics");
  summary->add_option("--keys", o->keys, "metric keys to show, comma-separated; 'time/*' selects by prefix, '*' all")
      ->delimiter(',');
  summary->callback([o] {
    auto st = open_ro(*o);
    store::check_not_damaged(st);
    emit(*o, store::summary_table(st, o->keys));
  });

  auto* samples = cmd->add_subcommand("samples", "list samples with filters");
  samples->add_option("--step", o->step_range, "step N, or a range A:B, A: or :B (inclusive)");
  samples->add_option("--prompt", o->prompt, "only this prompt id");
  samples->add_option("--min-reward", o->min_reward, "reward >= this");
  samples->add_option("--max-reward", o->max_reward, "reward <= this");
  samples->add_option("--finish", o->finish, "finish reason: stop, length, ...");
  auto* fc = samples->add_flag("--correct", o->correct, "only correct samples");
  samples->add_flag("--incorrect", o->incorrect, "only incorrect samples")->excludes(fc);
  samples->add_option("--contains", o->contains, "completion text contains this string");
  samples->add_option("--sort", o->sort, "id | step | length | reward | advantage; prefix '-' for descending");
  samples->add_option("--limit", o->limit, "at most this many rows (0: all)");
  samples->add_flag("--full", o->full, "do not cut the text column");
  samples->callback([o] {
    auto st = open_ro(*o);
    store::SampleFilter f;
    parse_step_range(o->step_range, f);
    if (o->prompt >= 0) f.prompt_id = o->prompt;
    if (!std::isnan(o->min_reward)) f.reward_min = o->min_reward;
    if (!std::isnan(o->max_reward)) f.reward_max = o->max_reward;
    if (!o->finish.empty()) f.finish_reason = o->finish;
    if (o->correct) f.correct = true;
    if (o->incorrect) f.correct = false;
    if (!o->contains.empty()) f.contains = o->contains;
    f.sort = o->sort;
    f.limit = o->limit;
    emit(*o, store::samples_table(st, f), o->full ? 0 : 60);
  });

  auto* show = cmd->add_subcommand("show", "one sample in full, with its reward components");
  show->add_option("id", o->id, "sample id (the id column of `samples`)")->required();
  show->add_flag("--bytes", o->bytes,
                 "show the completion's exact bytes: a byte that is not UTF-8 as \\xNN, a backslash as \\\\ "
                 "(JSON: the key text_bytes); the text column has U+FFFD in their place");
  show->callback([o] {
    auto st = open_ro(*o);
    const json s = store::sample_json(st, o->id, o->bytes);
    if (o->json) std::cout << s.dump(2) << "\n";
    else store::print_sample(std::cout, s);
  });

  auto* prompt = cmd->add_subcommand("prompt", "one prompt and its success across steps");
  prompt->add_option("id", o->id, "prompt id")->required();
  prompt->callback([o] {
    auto st = open_ro(*o);
    json p = store::prompt_json(st, o->id);
    const store::Table h = store::prompt_history(st, o->id);
    if (o->json) {
      p["history"] = h.to_json();
      std::cout << p.dump(2) << "\n";
      return;
    }
    std::cout << "prompt " << o->id << " (" << p["dataset"].get<std::string>()
              << (p["source_id"].get<std::string>().empty() ? "" : " " + p["source_id"].get<std::string>())
              << ", difficulty " << (p["difficulty"].is_null() ? "unknown" : p["difficulty"].dump()) << ")\n"
              << p["text"].get<std::string>() << "\ngold: " << p["gold"].get<std::string>() << "\n\n";
    if (h.rows.empty()) std::cout << "no samples of this prompt yet\n";
    else store::print_table(std::cout, h);
  });

  auto* compare = cmd->add_subcommand(
      "compare", "two steps' metrics side by side (compare A B), or two runs (compare OTHER.db: the last step of each, "
                 "or --step N / --step-a, --step-b), with the difference");
  compare->add_option("what", o->compare_args, "two step numbers, or another run's rollouts.db (or run directory)")
      ->required()->expected(1, 2);
  compare->add_option("--step", o->at_step, "runs: compare this step of both runs");
  compare->add_option("--step-a", o->at_step_a, "runs: this step of the first run (default: its last)");
  compare->add_option("--step-b", o->at_step_b, "runs: this step of the other run (default: its last)");
  compare->add_option("--label-a", o->label_a, "runs: the first run's label (default: its run name)");
  compare->add_option("--label-b", o->label_b, "runs: the other run's label (default: its run name)");
  compare->callback([o] {
    auto st = open_ro(*o);
    auto integer = [](const std::string& x) -> std::optional<int64_t> {
      try {
        size_t used = 0;
        const int64_t v = std::stoll(x, &used);
        if (used == x.size()) return v;
      } catch (const std::exception&) {
      }
      return std::nullopt;
    };
    const auto& args = o->compare_args;
    if (args.size() == 2) {
      const auto a = integer(args[0]), b = integer(args[1]);
      if (!a || !b) throw Error("compare A B takes two step numbers; to compare runs give one other run: compare OTHER.db");
      emit(*o, store::compare_steps(st, *a, *b));
      return;
    }
    const std::string other = db_path(args[0]);
    if (!std::filesystem::exists(other))
      throw IoError("no such run: '" + other + "' does not exist (compare takes two steps, or one other run)");
    auto ot = store::RolloutStore::open(other, true);
    const auto labels = store::run_labels({&st, &ot}, {o->label_a, o->label_b});
    auto pick = [&](int64_t one) -> std::optional<int64_t> {
      if (one >= 0) return one;
      if (o->at_step >= 0) return o->at_step;
      return std::nullopt;
    };
    emit(*o, store::compare_runs(st, labels[0], pick(o->at_step_a), ot, labels[1], pick(o->at_step_b)));
  });

  auto* exp = cmd->add_subcommand("export", "write a table as JSON lines or CSV");
  exp->add_option("--format", o->format, "jsonl | csv");
  exp->add_option("--table", o->table, "samples | steps | prompts | evaluations");
  exp->add_option("-o,--output", o->out, "output file (default: standard output)");
  exp->callback([o] {
    const auto fmt = enum_from_string<store::ExportFormat>(o->format, "--format");
    auto st = open_ro(*o);
    if (o->out.empty()) {
      store::export_table(st, std::cout, fmt, o->table);
      return;
    }
    std::ofstream f(o->out, std::ios::binary);
    if (!f) throw IoError("cannot write '" + o->out + "'");
    const int64_t n = store::export_table(st, f, fmt, o->table);
    f.close();
    if (!f) throw IoError("short write to '" + o->out + "'");
    std::cerr << "wrote " << n << " rows to " << o->out << "\n";
  });

  auto* sql = cmd->add_subcommand("sql", "run one read-only SQL statement (see the schema in README)");
  sql->add_option("query", o->sql, "e.g. \"SELECT step, avg(reward) FROM samples GROUP BY step\"")->required();
  sql->add_option("--timeout", o->timeout_s, "stop the query after this many seconds (0: no limit)")->capture_default_str();
  sql->callback([o] {
    auto st = open_ro(*o);
    emit(*o, store::sql_query(st, o->sql, o->timeout_s), 80);
  });

  auto* migrate = cmd->add_subcommand("migrate", "upgrade the file to this build's schema version");
  migrate->callback([o] {
    const std::string path = db_path(o->db);
    if (!std::filesystem::exists(path)) throw IoError("no such run: '" + path + "' does not exist");
    auto st = store::RolloutStore::open(path);
    std::cout << path << ": schema version " << st.schema_version() << "\n";
  });
}

}  // namespace reasonrl::cli
