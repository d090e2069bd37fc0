// Tests for the JSONL loaders: field mapping per layout, malformed lines (fail with file:line, or skip and count).
#include "datasets/jsonl_loader.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "datasets/synthetic.h"
#include "rl/util/error.h"

namespace reasonrl::datasets {
namespace {

std::string tmp_file(const std::string& name, const std::string& text) {
  const std::string p = std::string(REASONRL_BINARY_DIR) + "/test_loader_" + name;
  write_file_atomic(p, text);
  return p;
}

TEST(Loader, Gsm8kLayout) {
  const auto p = tmp_file("gsm8k.jsonl",
                          R"({"question": "Tom has 3 apples and buys 4. How many?", "answer": "3+4=<<3+4=7>>7\n#### 7"})" "\n"
                          R"({"question": "Big?", "answer": "x=<<1000*2=2000>>2000 and <<2000+1=2001>>\n#### 2,001"})" "\n");
  DatasetConfig c;
  c.layout = Layout::Gsm8k;
  const auto v = load_jsonl(p, c);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].prompt, "Tom has 3 apples and buys 4. How many?");
  EXPECT_EQ(v[0].answer, "7");
  EXPECT_EQ(v[0].cot, "3+4=<<3+4=7>>7");
  EXPECT_EQ(v[0].task, "gsm8k");
  EXPECT_EQ(v[0].id, "gsm8k:1");
  EXPECT_EQ(v[1].answer, "2001");
  EXPECT_EQ(v[1].difficulty, 2);
  std::filesystem::remove(p);
}

TEST(Loader, MathLayoutWithLevelAndBoxedFallback) {
  const auto p = tmp_file("math.jsonl",
                          R"({"problem": "P1", "solution": "so \\boxed{\\frac{1}{2}}", "answer": "\\frac{1}{2}", "subject": "Algebra", "level": 3, "unique_id": "u1"})" "\n"
                          R"({"problem": "P2", "solution": "thus \\boxed{x^{2}} ok", "level": "Level 5"})" "\n");
  DatasetConfig c;
  c.layout = Layout::Math;
  const auto v = load_jsonl(p, c);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].answer, "\\frac{1}{2}");
  EXPECT_EQ(v[0].difficulty, 3);
  EXPECT_EQ(v[0].id, "u1");
  EXPECT_EQ(v[0].meta["subject"], "Algebra");
  EXPECT_EQ(v[1].answer, "x^{2}");
  EXPECT_EQ(v[1].difficulty, 5);
  std::filesystem::remove(p);
}

TEST(Loader, CountdownBothLayouts) {
  const auto p = tmp_file("cd.jsonl", R"({"input": "30,100,93", "output": "23"})" "\n" R"({"nums": [1, 2, 3], "target": 6})" "\n");
  DatasetConfig c;
  c.layout = Layout::Countdown;
  const auto v = load_jsonl(p, c);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].answer, "23");
  EXPECT_EQ(v[0].meta["nums"], json::parse("[30,100,93]"));
  EXPECT_EQ(v[0].prompt, "Using the numbers 30, 100, 93, make 23. Use each number once with + - * /.");
  EXPECT_EQ(v[1].meta["target"], 6);
  std::filesystem::remove(p);
}

TEST(Loader, AimeOlymAndGeneric) {
  const auto a = tmp_file("aime.jsonl", R"({"id": 60, "problem": "Q", "answer": "025"})" "\n" R"({"prompt": "Q2", "answer": 104})" "\n");
  DatasetConfig c;
  c.layout = Layout::Aime;
  auto v = load_jsonl(a, c);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].answer, "25");
  EXPECT_EQ(v[0].id, "60");
  EXPECT_EQ(v[1].prompt, "Q2");
  EXPECT_EQ(v[1].answer, "104");
  const auto o = tmp_file("olym.jsonl", R"({"problem": "求值", "answer": "$\\sqrt{2}$", "subject": "代数", "unique_id": "OlymMATH-HARD-0-ZH"})" "\n");
  c.layout = Layout::OlymMath;
  v = load_jsonl(o, c);
  EXPECT_EQ(v.at(0).id, "OlymMATH-HARD-0-ZH");
  EXPECT_EQ(v.at(0).meta["subject"], "代数");
  // generic with key overrides
  const auto g = tmp_file("gen.jsonl", R"({"q": "2+2?", "gold": "4", "level": 2})" "\n");
  DatasetConfig gc;
  gc.prompt_key = "q";
  gc.answer_key = "gold";
  gc.difficulty_key = "level";
  gc.task = "toy";
  v = load_jsonl(g, gc);
  EXPECT_EQ(v.at(0).prompt, "2+2?");
  EXPECT_EQ(v.at(0).answer, "4");
  EXPECT_EQ(v.at(0).difficulty, 2);
  EXPECT_EQ(v.at(0).task, "toy");
  for (const auto& p : {a, o, g}) std::filesystem::remove(p);
}

