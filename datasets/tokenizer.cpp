// tokenizer.cpp: tokenizer.json load/save, added-token matching, byte-level BPE merging and decoding.
#include "datasets/tokenizer.h"

#include <algorithm>
#include <atomic>
#include <climits>

#include "datasets/byte_level.h"
#include "rl/util/error.h"

namespace reasonrl::datasets {
namespace {

json to_ordered(const nlohmann::json& j) { return json::parse(j.dump()); }

uint64_t pair_key(int a, int b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_word_char(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (uint8_t(c) & 0x80); }

}  // namespace

Tokenizer Tokenizer::load(const std::string& path) {
  const std::string text = read_file(path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    throw FormatError(path + ": not valid JSON: " + e.what());
  }
  try {
    return from_json(j, path);
  } catch (const nlohmann::json::exception& e) {  // a missing key (at) or a value of the wrong type (get)
    throw FormatError(path + ": not a tokenizer.json this build reads: " + e.what());
  }
}

Tokenizer Tokenizer::from_json(const nlohmann::json& j, const std::string& src) {
  auto fail = [&](const std::string& m) -> FormatError { return FormatError(src + ": " + m); };
  if (!j.is_object()) throw fail("not a JSON object");
  if (!j.contains("version") || j["version"] != "1.0")
    throw fail("'version' must be \"1.0\" (got " + (j.contains("version") ? j["version"].dump() : std::string("none")) + ")");
  Tokenizer t;
  t.truncation_ = to_ordered(j.value("truncation", nlohmann::json()));
  t.padding_ = to_ordered(j.value("padding", nlohmann::json()));
  const auto norm = j.value("normalizer", nlohmann::json());
  if (!norm.is_null() && !(norm.value("type", "") == "Sequence" && norm.value("normalizers", nlohmann::json::array()).empty()))
    throw fail("normalizer " + norm.dump().substr(0, 80) + " is not supported (only none or an empty Sequence)");
  t.normalizer_ = to_ordered(norm);
  t.post_processor_ = to_ordered(j.value("post_processor", nlohmann::json()));
  t.decoder_ = to_ordered(j.value("decoder", nlohmann::json()));
  if (!t.decoder_.is_null() && t.decoder_.value("type", "") != "ByteLevel")
    throw fail("decoder type '" + t.decoder_.value("type", "") + "' is not supported (only ByteLevel)");
  t.pre_ = PreTokenizer::from_json(to_ordered(j.value("pre_tokenizer", nlohmann::json())));
  if (!t.pre_.byte_level()) throw fail("pre_tokenizer must end in ByteLevel (only byte-level BPE is supported)");

  if (!j.contains("model") || !j["model"].is_object()) throw fail("missing 'model'");
  const auto& m = j["model"];
  if (m.value("type", "BPE") != "BPE") throw fail("model type '" + m.value("type", "") + "' is not supported (only BPE)");
  for (const char* k : {"dropout", "continuing_subword_prefix", "end_of_word_suffix"})
    if (m.contains(k) && !m[k].is_null()) throw fail(std::string("model.") + k + " is not supported (must be null)");
  t.ignore_merges_ = m.value("ignore_merges", false);
  if (!m.contains("vocab") || !m["vocab"].is_object()) throw fail("model.vocab must be an object");
  // A token id is an integer in [0, kMaxTokenId]. get<int>() would wrap a larger one into a negative index (found by
  // fuzz_tokenizer); 2^24 ids are 64 times the largest vocabularies in use, and bound the id table to 16.8M entries.
  constexpr int64_t kMaxTokenId = (int64_t{1} << 24) - 1;
  auto token_id = [&](const nlohmann::json& v, const std::string& where) -> int {
    if (!json_int_in(v, 0, kMaxTokenId))
      throw fail(where + " = " + v.dump() + " is not a token id (an integer in [0, " + std::to_string(kMaxTokenId) + "])");
    return int(v.get<int64_t>());
  };
  int max_id = -1;
  for (auto it = m["vocab"].begin(); it != m["vocab"].end(); ++it)
    max_id = std::max(max_id, token_id(it.value(), "model.vocab['" + it.key() + "']"));
  std::vector<AddedToken> added;
  for (const auto& a : j.value("added_tokens", nlohmann::json::array())) {
    AddedToken at;
    at.content = a.at("content").get<std::string>();
    at.id = token_id(a.at("id"), "added token '" + at.content + "': id");
    at.single_word = a.value("single_word", false);
    at.lstrip = a.value("lstrip", false);
    at.rstrip = a.value("rstrip", false);
    at.normalized = a.value("normalized", false);
    at.special = a.value("special", false);
    if (at.content.empty()) throw fail("added token " + std::to_string(at.id) + " has empty content");
    max_id = std::max(max_id, at.id);
    added.push_back(std::move(at));
  }
  t.id_to_token_.assign(max_id + 1, std::string());
  t.in_vocab_.assign(max_id + 1, false);
  t.vocab_.reserve(m["vocab"].size());
  for (auto it = m["vocab"].begin(); it != m["vocab"].end(); ++it) {
    const int id = it.value().get<int>();
    // Two tokens with one id: encode would give both that id and decode only one of them (found by fuzz_tokenizer).
    if (t.in_vocab_[id])
      throw fail("model.vocab gives id " + std::to_string(id) + " to both '" + t.id_to_token_[id] + "' and '" +
                 it.key() + "'");
    t.id_to_token_[id] = it.key();
    t.in_vocab_[id] = true;
    t.vocab_[it.key()] = id;
  }
  for (const auto& a : added)
    if (!t.in_vocab_[a.id]) t.id_to_token_[a.id] = a.content;
  t.added_ = std::move(added);

  const auto& merges = m.contains("merges") ? m["merges"] : nlohmann::json::array();
  t.merges_.reserve(merges.size());
  size_t rank = 0;
  for (const auto& mg : merges) {
    std::string a, b;
    if (mg.is_string()) {
      const std::string s = mg.get<std::string>();
      if (s.rfind("#version", 0) == 0) continue;
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) throw fail("merge " + std::to_string(rank) + " '" + s + "' is not 'a b'");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (mg.is_array() && mg.size() == 2 && mg[0].is_string() && mg[1].is_string()) {
      a = mg[0].get<std::string>();
      b = mg[1].get<std::string>();
    } else {
      throw fail("merge " + std::to_string(rank) + " is neither \"a b\" nor [\"a\", \"b\"]");
    }
    auto ia = t.vocab_.find(a), ib = t.vocab_.find(b), iab = t.vocab_.find(a + b);
    if (ia == t.vocab_.end() || ib == t.vocab_.end() || iab == t.vocab_.end())
      throw fail("merge " + std::to_string(rank) + " ('" + a + "', '" + b + "') uses a token missing from the vocab");
    t.merges_.emplace_back(ia->second, ib->second);
    ++rank;
  }
  t.build_indexes();
  return t;
}

Tokenizer Tokenizer::from_parts(std::vector<std::string> id_to_token, const std::vector<std::pair<std::string, std::string>>& merges,
                                std::vector<AddedToken> added, PreTokenizer pre) {
  Tokenizer t;
  t.normalizer_ = json();
  t.post_processor_ = json();
  t.decoder_ = json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}};
  t.pre_ = std::move(pre);
  t.id_to_token_ = std::move(id_to_token);
  t.in_vocab_.assign(t.id_to_token_.size(), true);
  for (size_t i = 0; i < t.id_to_token_.size(); ++i) {
    if (!t.vocab_.emplace(t.id_to_token_[i], int(i)).second) throw FormatError("tokenizer: duplicate token '" + t.id_to_token_[i] + "'");
  }
  for (const auto& a : added)
    if (a.id < 0 || a.id >= int(t.id_to_token_.size()) || t.id_to_token_[a.id] != a.content)
      throw FormatError("tokenizer: added token '" + a.content + "' does not match the vocab");
  t.added_ = std::move(added);
  for (const auto& [a, b] : merges) t.merges_.emplace_back(t.vocab_.at(a), t.vocab_.at(b));
  t.build_indexes();
  return t;
}

