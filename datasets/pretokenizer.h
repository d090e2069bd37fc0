// pretokenizer.h: the HF pre-tokenizer pipeline (Sequence of Split / Digits / ByteLevel) that cuts text into words for BPE.
#pragma once
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "datasets/regex.h"
#include "rl/util/config.h"

namespace reasonrl::datasets {

// GPT-2's split pattern, used by ByteLevel when use_regex is true.
inline constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// DeepSeek-V3's three Split regexes (numbers in groups of up to 3; CJK runs; words/punctuation/space).
inline constexpr const char* kDeepSeekNumbers = R"(\p{N}{1,3})";
inline constexpr const char* kDeepSeekCjk = "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+";
inline constexpr const char* kDeepSeekWords =
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|"
    "\\s*[\r\n]+|\\s+(?!\\S)|\\s+";

class PreTokenizer {
 public:
  // From the "pre_tokenizer" object of a tokenizer.json. Throws FormatError naming the unsupported type.
  static PreTokenizer from_json(const json& j);
  // The pre-tokenizer of our trained tokenizers: DeepSeek-V3's, except that every digit is its own word (\p{N}).
  static PreTokenizer digits_split();
  // DeepSeek-V3's own pipeline.
  static PreTokenizer deepseek_v3();

  json to_json() const { return json_; }
  // True if the pipeline ends in a ByteLevel step (required by the byte-level BPE model).
  bool byte_level() const { return byte_level_; }
  // True if the words concatenate back to the text: no ByteLevel step adds a prefix space (HF's default is to add one)
  // and no Split step removes its matches.
  bool lossless() const;

  // Cut `text` into words. Views point into `text` or into `arena` (pieces that gained a prefix space).
  void split(std::string_view text, std::vector<std::string_view>& out, std::deque<std::string>& arena) const;
  std::vector<std::string> split(std::string_view text) const;

 private:
  enum class Kind { Regex, Literal, ByteLevel };
  enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };
  struct Step {
    Kind kind;
    std::shared_ptr<Regex> regex;  // Regex, or ByteLevel with use_regex
    std::string literal;
    Behavior behavior = Behavior::Isolated;
    bool invert = false;
    bool add_prefix_space = false;
  };
  void add_json_step(const json& j);
  void apply(const Step& s, std::string_view piece, std::vector<std::string_view>& out, std::deque<std::string>& arena) const;

  std::vector<Step> steps_;
  json json_;
  bool byte_level_ = false;
};

}  // namespace reasonrl::datasets
