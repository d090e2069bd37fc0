// Tests of `reasonrl inspect` and `reasonrl report` as a user runs them: output against SQL on the same file,
// --json, filters, two runs compared and overlaid, and bad arguments (no such run, step, id, a writing statement) giving a message and exit 1.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "rl/store/synthetic.h"
#include "rl/util/error.h"
#include "tests/store/old_store.h"

namespace reasonrl::store {
namespace {

namespace fs = std::filesystem;

struct Out {
  int rc;
  std::string out, err;
};

class InspectCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("reasonrl_inspect_cli_" + std::to_string(getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    db_ = (dir_ / "rollouts.db").string();
    SyntheticSpec spec;
    spec.n_steps = 12;
    auto st = RolloutStore::open(db_);
    write_synthetic_run(st, spec);
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static Out run(const std::string& args) {
    const std::string out = (dir_ / "out.txt").string(), err = (dir_ / "err.txt").string();
    const int st = std::system((std::string(REASONRL_BIN) + " " + args + " >" + out + " 2>" + err).c_str());
    return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, read_file(out), read_file(err)};
  }
  static json run_json(const std::string& args) {
    Out o = run(args);
    EXPECT_EQ(o.rc, 0) << args << "\n" << o.err;
    return json::parse(o.out);
  }
  static int64_t sql(const std::string& q) { return RolloutStore::open(db_, true).db().scalar_i64(q); }

  static inline fs::path dir_;
  static inline std::string db_;
};

TEST_F(InspectCli, SummaryTableAndJsonMatchTheStore) {
  Out o = run("inspect " + db_ + " summary");
  ASSERT_EQ(o.rc, 0) << o.err;
  std::istringstream lines(o.out);
  std::string header, rule, line;
  std::getline(lines, header);
  std::getline(lines, rule);
  EXPECT_NE(header.find("reward/mean"), std::string::npos);
  EXPECT_NE(header.find("kl"), std::string::npos);
  EXPECT_EQ(header.size(), rule.size());  // aligned: the rule spans the header
  int n = 0;
  while (std::getline(lines, line)) ++n;
  EXPECT_EQ(n, 12);

  json j = run_json("inspect " + db_ + " summary --json --keys kl,time/*");
  ASSERT_EQ(j.size(), 12u);
  auto ro = RolloutStore::open(db_, true);
  Stmt s = ro.db().prepare("SELECT value FROM step_metrics WHERE step = 7 AND key = 'kl'");
  ASSERT_TRUE(s.step());
  EXPECT_EQ(j[7]["kl"].get<double>(), s.f64(0));
  EXPECT_TRUE(j[7].contains("time/rollout_ms"));
  EXPECT_FALSE(j[7].contains("entropy"));
  // A run directory stands for its rollouts.db.
  EXPECT_EQ(run("inspect " + dir_.string() + " summary").rc, 0);
}

TEST_F(InspectCli, SampleFiltersAgreeWithSql) {
  json j = run_json("inspect " + db_ + " samples --step 3:5 --correct --limit 0 --json");
  EXPECT_EQ(static_cast<int64_t>(j.size()), sql("SELECT count(*) FROM samples WHERE step BETWEEN 3 AND 5 AND correct = 1"));
  for (const auto& r : j) {
    EXPECT_GE(r["step"].get<int>(), 3);
    EXPECT_LE(r["step"].get<int>(), 5);
    EXPECT_TRUE(r["correct"].get<bool>());
  }
  j = run_json("inspect " + db_ + " samples --finish length --incorrect --limit 0 --json");
  EXPECT_EQ(static_cast<int64_t>(j.size()),
            sql("SELECT count(*) FROM samples WHERE finish_reason = 'length' AND correct = 0"));
  j = run_json("inspect " + db_ + " samples --sort -length --limit 5 --json");
  ASSERT_EQ(j.size(), 5u);
  EXPECT_EQ(j[0]["tokens"].get<int64_t>(), sql("SELECT max(n_tokens) FROM samples"));
  for (size_t i = 1; i < j.size(); ++i) EXPECT_LE(j[i]["tokens"].get<int>(), j[i - 1]["tokens"].get<int>());
  j = run_json("inspect " + db_ + " samples --min-reward 1 --max-reward 1.15 --contains boxed --limit 0 --json");
  EXPECT_EQ(static_cast<int64_t>(j.size()),
            sql("SELECT count(*) FROM samples WHERE reward BETWEEN 1 AND 1.15 AND instr(text, 'boxed') > 0"));
  j = run_json("inspect " + db_ + " samples --prompt 5 --limit 0 --json");
  EXPECT_EQ(static_cast<int64_t>(j.size()), sql("SELECT count(*) FROM samples WHERE prompt_id = 5"));
}

TEST_F(InspectCli, ShowPromptCompare) {
  json s = run_json("inspect " + db_ + " show 17 --json");
  EXPECT_EQ(s["id"], 17);
  EXPECT_EQ(s["reward_components"].size(), 3u);
  EXPECT_EQ(s["reward_components"]["accuracy"].get<double>(), s["correct"].get<bool>() ? 1.0 : 0.0);
  Out t = run("inspect " + db_ + " show 17");
  ASSERT_EQ(t.rc, 0);
  EXPECT_NE(t.out.find("reward components:"), std::string::npos);
  EXPECT_NE(t.out.find(s["text"].get<std::string>()), std::string::npos);  // the full text

  json p = run_json("inspect " + db_ + " prompt " + std::to_string(s["prompt_id"].get<int>()) + " --json");
  int64_t n = 0;
  for (const auto& h : p["history"]) n += h["samples"].get<int64_t>();
  EXPECT_EQ(n, sql("SELECT count(*) FROM samples WHERE prompt_id = " + std::to_string(s["prompt_id"].get<int>())));

  json c = run_json("inspect " + db_ + " compare 0 11 --json");
  bool found = false;
  for (const auto& r : c)
    if (r["metric"] == "reward/mean") {
      found = true;
      EXPECT_NEAR(r["delta"].get<double>(), r["step 11"].get<double>() - r["step 0"].get<double>(), 1e-12);
    }
  EXPECT_TRUE(found);
}

// compare with one other run: the metrics of a step of each run (the last by default) and the latest evaluation.
TEST_F(InspectCli, CompareTwoRuns) {
  const std::string other = (dir_ / "other.db").string();
  SyntheticSpec spec;
  spec.n_steps = 8;
  spec.seed = 5;
  spec.name = "other";
  write_synthetic_file(other, spec);
  auto value = [](const std::string& db, const std::string& sql) {
    Stmt s = RolloutStore::open(db, true).db().prepare(sql);
    EXPECT_TRUE(s.step()) << sql;
    return s.f64(0);
  };
  json c = run_json("inspect " + db_ + " compare " + other + " --json");
  std::map<std::string, json> rows;
  for (const auto& r : c) rows[r["metric"].get<std::string>()] = r;
  ASSERT_TRUE(rows.count("kl"));
  const json& kl = rows["kl"];
  EXPECT_EQ(kl["synthetic (step 11)"].get<double>(), value(db_, "SELECT value FROM step_metrics WHERE step = 11 AND key = 'kl'"));
  EXPECT_EQ(kl["other (step 7)"].get<double>(), value(other, "SELECT value FROM step_metrics WHERE step = 7 AND key = 'kl'"));
  EXPECT_NEAR(kl["delta"].get<double>(), kl["other (step 7)"].get<double>() - kl["synthetic (step 11)"].get<double>(), 1e-15);
  EXPECT_EQ(rows["steps"]["synthetic (step 11)"], 12);
  EXPECT_EQ(rows["steps"]["other (step 7)"], 8);
  EXPECT_NEAR(rows["wall time to this step (s)"]["other (step 7)"].get<double>(),
              value(other, "SELECT sum(value) / 1000 FROM step_metrics WHERE key = 'time/step_ms'"), 1e-9);
  // The evaluation at step 11 (the last) of the first run, at step 7 of the other.
  EXPECT_EQ(rows["eval synthetic_test pass@1"]["synthetic (step 11)"].get<double>(),
            value(db_, "SELECT value FROM evaluations WHERE step = 11 AND key = 'pass@1'"));
  EXPECT_EQ(rows["eval synthetic_test pass@1"]["other (step 7)"].get<double>(),
            value(other, "SELECT value FROM evaluations WHERE step = 7 AND key = 'pass@1'"));
  // One step of both, labels given; at step 5 the latest evaluation is step 0's.
  c = run_json("inspect " + db_ + " compare " + other + " --step 5 --label-a RL --label-b SFT --json");
  rows.clear();
  for (const auto& r : c) rows[r["metric"].get<std::string>()] = r;
  EXPECT_EQ(rows["kl"]["SFT (step 5)"].get<double>(), value(other, "SELECT value FROM step_metrics WHERE step = 5 AND key = 'kl'"));
  EXPECT_EQ(rows["eval synthetic_test pass@1"]["RL (step 5)"].get<double>(),
            value(db_, "SELECT value FROM evaluations WHERE step = 0 AND key = 'pass@1'"));
  Out t = run("inspect " + db_ + " compare " + other);
  ASSERT_EQ(t.rc, 0) << t.err;
  EXPECT_NE(t.out.find("synthetic (step 11)"), std::string::npos) << t.out;
  struct Case {
    std::string args, says;
  } cases[] = {
      {"inspect " + db_ + " compare " + other + " --step 10", "no step 10"},
      {"inspect " + db_ + " compare 0 x", "two step numbers"},
      {"inspect " + db_ + " compare " + (dir_ / "none.db").string(), "no such run"},
  };
  for (const auto& k : cases) {
    Out o = run(k.args);
    EXPECT_EQ(o.rc, 1) << k.args;
    EXPECT_NE(o.err.find(k.says), std::string::npos) << k.args << "\nstderr: " << o.err;
  }
  // The report overlays both runs under their labels; a wrong number of labels is refused.
  const std::string html = (dir_ / "two.html").string();
  Out r = run("report " + db_ + " " + other + " --label RL --label SFT -o " + html);
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string page = read_file(html);
  EXPECT_NE(page.find("data-run=\"RL\" data-series=\"RL \xC2\xB7 kl\""), std::string::npos);
  EXPECT_NE(page.find("data-run=\"SFT\" data-series=\"SFT \xC2\xB7 kl\""), std::string::npos);
  Out bad = run("report " + db_ + " " + other + " --label RL -o " + html);
  EXPECT_EQ(bad.rc, 1);
  EXPECT_NE(bad.err.find("one --label per file"), std::string::npos) << bad.err;
}

TEST_F(InspectCli, ExportAndSql) {
  Out csv = run("inspect " + db_ + " export --format csv");
  ASSERT_EQ(csv.rc, 0) << csv.err;
  EXPECT_EQ(std::count(csv.out.begin(), csv.out.end(), '\n'), sql("SELECT count(*) FROM samples") + 1);
  EXPECT_EQ(csv.out.rfind("id,step,prompt_id", 0), 0u);
  const std::string file = (dir_ / "s.jsonl").string();
  ASSERT_EQ(run("inspect " + db_ + " export --format jsonl -o " + file).rc, 0);
  std::istringstream in(read_file(file));
  int64_t n = 0;
  for (std::string line; std::getline(in, line); ++n) {
    json j = json::parse(line);
    EXPECT_TRUE(j["reward_components"].is_object());
  }
  EXPECT_EQ(n, sql("SELECT count(*) FROM samples"));

  json q = run_json("inspect " + db_ + " sql \"SELECT step, count(*) AS n FROM samples GROUP BY step\" --json");
  ASSERT_EQ(q.size(), 12u);
  EXPECT_EQ(q[0]["n"], 32);
}

TEST_F(InspectCli, BadArgumentsGiveAMessageAndExit1) {
  const int64_t before = sql("SELECT count(*) FROM samples");
  struct Case {
    std::string args, says;
  } cases[] = {
      {"inspect " + (dir_ / "nope.db").string() + " summary", "no such run"},
      {"inspect " + db_ + " show 999999", "no sample with id 999999"},
      {"inspect " + db_ + " prompt 4242", "no prompt with id 4242"},
      {"inspect " + db_ + " compare 0 99", "no step 99"},
      {"inspect " + db_ + " samples --step x:y", "bad --step"},
      {"inspect " + db_ + " samples --sort size", "unknown sort key"},
      {"inspect " + db_ + " summary --keys nope", "no metric 'nope'"},
      {"inspect " + db_ + " export --format xml", "valid: jsonl, csv"},
      {"inspect " + db_ + " sql \"DELETE FROM samples\"", "read-only"},
      {"inspect " + db_ + " sql \"DROP TABLE samples\"", "read-only"},
      {"inspect " + db_ + " sql \"SELECT nope FROM samples\"", "no such column"},
      {"report " + (dir_ / "nope.db").string() + " -o " + (dir_ / "x.html").string(), "no such run"},
  };
  for (const auto& c : cases) {
    Out o = run(c.args);
    EXPECT_EQ(o.rc, 1) << c.args;
    EXPECT_NE(o.err.find(c.says), std::string::npos) << c.args << "\nstderr: " << o.err;
  }
  EXPECT_EQ(sql("SELECT count(*) FROM samples"), before);
}

// A query without an end is stopped at --timeout with a message; the connection works again afterwards.
TEST_F(InspectCli, EndlessQueryIsStopped) {
  Out o = run("inspect " + db_ + " sql --timeout 1 \"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
              "SELECT count(*) FROM c\"");
  EXPECT_EQ(o.rc, 1);
  EXPECT_NE(o.err.find("stopped after its 1 s limit"), std::string::npos) << o.err;
  Out ok = run("inspect " + db_ + " sql --timeout 1 \"SELECT count(*) FROM samples\"");
  EXPECT_EQ(ok.rc, 0) << ok.err;
}

// A damaged file: summary says so and exits 1 (it printed an empty table at exit 0).
TEST_F(InspectCli, DamagedDatabaseIsReported) {
  const fs::path bad = dir_ / "damaged.db";
  {
    auto st = RolloutStore::open(bad.string());
    SyntheticSpec spec;
    spec.n_steps = 12;
    write_synthetic_run(st, spec);
  }
  const auto size = fs::file_size(bad);
  ASSERT_GT(size, 16384u);
  {  // garbage over every page but the first (the schema page)
    std::fstream f(bad, std::ios::in | std::ios::out | std::ios::binary);
    const std::string junk(4096, '\x5a');
    for (std::streamoff at = 4096; at + 4096 <= static_cast<std::streamoff>(size); at += 8192) {
      f.seekp(at);
      f.write(junk.data(), static_cast<std::streamsize>(junk.size()));
    }
  }
  Out o = run("inspect " + bad.string() + " summary");
  EXPECT_EQ(o.rc, 1) << o.out;
  EXPECT_NE(o.err.find("damaged"), std::string::npos) << o.err;
}

TEST_F(InspectCli, ReportWritesOneFile) {
  const std::string out = (dir_ / "report.html").string();
  Out o = run("report " + db_ + " -o " + out);
  ASSERT_EQ(o.rc, 0) << o.err;
  const std::string html = read_file(out);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(html.find("data-series=\"kl\""), std::string::npos);
}

// A file of the previous schema version whose text holds bytes that are not UTF-8 (a byte-level model emitted them):
// `inspect migrate` upgrades it; then every reader works: samples/show --json (exit 2 before: JSON cannot hold them),
// show --bytes (the exact bytes), export, report, and Python's sqlite3 reads every row of every table and view
// (before: "Could not decode to UTF-8").
TEST_F(InspectCli, TextThatIsNotUtf8IsReadableEverywhereAfterMigrating) {
  const std::string db = (dir_ / "old_v3.db").string();
  fs::remove(db);
  testing::make_version3_store_with_bad_utf8(db);
  Out m = run("inspect " + db + " migrate");
  ASSERT_EQ(m.rc, 0) << m.err;
  EXPECT_NE(m.out.find("schema version " + std::to_string(kSchemaVersion)), std::string::npos) << m.out;

  json rows = run_json("inspect " + db + " samples --json");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["text"], "the answer is 4\uFFFD");
  EXPECT_EQ(rows[1]["text"], testing::kGoodText2);
  json one = run_json("inspect " + db + " show 3 --json");
  EXPECT_EQ(one["text"], "\uFFFD\uFFFD x \uFFFD \uFFFD\uFFFD\uFFFD y");
  EXPECT_EQ(one["text_replaced"], true);
  EXPECT_EQ(one["finish_reason"], "stop\uFFFD");
  EXPECT_EQ(one["prompt_text"], "what is 2+2? \uFFFD");
  EXPECT_FALSE(one.contains("text_bytes"));
  json exact = run_json("inspect " + db + " show 3 --bytes --json");
  EXPECT_EQ(exact["text_bytes"], "\\xff\\xfe x \\xe2\\x82 \\xed\\xa0\\x80 y");
  json good = run_json("inspect " + db + " show 2 --bytes --json");
  EXPECT_EQ(good["text_replaced"], false);
  EXPECT_EQ(good["text_bytes"], "caf\xC3\xA9 \\\\boxed{5}");  // a backslash is escaped to keep it unambiguous
  Out shown = run("inspect " + db + " show 1 --bytes");
  ASSERT_EQ(shown.rc, 0) << shown.err;
  EXPECT_NE(shown.out.find("the answer is 4\\xc3\n"), std::string::npos) << shown.out;
  Out plain = run("inspect " + db + " show 1");
  ASSERT_EQ(plain.rc, 0) << plain.err;
  EXPECT_NE(plain.out.find("the answer is 4\uFFFD\n"), std::string::npos) << plain.out;
  EXPECT_NE(plain.out.find("--bytes"), std::string::npos) << plain.out;  // says how to see the bytes