void MergeTable::build(const std::vector<std::pair<uint64_t, uint64_t>>& entries) {
  size_t cap = 16;
  while (cap < entries.size() * 2 + 16) cap *= 2;
  keys_.assign(cap, kEmpty);
  vals_.assign(cap, 0);
  mask_ = cap - 1;
  for (const auto& [k, v] : entries) {
    size_t i = hash(k) & mask_;
    while (keys_[i] != kEmpty && keys_[i] != k) i = (i + 1) & mask_;
    if (keys_[i] == k) continue;  // first (lowest) rank wins
    keys_[i] = k;
    vals_[i] = v;
  }
}

void Tokenizer::build_indexes() {
  static std::atomic<uint64_t> next_uid{0};
  uid_ = ++next_uid;
  std::vector<std::pair<uint64_t, uint64_t>> entries;
  entries.reserve(merges_.size());
  for (size_t r = 0; r < merges_.size(); ++r) {
    const auto [a, b] = merges_[r];
    const int ab = vocab_.at(id_to_token_[a] + id_to_token_[b]);
    entries.emplace_back(pair_key(a, b), (uint64_t(r) << 32) | uint32_t(ab));
  }
  merge_index_.build(entries);
  special_flag_.assign(id_to_token_.size(), false);
  added_flag_.assign(id_to_token_.size(), false);
  added_index_.clear();
  added_max_len_ = 0;
  for (auto& row : added_first_byte_)
    for (bool& f : row) f = false;
  trie_edges_.clear();
  node_added_.assign(1, -1);
  for (size_t i = 0; i < added_.size(); ++i) {
    const auto& a = added_[i];
    int node = 0;
    for (unsigned char c : a.content) {
      auto [it, fresh] = trie_edges_.emplace((uint64_t(node) << 8) | c, int(node_added_.size()));
      if (fresh) node_added_.push_back(-1);
      node = it->second;
    }
    node_added_[size_t(node)] = int(i);
    added_index_[a.content] = int(i);
    special_flag_[a.id] = a.special;
    added_flag_[a.id] = true;
    added_first_byte_[a.normalized ? 1 : 0][uint8_t(a.content[0])] = true;
    added_max_len_ = std::max(added_max_len_, a.content.size());
  }
  byte_id_.assign(256, -1);
  for (int b = 0; b < 256; ++b) {
    auto it = vocab_.find(byte_to_unicode(uint8_t(b)));
    if (it != vocab_.end()) byte_id_[b] = it->second;
  }
}

