// Tests for prompt templates: rendered text for plain / r1 / custom and the SFT token layout.
#include "datasets/prompt_template.h"

#include <gtest/gtest.h>

#include "datasets/bpe_trainer.h"
#include "rl/util/error.h"

namespace reasonrl::datasets {
namespace {

Example ex() {
  Example e;
  e.prompt = "Compute 23+45-17.";
  e.cot = "23+45=68, 68-17=51";
  e.answer = "51";
  return e;
}

TEST(PromptTemplate, Plain) {
  PromptTemplate t;
  EXPECT_EQ(t.prompt(ex()), "Compute 23+45-17.\n");
  EXPECT_EQ(t.target(ex()), "<think>23+45=68, 68-17=51</think><answer>51</answer>");
}

TEST(PromptTemplate, R1MatchesTheFormatRewardLayout) {
  TemplateConfig c;
  c.kind = TemplateKind::R1;
  PromptTemplate t(c);
  const std::string p = t.prompt(ex());
  EXPECT_EQ(p.rfind("A conversation between User and Assistant.", 0), 0u);
  EXPECT_NE(p.find("User: Compute 23+45-17.\nAssistant: "), std::string::npos);
  EXPECT_EQ(t.target(ex()), "<think>\n23+45=68, 68-17=51\n</think>\n<answer>\n51\n</answer>");
}

TEST(PromptTemplate, CustomAndValidation) {
  TemplateConfig c;
  c.kind = TemplateKind::Custom;
  c.prompt_format = "Q: {prompt}\nA:";
  c.target_format = " {cot} => {answer}";
  PromptTemplate t(c);
  EXPECT_EQ(t.prompt(ex()), "Q: Compute 23+45-17.\nA:");
  EXPECT_EQ(t.target(ex()), " 23+45=68, 68-17=51 => 51");
  c.target_format = "{cot}";
  EXPECT_THROW(PromptTemplate{c}, ConfigError);
  Example cd = ex();
  cd.solution = "23+45-17";
  EXPECT_EQ(PromptTemplate().target(cd), "<think>23+45=68, 68-17=51</think><answer>23+45-17</answer>");
}

TEST(PromptTemplate, EncodeSftLayout) {
  BpeTrainerConfig bc;
  bc.vocab_size = 300;
  const Tokenizer tok = train_bpe({"Compute 23+45-17.\n<think>23+45=68, 68-17=51</think><answer>51</answer>"}, bc);
  PromptTemplate t;
  const auto s = t.encode_sft(tok, ex());
  const auto p = t.encode_prompt(tok, ex());
  ASSERT_EQ(s.prompt_len, int(p.size()));
  EXPECT_EQ(std::vector<int>(s.ids.begin(), s.ids.begin() + s.prompt_len), p);
  EXPECT_EQ(s.ids.front(), tok.bos_id());
  EXPECT_EQ(s.ids.back(), tok.eos_id());
  EXPECT_EQ(s.ids[s.prompt_len], tok.token_to_id("<think>"));
  EXPECT_EQ(tok.decode(s.ids, true), t.prompt(ex()) + t.target(ex()));
}

}  // namespace
}  // namespace reasonrl::datasets