  Out sum = run("inspect " + db + " summary --json");
  EXPECT_EQ(sum.rc, 0) << sum.err;
  const std::string jl = (dir_ / "old.jsonl").string();
  Out ex = run("inspect " + db + " export -o " + jl);
  ASSERT_EQ(ex.rc, 0) << ex.err;
  std::ifstream f(jl);
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    json r = json::parse(line);
    EXPECT_EQ(r["text"].get<std::string>().find('\xFF'), std::string::npos);
    ++n;
  }
  EXPECT_EQ(n, 3);
  json q = run_json("inspect " + db + " sql \"SELECT CAST(text_bytes AS TEXT) AS t FROM samples WHERE id = 1\" --json");
  EXPECT_EQ(q[0]["t"], "the answer is 4\uFFFD");  // a query that rebuilds the bytes still prints JSON
  const std::string html = (dir_ / "old.html").string();
  Out rep = run("report " + db + " -o " + html);
  EXPECT_EQ(rep.rc, 0) << rep.err;

  // Python's sqlite3 (the README's access path) reads every row of every table and view.
  const std::string py = std::string(REASONRL_PYTHON).empty() ? "/usr/bin/python3" : REASONRL_PYTHON;
  const std::string script = (dir_ / "read_all.py").string();
  std::ofstream(script) << "import sqlite3, sys\n"
                           "db = sqlite3.connect('file:' + sys.argv[1] + '?mode=ro', uri=True)\n"
                           "n = 0\n"
                           "for (name,) in db.execute(\"SELECT name FROM sqlite_master WHERE type IN ('table','view')\"):\n"
                           "    n += len(db.execute('SELECT * FROM ' + name).fetchall())\n"
                           "b = db.execute('SELECT text_bytes FROM samples WHERE id = 3').fetchone()[0]\n"
                           "assert b == b'\\xff\\xfe x \\xe2\\x82 \\xed\\xa0\\x80 y', b\n"
                           "t = db.execute('SELECT text FROM samples WHERE id = 3').fetchone()[0]\n"
                           "assert t == b.decode('utf-8', 'replace'), t\n"
                           "print(n)\n";
  Out pr = [&] {
    const std::string out = (dir_ / "py.txt").string(), err = (dir_ / "py_err.txt").string();
    const int rc = std::system((py + " " + script + " " + db + " >" + out + " 2>" + err).c_str());
    return Out{WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, read_file(out), read_file(err)};
  }();
  EXPECT_EQ(pr.rc, 0) << pr.err;
  EXPECT_GE(std::atoi(pr.out.c_str()), 15) << pr.out;
}

}  // namespace
}  // namespace reasonrl::store
