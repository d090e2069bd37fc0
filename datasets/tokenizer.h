// tokenizer.h: byte-level BPE tokenizer that loads and saves HF tokenizer.json (vocab, merges, added/special tokens,
// pre-tokenizer split patterns, byte-level decoding). Encodes exactly as HF tokenizers does for such files.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "datasets/pretokenizer.h"
#include "rl/util/config.h"

namespace reasonrl::datasets {

// An entry of "added_tokens": matched in the raw text before pre-tokenisation, never split.
struct AddedToken {
  int id = -1;
  std::string content;
  bool single_word = false, lstrip = false, rstrip = false, normalized = false, special = true;
};

// The special tokens our own tokenizers carry (ids 0..6 in that order when trained by BpeTrainer).
inline constexpr const char* kBos = "<|begin_of_sentence|>";
inline constexpr const char* kEos = "<|end_of_sentence|>";
inline constexpr const char* kPad = "<|pad|>";
inline constexpr const char* kThinkOpen = "<think>";
inline constexpr const char* kThinkClose = "</think>";
inline constexpr const char* kAnswerOpen = "<answer>";
inline constexpr const char* kAnswerClose = "</answer>";

// Hash for heterogeneous (string_view) lookup in string-keyed maps.
struct StringViewHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

// Open-addressing map from a merge pair (left << 32 | right) to (rank << 32 | merged id).
class MergeTable {
 public:
  void build(const std::vector<std::pair<uint64_t, uint64_t>>& entries);
  // UINT64_MAX if the pair has no merge.
  uint64_t find(uint64_t key) const {
    if (mask_ == 0) return UINT64_MAX;
    for (size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
      if (keys_[i] == key) return vals_[i];
      if (keys_[i] == kEmpty) return UINT64_MAX;
    }
  }

 private:
  static constexpr uint64_t kEmpty = UINT64_MAX;
  static size_t hash(uint64_t k) { return size_t((k * 0x9E3779B97F4A7C15ull) >> 20); }
  std::vector<uint64_t> keys_, vals_;
  size_t mask_ = 0;
};

class Tokenizer {
 public:
  Tokenizer() = default;
  // Load a tokenizer.json (version "1.0", model type BPE with a ByteLevel pre-tokenizer). Throws IoError / FormatError.
  static Tokenizer load(const std::string& path);
  // Parsed with nlohmann::json (std::map objects): ordered_json is quadratic on a 128k-entry vocab.
  static Tokenizer from_json(const nlohmann::json& j, const std::string& source = "tokenizer.json");
  // Build from parts (used by the trainer). `merges` are pairs of token strings in rank order.
  static Tokenizer from_parts(std::vector<std::string> id_to_token, const std::vector<std::pair<std::string, std::string>>& merges,
                              std::vector<AddedToken> added, PreTokenizer pre);

  // The tokenizer.json text (vocab in id order; merges as "a b" strings unless a token contains a space).
  std::string to_json_text() const;
  // Write tokenizer.json (atomically). HF tokenizers can load the file.
  void save(const std::string& path) const;

  // Token ids of `text`. Added tokens in the text map to their ids; no BOS/EOS is added.
  std::vector<int> encode(std::string_view text) const;
  void encode_append(std::string_view text, std::vector<int>& out) const;
  // Encode many texts (OpenMP over texts when n_threads > 1).
  std::vector<std::vector<int>> encode_batch(const std::vector<std::string>& texts, int n_threads = 1) const;
  // Bytes of the ids: the exact inverse of encode when lossless(). skip_special drops added tokens marked special.
  std::string decode(const std::vector<int>& ids, bool skip_special = false) const;
  // True if decode(encode(t)) == t for every t: the pre-tokenizer is lossless and no added token strips the
  // whitespace around it (lstrip / rstrip). Our trained tokenizers are; a loaded tokenizer.json need not be (HF's
  // ByteLevel add_prefix_space, on by default, puts a space before every word that has none).
  bool lossless() const;
  // The text of one token (its raw bytes; added tokens give their content).
  std::string token_bytes(int id) const;

  // Number of ids (max id + 1 over vocab and added tokens).
  int vocab_size() const { return int(id_to_token_.size()); }
  // The id of a vocab or added token string (token strings in byte-mapped form, e.g. "Ġthe"), or -1.
  int token_to_id(const std::string& token) const;
  const std::string& id_to_token(int id) const;
  const std::vector<AddedToken>& added_tokens() const { return added_; }
  bool is_special(int id) const { return id >= 0 && id < int(special_flag_.size()) && special_flag_[id]; }
  const PreTokenizer& pre_tokenizer() const { return pre_; }
  size_t n_merges() const { return merges_.size(); }

  // Ids of our special tokens, or -1 if the tokenizer has none by that name (DeepSeek-V3's own names are also tried).
  int bos_id() const;
  int eos_id() const;
  int pad_id() const;

 private:
  void build_indexes();
  void bpe_word(std::string_view word, std::vector<int>& out) const;
  void encode_plain(std::string_view text, std::vector<int>& out) const;
  // Leftmost-longest added-token match in text starting at or after `from`; returns false if none.
  bool find_added(std::string_view text, size_t from, bool normalized_pass, size_t& b, size_t& e, int& id) const;

  std::vector<std::string> id_to_token_;         // byte-mapped token strings (added tokens: their content)
  std::unordered_map<std::string, int> vocab_;   // model vocab: byte-mapped string -> id
  std::vector<std::pair<int, int>> merges_;      // rank -> (left id, right id)
  MergeTable merge_index_;                       // (left << 32 | right) -> (rank << 32 | merged id)
  uint64_t uid_ = 0;                             // identifies the content, for the per-thread word cache
  std::vector<AddedToken> added_;
  std::unordered_map<std::string, int, StringViewHash, std::equal_to<>> added_index_;  // content -> index into added_
  std::vector<bool> special_flag_, added_flag_, in_vocab_;
  bool added_first_byte_[2][256] = {};           // [normalized pass][first byte]
  size_t added_max_len_ = 0;
  // Byte trie over added-token contents: edge (node << 8 | byte) -> child; node_added_[node] = index into added_ or -1.
  std::unordered_map<uint64_t, int> trie_edges_;
  std::vector<int> node_added_;
  std::vector<int> byte_id_;                      // raw byte -> id of its single-character token
  PreTokenizer pre_;
  bool ignore_merges_ = false;
  json normalizer_, post_processor_, decoder_, truncation_, padding_;  // kept verbatim for save()
};

}  // namespace reasonrl::datasets