int Tokenizer::token_to_id(const std::string& token) const {
  auto it = added_index_.find(token);
  if (it != added_index_.end()) return added_[it->second].id;
  auto v = vocab_.find(token);
  return v == vocab_.end() ? -1 : v->second;
}

const std::string& Tokenizer::id_to_token(int id) const {
  if (id < 0 || id >= int(id_to_token_.size())) throw FormatError("token id " + std::to_string(id) + " out of range [0, " + std::to_string(id_to_token_.size()) + ")");
  return id_to_token_[id];
}

int Tokenizer::bos_id() const {
  int id = token_to_id(kBos);
  return id >= 0 ? id : token_to_id("<｜begin▁of▁sentence｜>");
}
int Tokenizer::eos_id() const {
  int id = token_to_id(kEos);
  return id >= 0 ? id : token_to_id("<｜end▁of▁sentence｜>");
}
int Tokenizer::pad_id() const {
  int id = token_to_id(kPad);
  return id >= 0 ? id : token_to_id("<｜▁pad▁｜>");
}

bool Tokenizer::find_added(std::string_view text, size_t from, bool norm_pass, size_t& b, size_t& e, int& id) const {
  if (added_.empty()) return false;
  const auto& first = added_first_byte_[norm_pass ? 1 : 0];
  for (size_t i = from; i < text.size(); ++i) {
    if (!first[uint8_t(text[i])]) continue;
    // Walk the trie; try the matches found from the longest down (a longer one may fail single_word or the pass).
    thread_local std::vector<std::pair<size_t, int>> found;  // (length, added index)
    found.clear();
    int node = 0;
    for (size_t j = i; j < text.size(); ++j) {
      auto it = trie_edges_.find((uint64_t(node) << 8) | uint8_t(text[j]));
      if (it == trie_edges_.end()) break;
      node = it->second;
      if (node_added_[size_t(node)] >= 0) found.emplace_back(j + 1 - i, node_added_[size_t(node)]);
    }
    for (auto f = found.rbegin(); f != found.rend(); ++f) {
      const size_t len = f->first;
      const AddedToken* tok = &added_[size_t(f->second)];
      if (tok->normalized != norm_pass) continue;
      if (tok->single_word && ((i > 0 && is_word_char(text[i - 1])) || (i + len < text.size() && is_word_char(text[i + len])))) continue;
      b = i;
      e = i + len;
      if (tok->lstrip)
        while (b > from && is_space(text[b - 1])) --b;
      if (tok->rstrip)
        while (e < text.size() && is_space(text[e])) ++e;
      id = tok->id;
      return true;
    }
  }
  return false;
}