TEST(Loader, MalformedLineFailsWithFileAndLineOrIsSkipped) {
  const auto p = tmp_file("bad.jsonl", R"({"prompt": "a", "answer": "1"})" "\n\n" R"({"prompt": "b"})" "\n" "{not json\n" R"({"prompt": "c", "answer": 3})" "\n");
  DatasetConfig c;
  try {
    load_jsonl(p, c);
    FAIL() << "no error";
  } catch (const FormatError& e) {
    EXPECT_NE(std::string(e.what()).find(p + ":3:"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("answer"), std::string::npos) << e.what();
  }
  c.on_error = OnError::Skip;
  LoadStats st;
  const auto v = load_jsonl(p, c, &st);
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[1].answer, "3");
  EXPECT_EQ(st.lines, 4);
  EXPECT_EQ(st.loaded, 2);
  EXPECT_EQ(st.skipped, 2);
  ASSERT_EQ(st.errors.size(), 2u);
  EXPECT_NE(st.errors[1].find(":4: invalid JSON"), std::string::npos) << st.errors[1];
  EXPECT_THROW(load_jsonl(p + ".missing", c), IoError);
  std::filesystem::remove(p);
}

// Found while writing fuzz/fuzz_jsonl.cpp: numbers past the int / int64 range were an uncaught std::out_of_range
// ("internal error") or silently wrapped.
TEST(Loader, NumbersOutOfRangeAreLineErrorsNotWrapped) {
  DatasetConfig math;
  math.layout = Layout::Math;
  const auto p1 = tmp_file("big_level.jsonl", R"({"problem": "p", "answer": "1", "level": "Level 99999999999"})" "\n");
  try {
    load_jsonl(p1, math);
    FAIL() << "no error";
  } catch (const FormatError& e) {  // before: std::out_of_range from std::stoi
    EXPECT_NE(std::string(e.what()).find(p1 + ":1: field 'level' holds 99999999999"), std::string::npos) << e.what();
  }
  DatasetConfig gen;
  const auto p2 = tmp_file("big_difficulty.jsonl", R"({"prompt": "p", "answer": "1", "difficulty": 4294967297})" "\n");
  EXPECT_THROW(load_jsonl(p2, gen), FormatError);  // before: difficulty 1 (wrapped)
  const auto p3 = tmp_file("big_answer.jsonl", R"({"prompt": "p", "answer": 18446744073709551615})" "\n");
  EXPECT_EQ(load_jsonl(p3, gen).at(0).answer, "18446744073709551615");  // before: "-1"
  DatasetConfig cd;
  cd.layout = Layout::Countdown;
  const auto p4 = tmp_file("big_nums.jsonl", R"({"nums": [18446744073709551615, 2], "target": 3})" "\n");
  EXPECT_THROW(load_jsonl(p4, cd), FormatError);  // before: the number -1
  const auto p5 = tmp_file("level_ok.jsonl", R"({"problem": "p", "answer": "1", "level": "Level 3 of 5"})" "\n");
  EXPECT_EQ(load_jsonl(p5, math).at(0).difficulty, 3);
  for (const auto& p : {p1, p2, p3, p4, p5}) std::filesystem::remove(p);
}

TEST(Loader, SyntheticExamplesRoundTripThroughGenericLayout) {
  SyntheticConfig sc;
  sc.task = SyntheticKind::Countdown;
  const auto ex = SyntheticTask(sc).generate(Split::Heldout, 20, 1);
  const std::string p = std::string(REASONRL_BINARY_DIR) + "/test_loader_synth.jsonl";
  write_examples_jsonl(p, ex);
  const auto back = load_jsonl(p, DatasetConfig{});
  ASSERT_EQ(back.size(), ex.size());
  for (size_t i = 0; i < ex.size(); ++i) EXPECT_EQ(nlohmann::json::parse(example_to_json(back[i]).dump()), nlohmann::json::parse(example_to_json(ex[i]).dump()));
  std::filesystem::remove(p);
}

TEST(Loader, GsmHelpers) {
  EXPECT_EQ(gsm8k_final_answer("a\n#### 1,234 "), "1234");
  EXPECT_THROW(gsm8k_final_answer("no marker"), FormatError);
  EXPECT_EQ(last_boxed("\\boxed{1} then \\boxed{\\frac{a}{b}}"), "\\frac{a}{b}");
  EXPECT_EQ(last_boxed("\\boxed{unclosed"), "");
}

}  // namespace
}  // namespace reasonrl::datasets
