// Tests for shortest rejection sampling and Kimi's DPO pair rule on hand-made samples.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "datasets/example.h"
#include "rl/long2short/rejection.h"

namespace reasonrl::long2short {
namespace {

Candidate cand(const std::string& text, int n, bool correct) {
  Candidate c;
  c.text = text;
  c.n_tokens = n;
  c.correct = correct;
  for (int i = 0; i < n; ++i) c.tokens.push_back(int32_t(i));
  return c;
}

// n examples q0, q1, ... with answer 7, and one PromptSamples per example (samples to be filled in).
std::vector<datasets::Example> sevens(int n) {
  std::vector<datasets::Example> ex(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    ex[size_t(i)].id = "q" + std::to_string(i);
    ex[size_t(i)].prompt = "question " + std::to_string(i);
    ex[size_t(i)].answer = "7";
  }
  return ex;
}
std::vector<PromptSamples> per_example(int n) {
  std::vector<PromptSamples> ps(static_cast<size_t>(n));
  for (size_t i = 0; i < size_t(n); ++i) ps[i].example = i;
  return ps;
}

TEST(ShortestRejection, PicksTheShortestCorrect) {
  // a shorter wrong one must not be picked; ties go to the first
  std::vector<Candidate> c = {cand("a", 30, true), cand("b", 5, false), cand("c", 12, true), cand("d", 12, true),
                              cand("e", 40, true)};
  EXPECT_EQ(shortest_correct(c), 2);
  c[2].correct = false;
  EXPECT_EQ(shortest_correct(c), 3);
  for (auto& x : c) x.correct = false;
  EXPECT_EQ(shortest_correct(c), -1);
  EXPECT_EQ(shortest_correct({}), -1);
}

TEST(ShortestRejection, SftSetLeavesOutPromptsWithNoCorrectSample) {
  const datasets::PromptTemplate tpl;  // plain: <think>{cot}</think><answer>{answer}</answer>
  const std::vector<datasets::Example> ex = sevens(3);
  std::vector<PromptSamples> ps = per_example(3);
  ps[0].samples = {cand("<think>long long way</think><answer>7</answer>", 20, true),
                   cand("<think>3+4</think><answer>7</answer>", 8, true), cand("<think>x</think><answer>8</answer>", 4, false)};
  ps[1].samples = {cand("<think>a</think><answer>9</answer>", 6, false), cand("<think>b</think><answer>1</answer>", 9, false)};
  ps[2].samples = {cand("<think>2+5</think><answer>7</answer>", 9, true)};
  const ShortestSet s = build_shortest_set(ps, ex, tpl);
  EXPECT_EQ(s.prompts, 3);
  EXPECT_EQ(s.with_correct, 2);
  ASSERT_EQ(s.examples.size(), 2u);
  EXPECT_EQ(s.examples[0].id, "q0");
  EXPECT_EQ(s.examples[0].cot, "3+4");
  EXPECT_EQ(s.examples[0].answer, "7");
  EXPECT_EQ(tpl.target(s.examples[0]), "<think>3+4</think><answer>7</answer>");  // SFT re-renders the chosen text
  EXPECT_EQ(s.examples[1].id, "q2");
  EXPECT_DOUBLE_EQ(s.mean_selected_tokens, (8 + 9) / 2.0);
}

// A correct shortest response cut inside a UTF-8 character (a byte-level tokenizer can stop there) is left out and
// counted, and the set can be written; writing it used to throw nlohmann's type_error.316 and end the run (seen on a
// 4.5M countdown model).
TEST(ShortestRejection, ShortestCorrectThatIsNotUtf8IsLeftOutAndCounted) {
  const datasets::PromptTemplate tpl;
  const std::vector<datasets::Example> ex = sevens(2);
  std::vector<PromptSamples> ps = per_example(2);
  ps[0].samples = {cand("<think>3+4 \xE2\x80</think><answer>7</answer>", 8, true),
                   cand("<think>3+4=7, 7-0=7</think><answer>7</answer>", 14, true)};
  ps[1].samples = {cand("<think>2+5 \xE2\x80\x94 ok</think><answer>7</answer>", 9, true)};  // an em dash: valid
  const ShortestSet s = build_shortest_set(ps, ex, tpl);
  EXPECT_EQ(s.with_correct, 2);
  EXPECT_EQ(s.not_utf8, 1);
  ASSERT_EQ(s.examples.size(), 1u);
  EXPECT_EQ(s.examples[0].id, "q1");
  EXPECT_EQ(s.examples[0].cot, "2+5 \xE2\x80\x94 ok");
  const std::string path =
      (std::filesystem::temp_directory_path() / ("shortest_utf8_" + std::to_string(::getpid()) + ".jsonl")).string();
  EXPECT_NO_THROW(datasets::write_examples_jsonl(path, s.examples));
  std::filesystem::remove(path);
}

TEST(ShortestRejection, SplitTargetRoundTripsBothTemplates) {
  for (auto kind : {datasets::TemplateKind::Plain, datasets::TemplateKind::R1}) {
    datasets::TemplateConfig tc;
    tc.kind = kind;
    const datasets::PromptTemplate tpl(tc);
    const std::string r = tpl.target("12 + 5 = 17", "17");
    std::string cot, ans;
    ASSERT_TRUE(split_target(tpl, r, &cot, &ans)) << r;
    EXPECT_EQ(cot, "12 + 5 = 17");
    EXPECT_EQ(ans, "17");
    EXPECT_FALSE(split_target(tpl, "17", &cot, &ans));
    EXPECT_FALSE(split_target(tpl, r + " extra", &cot, &ans));
  }
}

TEST(DpoPairs, KimiRule) {
  // chosen = shortest correct (10 tokens). Negatives: wrong and longer (yes), wrong and shorter (no),
  // correct and >= 1.5x (yes), correct and 1.4x (no).
  std::vector<Candidate> c = {cand("c14", 14, true), cand("w8", 8, false),  cand("best", 10, true),
                              cand("w11", 11, false), cand("c15", 15, true), cand("w30", 30, false)};
  const auto p = dpo_pair_indices(c, 1.5, 10);
  ASSERT_EQ(p.size(), 3u);
  for (const auto& [ch, r] : p) EXPECT_EQ(ch, 2);
  EXPECT_EQ(p[0].second, 5);  // longest first
  EXPECT_EQ(p[1].second, 4);
  EXPECT_EQ(p[2].second, 3);
  EXPECT_EQ(dpo_pair_indices(c, 1.5, 1).size(), 1u);
  for (auto& x : c) x.correct = false;
  EXPECT_TRUE(dpo_pair_indices(c, 1.5, 10).empty());  // nothing correct: no pairs
}

// A sampled response that is not valid UTF-8 (a byte-level tokenizer can stop inside a character) cannot go into the
// TRL-layout JSONL, so its pairs are left out of both the written and the trained set, and counted. Found on a real run:
// nlohmann::json threw type_error 316 while writing dpo/pairs.jsonl.
TEST(DpoPairs, ResponsesThatAreNotUtf8AreLeftOutAndCounted) {
  std::vector<datasets::Example> ex(1);
  ex[0].id = "q0";
  ex[0].prompt = "question";
  std::vector<PromptSamples> ps(1);
  ps[0].example = 0;
  ps[0].samples = {cand("<think>3+4</think><answer>7</answer>", 8, true),
                   cand("<think>3+4=7 \xE2\x80 1</think><answer>9</answer>", 20, false),  // cut inside a character
                   cand("<think>3+4=7, 7-0=7 \xE2\x80\x94 ok</think><answer>6</answer>", 18, false)};  // an em dash
  const PairSet p = build_dpo_pairs(ps, ex, 1.5, 4);
  ASSERT_EQ(p.pairs.size(), 1u);
  EXPECT_EQ(p.text.size(), 1u);
  EXPECT_EQ(p.extra.size(), 1u);
  EXPECT_EQ(p.skipped_not_utf8, 1);
  EXPECT_EQ(p.prompts_with_pairs, 1);
  EXPECT_EQ(p.text[0].rejected, ps[0].samples[2].text);
  EXPECT_EQ(p.pairs[0].rejected.size(), 18u);
}

}  // namespace
}  // namespace reasonrl::long2short