void Tokenizer::bpe_word(std::string_view word, std::vector<int>& out) const {
  if (ignore_merges_) {
    auto it = vocab_.find(bytes_to_unicode_str(word));
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  // Per-thread cache of whole words (like HF's BPE cache), reset when another tokenizer is used or it grows large.
  struct Cache {
    uint64_t owner = 0;
    std::unordered_map<std::string, std::vector<int>, StringViewHash, std::equal_to<>> words;
  };
  thread_local Cache cache;
  if (cache.owner != uid_ || cache.words.size() > 200000) {
    cache.words.clear();
    cache.owner = uid_;
  }
  const bool cacheable = word.size() <= 64;
  if (cacheable) {
    auto hit = cache.words.find(word);
    if (hit != cache.words.end()) {
      out.insert(out.end(), hit->second.begin(), hit->second.end());
      return;
    }
  }
  thread_local std::vector<int> ids;
  thread_local std::vector<uint64_t> ranks;  // rank << 32 | merged id, or UINT64_MAX
  ids.clear();
  for (unsigned char c : word)
    if (byte_id_[c] >= 0) ids.push_back(byte_id_[c]);  // no unk token: HF drops unknown symbols
  if (ids.size() <= 1) {
    out.insert(out.end(), ids.begin(), ids.end());
    return;
  }
  auto lookup = [&](int a, int b) -> uint64_t { return merge_index_.find(pair_key(a, b)); };
  ranks.resize(ids.size() - 1);
  for (size_t i = 0; i + 1 < ids.size(); ++i) ranks[i] = lookup(ids[i], ids[i + 1]);
  while (!ranks.empty()) {
    size_t best = 0;
    for (size_t i = 1; i < ranks.size(); ++i)
      if ((ranks[i] >> 32) < (ranks[best] >> 32)) best = i;  // leftmost lowest rank
    if (ranks[best] == UINT64_MAX) break;
    ids[best] = int(uint32_t(ranks[best]));
    ids.erase(ids.begin() + best + 1);
    ranks.erase(ranks.begin() + best);
    if (best > 0) ranks[best - 1] = lookup(ids[best - 1], ids[best]);
    if (best < ranks.size()) ranks[best] = lookup(ids[best], ids[best + 1]);
  }
  out.insert(out.end(), ids.begin(), ids.end());
  if (cacheable) cache.words.emplace(std::string(word), ids);
}

void Tokenizer::encode_plain(std::string_view text, std::vector<int>& out) const {
  if (text.empty()) return;
  if (byte_id_.empty()) throw FormatError("tokenizer: encode on an empty tokenizer (load or train one first)");
  thread_local std::vector<std::string_view> words;
  thread_local std::deque<std::string> arena;
  if (!arena.empty()) arena.clear();
  pre_.split(text, words, arena);
  for (auto w : words) bpe_word(w, out);
}

void Tokenizer::encode_append(std::string_view text, std::vector<int>& out) const {
  auto second_pass = [&](std::string_view seg) {
    size_t pos = 0, b, e;
    int id;
    while (find_added(seg, pos, true, b, e, id)) {
      encode_plain(seg.substr(pos, b - pos), out);
      out.push_back(id);
      pos = e;
    }
    encode_plain(seg.substr(pos), out);
  };
  size_t pos = 0, b, e;
  int id;
  while (find_added(text, pos, false, b, e, id)) {
    second_pass(text.substr(pos, b - pos));
    out.push_back(id);
    pos = e;
  }
  second_pass(text.substr(pos));
}

std::vector<int> Tokenizer::encode(std::string_view text) const {
  std::vector<int> out;
  encode_append(text, out);
  return out;
}

std::vector<std::vector<int>> Tokenizer::encode_batch(const std::vector<std::string>& texts, int n_threads) const {
  std::vector<std::vector<int>> out(texts.size());
#pragma omp parallel for schedule(dynamic, 16) num_threads(n_threads > 0 ? n_threads : 1) if (n_threads > 1)
  for (long i = 0; i < long(texts.size()); ++i) encode_append(texts[i], out[i]);
  return out;
}

std::string Tokenizer::token_bytes(int id) const {
  const std::string& t = id_to_token(id);
  if (added_flag_[id]) return t;
  return unicode_to_bytes_str(t);
}

bool Tokenizer::lossless() const {
  if (!pre_.lossless()) return false;
  for (const AddedToken& a : added_)
    if (a.lstrip || a.rstrip) return false;
  return true;
}

std::string Tokenizer::decode(const std::vector<int>& ids, bool skip_special) const {
  std::string out;
  for (int id : ids) {
    const std::string& t = id_to_token(id);
    if (added_flag_[id]) {
      if (!(skip_special && special_flag_[id])) out += t;
    } else if (!append_unicode_to_bytes(t, out)) {
      throw FormatError("decode: token " + std::to_string(id) + " '" + t + "' is not byte-level");
    }
  }
  return out;
}

std::string Tokenizer::to_json_text() const {
  auto q = [](const std::string& s) { return nlohmann::json(s).dump(); };
  bool space_in_token = false;
  for (const auto& [a, b] : merges_) space_in_token |= id_to_token_[a].find(' ') != std::string::npos || id_to_token_[b].find(' ') != std::string::npos;
  std::string s = "{\n  \"version\": \"1.0\",\n  \"truncation\": " + truncation_.dump() + ",\n  \"padding\": " + padding_.dump() + ",\n  \"added_tokens\": [";
  for (size_t i = 0; i < added_.size(); ++i) {
    const auto& a = added_[i];
    json o{{"id", a.id}, {"content", a.content}, {"single_word", a.single_word}, {"lstrip", a.lstrip},
           {"rstrip", a.rstrip}, {"normalized", a.normalized}, {"special", a.special}};
    s += std::string(i ? "," : "") + "\n    " + o.dump();
  }
  s += "\n  ],\n  \"normalizer\": " + normalizer_.dump() + ",\n  \"pre_tokenizer\": " + pre_.to_json().dump() +
       ",\n  \"post_processor\": " + post_processor_.dump() + ",\n  \"decoder\": " + decoder_.dump() +
       ",\n  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n    \"continuing_subword_prefix\": null,\n"
       "    \"end_of_word_suffix\": null,\n    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"ignore_merges\": " +
       std::string(ignore_merges_ ? "true" : "false") + ",\n    \"vocab\": {";
  bool first = true;
  for (size_t id = 0; id < id_to_token_.size(); ++id) {
    if (!in_vocab_[id]) continue;
    s += std::string(first ? "" : ",") + "\n      " + q(id_to_token_[id]) + ": " + std::to_string(id);
    first = false;
  }
  s += "\n    },\n    \"merges\": [";
  for (size_t r = 0; r < merges_.size(); ++r) {
    const auto& a = id_to_token_[merges_[r].first];
    const auto& b = id_to_token_[merges_[r].second];
    s += std::string(r ? "," : "") + "\n      " + (space_in_token ? "[" + q(a) + ", " + q(b) + "]" : q(a + " " + b));
  }
  s += "\n    ]\n  }\n}\n";
  return s;
}

void Tokenizer::save(const std::string& path) const { write_file_atomic(path, to_json_text()); }

}  // namespace reasonrl::datasets
