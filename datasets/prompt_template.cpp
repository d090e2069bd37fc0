// prompt_template.cpp: placeholder substitution and tokenization of prompts and SFT targets.
#include "datasets/prompt_template.h"

#include "rl/util/error.h"

namespace reasonrl::datasets {
namespace {

std::string substitute(const std::string& fmt, const std::string& prompt, const std::string& cot, const std::string& answer) {
  std::string out;
  for (size_t i = 0; i < fmt.size();) {
    if (fmt.compare(i, 8, "{prompt}") == 0) {
      out += prompt;
      i += 8;
    } else if (fmt.compare(i, 5, "{cot}") == 0) {
      out += cot;
      i += 5;
    } else if (fmt.compare(i, 8, "{answer}") == 0) {
      out += answer;
      i += 8;
    } else {
      out += fmt[i++];
    }
  }
  return out;
}

}  // namespace

void TemplateConfig::validate() const {
  if (kind == TemplateKind::Custom) {
    if (prompt_format.find("{prompt}") == std::string::npos) throw ConfigError("template.prompt_format must contain {prompt}");
    if (target_format.find("{answer}") == std::string::npos) throw ConfigError("template.target_format must contain {answer}");
  }
}

PromptTemplate::PromptTemplate(TemplateConfig cfg) : cfg_(std::move(cfg)) { cfg_.validate(); }

std::string PromptTemplate::prompt(const std::string& q) const {
  switch (cfg_.kind) {
    case TemplateKind::Plain: return q + "\n";
    case TemplateKind::R1: return std::string(kR1Instruction) + " User: " + q + "\nAssistant: ";
    case TemplateKind::Custom: return substitute(cfg_.prompt_format, q, "", "");
  }
  return q;
}

std::string PromptTemplate::target(const std::string& cot, const std::string& answer) const {
  switch (cfg_.kind) {
    case TemplateKind::Plain: return "<think>" + cot + "</think><answer>" + answer + "</answer>";
    case TemplateKind::R1: return "<think>\n" + cot + "\n</think>\n<answer>\n" + answer + "\n</answer>";
    case TemplateKind::Custom: return substitute(cfg_.target_format, "", cot, answer);
  }
  return answer;
}

std::vector<int> PromptTemplate::encode_prompt(const Tokenizer& tok, const Example& e) const {
  std::vector<int> ids;
  if (cfg_.add_bos) {
    const int bos = tok.bos_id();
    if (bos < 0) throw ConfigError("template.add_bos is set but the tokenizer has no BOS token");
    ids.push_back(bos);
  }
  tok.encode_append(prompt(e), ids);
  return ids;
}

SftSequence PromptTemplate::encode_sft(const Tokenizer& tok, const Example& e) const {
  SftSequence s;
  s.ids = encode_prompt(tok, e);
  s.prompt_len = int(s.ids.size());
  tok.encode_append(target(e), s.ids);
  if (cfg_.add_eos) {
    const int eos = tok.eos_id();
    if (eos < 0) throw ConfigError("template.add_eos is set but the tokenizer has no EOS token");
    s.ids.push_back(eos);
  }
  return s;
}

}  // namespace reasonrl::datasets
