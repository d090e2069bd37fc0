// hf_json.h: the JSON side files of a Hugging Face model directory as the importers / exporters read them (index,
// config.json, tokenizer.json): parsed with an error that names the file, and the roles of tokenizer.json's special
// tokens (ours and DeepSeek-V3's spellings, as datasets::Tokenizer::bos_id() / eos_id() / pad_id() accept them).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "rl/util/error.h"

namespace reasonrl::model {

// The JSON of a file (J: nlohmann::json, or ordered_json to keep the key order). IoError when it cannot be read,
// FormatError "<path>: not valid JSON: ..." when it is not JSON.
template <class J = nlohmann::json>
J read_json_file(const std::string& path) {
  const std::string text = read_file(path);
  try {
    return J::parse(text);
  } catch (const typename J::exception& e) {
    throw FormatError(path + ": not valid JSON: " + e.what());
  }
}

enum class SpecialToken { None, Bos, Eos, Pad };
// The role of an added token by its content: <|begin_of_sentence|> / <｜begin▁of▁sentence｜> is Bos, and so on.
inline SpecialToken special_token_role(const std::string& content) {
  if (content == "<|begin_of_sentence|>" || content == "<｜begin▁of▁sentence｜>") return SpecialToken::Bos;
  if (content == "<|end_of_sentence|>" || content == "<｜end▁of▁sentence｜>") return SpecialToken::Eos;
  if (content == "<|pad|>" || content == "<｜▁pad▁｜>") return SpecialToken::Pad;
  return SpecialToken::None;
}

}  // namespace reasonrl::model
