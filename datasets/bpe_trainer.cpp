// bpe_trainer.cpp: pair counting and greedy merging over pre-tokenized word counts.
#include "datasets/bpe_trainer.h"

#include <algorithm>
#include <map>
#include <unordered_map>

#include "datasets/byte_level.h"
#include "rl/util/error.h"

namespace reasonrl::datasets {

void BpeTrainerConfig::validate() const {
  if (vocab_size < int(special_tokens.size()) + 256)
    throw ConfigError("tokenizer.vocab_size " + std::to_string(vocab_size) + " must be >= " + std::to_string(special_tokens.size() + 256) +
                      " (special tokens + 256 bytes)");
  if (min_frequency < 1) throw ConfigError("tokenizer.min_frequency must be >= 1");
  for (const auto& h : hidden_tokens)
    if (std::find(special_tokens.begin(), special_tokens.end(), h) == special_tokens.end())
      throw ConfigError("tokenizer.hidden_tokens: '" + h + "' is not in special_tokens");
}

Tokenizer train_bpe(const std::vector<std::string>& texts, const BpeTrainerConfig& cfg, const PreTokenizer* pre_in) {
  cfg.validate();
  const PreTokenizer pre = pre_in ? *pre_in : PreTokenizer::digits_split();
  std::vector<std::string> id_to_token;
  std::vector<AddedToken> added;
  for (const auto& s : cfg.special_tokens) {
    if (s.empty()) throw ConfigError("tokenizer.special_tokens: empty token");
    AddedToken a;
    a.id = int(id_to_token.size());
    a.content = s;
    a.special = std::find(cfg.hidden_tokens.begin(), cfg.hidden_tokens.end(), s) != cfg.hidden_tokens.end();
    added.push_back(a);
    id_to_token.push_back(s);
  }
  const int byte0 = int(id_to_token.size());
  for (int b = 0; b < 256; ++b) id_to_token.push_back(byte_to_unicode(uint8_t(b)));

  // Word counts (raw bytes of each pre-token).
  std::unordered_map<std::string, int64_t> counts;
  std::vector<std::string_view> words;
  std::deque<std::string> arena;
  for (const auto& text : texts) {
    size_t pos = 0;
    auto add_plain = [&](std::string_view seg) {
      arena.clear();
      pre.split(seg, words, arena);
      for (auto w : words) ++counts[std::string(w)];
    };
    // cut at added tokens (exact content match)
    while (pos < text.size()) {
      size_t best = std::string::npos, best_len = 0;
      for (const auto& a : added) {
        size_t f = text.find(a.content, pos);
        if (f != std::string::npos && (f < best || (f == best && a.content.size() > best_len))) {
          best = f;
          best_len = a.content.size();
        }
      }
      if (best == std::string::npos) {
        add_plain(std::string_view(text).substr(pos));
        break;
      }
      add_plain(std::string_view(text).substr(pos, best - pos));
      pos = best + best_len;
    }
  }
  // Sorted unique words for determinism.
  std::vector<std::pair<std::string, int64_t>> sorted(counts.begin(), counts.end());
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::vector<int>> wsyms;
  std::vector<int64_t> wcount;
  for (const auto& [w, c] : sorted) {
    std::vector<int> s;
    for (unsigned char ch : w) s.push_back(byte0 + ch);
    wsyms.push_back(std::move(s));
    wcount.push_back(c);
  }
  std::unordered_map<std::string, int> index;
  for (size_t i = 0; i < id_to_token.size(); ++i) index.emplace(id_to_token[i], int(i));
  std::vector<std::pair<std::string, std::string>> merges;
  while (int(id_to_token.size()) < cfg.vocab_size) {
    std::unordered_map<uint64_t, int64_t> pc;
    for (size_t w = 0; w < wsyms.size(); ++w) {
      const auto& s = wsyms[w];
      for (size_t i = 0; i + 1 < s.size(); ++i) pc[(uint64_t(s[i]) << 32) | uint32_t(s[i + 1])] += wcount[w];
    }
    int64_t best_c = 0;
    int ba = -1, bb = -1;
    for (const auto& [k, c] : pc) {
      const int a = int(k >> 32), b = int(uint32_t(k));
      if (c > best_c || (c == best_c && ba >= 0 && std::tie(id_to_token[a], id_to_token[b]) < std::tie(id_to_token[ba], id_to_token[bb]))) {
        best_c = c;
        ba = a;
        bb = b;
      }
    }
    if (ba < 0 || best_c < cfg.min_frequency) break;
    const std::string merged = id_to_token[ba] + id_to_token[bb];
    int nid;
    auto it = index.find(merged);
    if (it != index.end()) {
      nid = it->second;
    } else {
      nid = int(id_to_token.size());
      id_to_token.push_back(merged);
      index.emplace(merged, nid);
    }
    merges.emplace_back(id_to_token[ba], id_to_token[bb]);
    for (auto& s : wsyms) {
      size_t o = 0;
      for (size_t i = 0; i < s.size(); ++i) {
        if (i + 1 < s.size() && s[i] == ba && s[i + 1] == bb) {
          s[o++] = nid;
          ++i;
        } else {
          s[o++] = s[i];
        }
      }
      s.resize(o);
    }
  }
  return Tokenizer::from_parts(std::move(id_to_token), merges, std::move(added), pre);
}

}  // namespace reasonrl::datasets
