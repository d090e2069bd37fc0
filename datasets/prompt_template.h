// prompt_template.h: renders the model's prompt text and the SFT target text (R1 template, a compact plain one, or custom),
// and tokenizes them into prompt ids / SFT sequences.
#pragma once
#include <string>
#include <vector>

#include "datasets/example.h"
#include "datasets/tokenizer.h"
#include "rl/util/config.h"

namespace reasonrl::datasets {

enum class TemplateKind { Plain, R1, Custom };
REASONRL_ENUM_NAMES(TemplateKind, {TemplateKind::Plain, "plain"}, {TemplateKind::R1, "r1"}, {TemplateKind::Custom, "custom"})

// The R1-Zero instruction (DeepSeek-R1 paper, Table 1).
inline constexpr const char* kR1Instruction =
    "A conversation between User and Assistant. The user asks a question, and the Assistant solves it. The assistant first "
    "thinks about the reasoning process in the mind and then provides the user with the answer. The reasoning process and "
    "answer are enclosed within <think> </think> and <answer> </answer> tags, respectively, i.e., <think> reasoning process "
    "here </think> <answer> answer here </answer>.";

struct TemplateConfig {
  TemplateKind kind = TemplateKind::Plain;
  // Used when kind = custom. Placeholders: {prompt}, {cot}, {answer}.
  std::string prompt_format = "{prompt}\n";
  std::string target_format = "<think>{cot}</think><answer>{answer}</answer>";
  bool add_bos = true;  // prepend the BOS id to the prompt ids
  bool add_eos = true;  // append the EOS id to SFT targets
  template <class V>
  void visit(V& v) {
    v("kind", kind, "prompt template: plain (compact, for tiny models), r1 (R1-Zero instruction) or custom");
    v("prompt_format", prompt_format, "custom: prompt text with {prompt}");
    v("target_format", target_format, "custom: SFT target text with {cot} and {answer}");
    v("add_bos", add_bos, "prepend BOS to prompt ids");
    v("add_eos", add_eos, "append EOS to SFT targets");
  }
  void validate() const;
};

// Token ids of one SFT example: ids = prompt ids then target ids; loss on positions >= prompt_len.
struct SftSequence {
  std::vector<int> ids;
  int prompt_len = 0;
};

class PromptTemplate {
 public:
  explicit PromptTemplate(TemplateConfig cfg = {});
  // plain: "{prompt}\n"; r1: instruction + " User: {prompt}\nAssistant: ".
  std::string prompt(const std::string& question) const;
  std::string prompt(const Example& e) const { return prompt(e.prompt); }
  // plain: "<think>{cot}</think><answer>{answer}</answer>";
  // r1: "<think>\n{cot}\n</think>\n<answer>\n{answer}\n</answer>" (the layout open-r1's format reward expects).
  std::string target(const std::string& cot, const std::string& answer) const;
  std::string target(const Example& e) const { return target(e.cot, e.final_text()); }

  // Prompt ids (BOS first if add_bos) for RL rollouts.
  std::vector<int> encode_prompt(const Tokenizer& tok, const Example& e) const;
  // Prompt and target tokenized separately (as in RL, where the completion follows the prompt ids), EOS appended.
  SftSequence encode_sft(const Tokenizer& tok, const Example& e) const;
  const TemplateConfig& config() const { return cfg_; }

 private:
  TemplateConfig cfg_;
};

}  // namespace reasonrl::datasets
