// Conformance of the math grader against peer test data (Math-Verify's own tests, other graders' tests, datasets).
// Prints agreement per file and family; fails below the thresholds of issue 4. Skips when peer-data is absent.
#include <gtest/gtest.h>
#include "tests/require.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "rewards/math_verify.h"
#include "tests/rewards/peer_data.h"

namespace reasonrl::rewards {
namespace {

using json = nlohmann::ordered_json;
namespace fs = std::filesystem;

using peer::kPeer;
using peer::read_jsonl;
using peer::verbose;

#define SKIP_IF_NO_PEER_DATA(file) \
  REASONRL_REQUIRE_OR_SKIP(fs::exists(kPeer + "/" + file), "peer data " + kPeer + "/" + file + " is absent")

struct Tally {
  int n = 0, ok = 0;
  void add(bool agree) { ++n, ok += agree; }
  double rate() const { return n ? static_cast<double>(ok) / n : 1.0; }
};

void print_tallies(const char* title, const std::map<std::string, Tally>& t) {
  std::printf("%s\n", title);
  for (const auto& [k, v] : t) std::printf("  %-60s %4d/%-4d = %6.2f%%\n", k.c_str(), v.ok, v.n, 100.0 * v.rate());
}

TEST(MathConformance, MathVerifyPairs) {
  SKIP_IF_NO_PEER_DATA("math_verify_pairs.jsonl");
  const auto rows = read_jsonl("math_verify_pairs.jsonl");
  ASSERT_EQ(rows.size(), 274u);
  Tally all;
  std::map<std::string, Tally> by_file;
  int false_equal = 0, not_equal_cases = 0;
  for (const auto& r : rows) {
    VerifyOptions o;
    o.float_rounding = r.value("precision", 6);
    o.allow_set_relation_comp = r.value("allow_set_relation_comp", false);
    // match_types ["latex"] = no plain-number fallback for the prediction (Math-Verify LatexExtractionConfig only)
    const auto& mt = r["match_types"];
    o.extraction = (mt.is_array() && mt.size() == 1 && mt[0] == "latex") ? ExtractionMode::Strict : ExtractionMode::Flexible;
    const bool expected = r["expected_equal"].get<bool>();
    const Verdict v = math_verify(r["gold"].get<std::string>(), r["pred"].get<std::string>(), o);
    const bool got = v == Verdict::Equal;
    all.add(got == expected);
    std::string file = r["source_test"].get<std::string>();
    file = file.substr(0, file.find("::"));
    by_file[file].add(got == expected);
    if (!expected) {
      ++not_equal_cases;
      if (got) ++false_equal;
    }
    if (got != expected && verbose())
      std::printf("DISAGREE expected=%d got=%s  gold=%s  pred=%.200s\n", expected, verdict_name(v),
                  r["gold"].dump().c_str(), r["pred"].dump().c_str());
  }
  print_tallies("math_verify_pairs.jsonl by source file:", by_file);
  std::printf("math_verify_pairs.jsonl: %d/%d agree (%.2f%%); false 'equal' on %d of %d not-equal cases\n", all.ok, all.n,
              100 * all.rate(), false_equal, not_equal_cases);
  EXPECT_EQ(not_equal_cases, 40);
  EXPECT_GE(all.rate(), 0.95);
  EXPECT_EQ(false_equal, 0) << "a false 'equal' is reward hacking";
}

TEST(MathConformance, GraderEquivalencePairs) {
  SKIP_IF_NO_PEER_DATA("grader_equivalence_pairs.jsonl");
  const auto rows = read_jsonl("grader_equivalence_pairs.jsonl");
  Tally all;
  std::map<std::string, Tally> by_grader;
  int false_equal = 0, no_expectation = 0, gold_unparseable = 0;
  for (const auto& r : rows) {
    if (r["expected_equal"].is_null()) {
      ++no_expectation;
      continue;
    }
    const bool expected = r["expected_equal"].get<bool>();
    const std::string grader = r["grader"].get<std::string>();
    std::string gold = r["gold"].is_string() ? r["gold"].get<std::string>() : "";
    std::string pred = r["pred"].is_string() ? r["pred"].get<std::string>() : "";
    // Configure our grader as the peer grader is configured (these are options of our accuracy reward too):
    //  - TRL reasoning_accuracy_reward reads only after </think> and needs it (accuracy.require_think_close);
    //  - verl/DAPO strict-box and minerva graders need an explicit answer, no last-number fallback (extraction=strict);
    //  - DAPO compute_score reads the last 300 characters (accuracy.tail_chars=300).
    VerifyOptions o;
    if (grader.find("reasoning_accuracy_reward") != std::string::npos) {
      if (pred.find("</think>") == std::string::npos) pred.clear();
      else pred = pred.substr(pred.rfind("</think>") + 8);
    }
    if (grader.find("is_correct_strict_box") != std::string::npos || grader.find("grade_answer_verl") != std::string::npos ||
        grader.find("is_correct_minerva") != std::string::npos || grader.find("compute_score") != std::string::npos)
      o.extraction = ExtractionMode::Strict;
    if (grader.find("math_dapo_utils.py:compute_score") != std::string::npos && pred.size() > 300)
      pred = pred.substr(pred.size() - 300);
    // Deliberate difference: slime's grade_answer_sympy rejects unsimplified fractions (\frac{2}{4} != \frac{1}{2});
    // we grade by value, so that row counts as a disagreement.
    const Verdict v = math_verify(gold, pred, o);
    gold_unparseable += v == Verdict::GoldUnparseable;
    const bool got = v == Verdict::Equal;
    all.add(got == expected);
    by_grader[r["grader"].get<std::string>().substr(0, 60)].add(got == expected);
    if (!expected && got) ++false_equal;
    if (got != expected && verbose())
      std::printf("DISAGREE expected=%d got=%s  gold=%s  pred=%.300s  (%s)\n", expected, verdict_name(v), r["gold"].dump().c_str(),
                  r["pred"].dump().c_str(), r["grader"].get<std::string>().c_str());
  }
  print_tallies("grader_equivalence_pairs.jsonl by grader:", by_grader);
  std::printf("grader_equivalence_pairs.jsonl: %d/%d rows with an expectation agree (%.2f%%); %d without expectation skipped; "
              "%d false 'equal'; %d gold unparseable\n",
              all.ok, all.n, 100 * all.rate(), no_expectation, false_equal, gold_unparseable);
  EXPECT_EQ(all.n, 166);
  EXPECT_GE(all.rate(), 0.90);
}

// Every gold answer of GSM8K / MATH-500 parses, and each reference solution grades as correct against its own gold.
void dataset_self_check(const char* file, const char* gold_key, const char* solution_key, bool hash_gold) {
  const auto rows = read_jsonl(file);
  ASSERT_FALSE(rows.empty());
  int parse_ok = 0, self_ok = 0;
  for (const auto& r : rows) {
    std::string gold = r[gold_key].get<std::string>();
    if (hash_gold) {  // GSM8K: the gold is what follows "####"
      const size_t p = gold.rfind("####");
      gold = p == std::string::npos ? "" : gold.substr(p + 4);
    }
    const std::string solution = r[solution_key].get<std::string>();
    const Verdict v = math_verify(gold, solution);
    parse_ok += v != Verdict::GoldUnparseable;
    self_ok += v == Verdict::Equal;
    if (v != Verdict::Equal && verbose())
      std::printf("SELF-FAIL %s gold=%s  solution tail=%.200s\n", verdict_name(v), gold.c_str(),
                  solution.substr(solution.size() > 200 ? solution.size() - 200 : 0).c_str());
  }
  const double n = static_cast<double>(rows.size());
  std::printf("%s: gold parses %d/%zu (%.2f%%); reference solution graded correct %d/%zu (%.2f%%)\n", file, parse_ok,
              rows.size(), 100 * parse_ok / n, self_ok, rows.size(), 100 * self_ok / n);
  EXPECT_EQ(parse_ok, static_cast<int>(rows.size()));
  EXPECT_GE(self_ok / n, 0.99);
}

TEST(MathConformance, Gsm8kSelfGrading) {
  SKIP_IF_NO_PEER_DATA("gsm8k_test.jsonl");
  dataset_self_check("gsm8k_test.jsonl", "answer", "answer", true);
}

TEST(MathConformance, Math500SelfGrading) {
  SKIP_IF_NO_PEER_DATA("math500_test.jsonl");
  dataset_self_check("math500_test.jsonl", "answer", "solution", false);
}

}  // namespace
}  // namespace reasonrl::rewards
