// pretokenizer.cpp: Split / Digits / ByteLevel pre-tokenizer steps, with HF's split behaviours.
#include "datasets/pretokenizer.h"

#include "rl/util/error.h"

namespace reasonrl::datasets {
namespace {

std::string get_str(const json& j, const char* key, const std::string& def = "") {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_string()) throw FormatError(std::string("tokenizer.json: pre_tokenizer key '") + key + "' must be a string");
  return it->get<std::string>();
}
bool get_bool(const json& j, const char* key, bool def) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return def;
  if (!it->is_boolean()) throw FormatError(std::string("tokenizer.json: pre_tokenizer key '") + key + "' must be a bool");
  return it->get<bool>();
}

}  // namespace

PreTokenizer PreTokenizer::from_json(const json& j) {
  PreTokenizer p;
  p.json_ = j;
  if (!j.is_null()) p.add_json_step(j);
  return p;
}

void PreTokenizer::add_json_step(const json& j) {
  if (!j.is_object()) throw FormatError("tokenizer.json: pre_tokenizer must be an object");
  const std::string type = get_str(j, "type");
  if (type == "Sequence") {
    auto it = j.find("pretokenizers");
    if (it == j.end() || !it->is_array()) throw FormatError("tokenizer.json: Sequence pre_tokenizer needs 'pretokenizers'");
    for (const auto& s : *it) add_json_step(s);
    return;
  }
  if (byte_level_) throw FormatError("tokenizer.json: a pre-tokenizer step after ByteLevel is not supported");
  Step s;
  if (type == "Split") {
    auto pat = j.find("pattern");
    if (pat == j.end() || !pat->is_object()) throw FormatError("tokenizer.json: Split needs a 'pattern' object");
    if (pat->contains("Regex")) {
      s.kind = Kind::Regex;
      s.regex = std::make_shared<Regex>(pat->at("Regex").get<std::string>());
    } else if (pat->contains("String")) {
      s.kind = Kind::Literal;
      s.literal = pat->at("String").get<std::string>();
      if (s.literal.empty()) throw FormatError("tokenizer.json: Split with an empty String pattern");
    } else {
      throw FormatError("tokenizer.json: Split pattern must be {\"Regex\": ...} or {\"String\": ...}");
    }
    const std::string b = get_str(j, "behavior", "Isolated");
    if (b == "Removed") s.behavior = Behavior::Removed;
    else if (b == "Isolated") s.behavior = Behavior::Isolated;
    else if (b == "MergedWithPrevious") s.behavior = Behavior::MergedWithPrevious;
    else if (b == "MergedWithNext") s.behavior = Behavior::MergedWithNext;
    else if (b == "Contiguous") s.behavior = Behavior::Contiguous;
    else throw FormatError("tokenizer.json: unknown Split behavior '" + b + "'; valid: Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous");
    s.invert = get_bool(j, "invert", false);
  } else if (type == "Digits") {
    s.kind = Kind::Regex;
    s.regex = std::make_shared<Regex>(get_bool(j, "individual_digits", false) ? "\\p{N}" : "\\p{N}+");
    s.behavior = Behavior::Isolated;
  } else if (type == "ByteLevel") {
    s.kind = Kind::ByteLevel;
    s.add_prefix_space = get_bool(j, "add_prefix_space", true);
    if (get_bool(j, "use_regex", true)) s.regex = std::make_shared<Regex>(kGpt2Pattern);
    byte_level_ = true;
  } else {
    throw FormatError("tokenizer.json: unsupported pre_tokenizer type '" + type + "'; supported: Sequence, Split, Digits, ByteLevel");
  }
  steps_.push_back(std::move(s));
}

bool PreTokenizer::lossless() const {
  for (const Step& s : steps_)
    if ((s.kind == Kind::ByteLevel && s.add_prefix_space) || (s.kind != Kind::ByteLevel && s.behavior == Behavior::Removed))
      return false;
  return true;
}

static json split_json(const std::string& re) {
  return json{{"type", "Split"}, {"pattern", {{"Regex", re}}}, {"behavior", "Isolated"}, {"invert", false}};
}
static json byte_level_json() {
  return json{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}};
}

PreTokenizer PreTokenizer::digits_split() {
  return from_json(json{{"type", "Sequence"},
                        {"pretokenizers", json::array({split_json("\\p{N}"), split_json(kDeepSeekCjk), split_json(kDeepSeekWords), byte_level_json()})}});
}

PreTokenizer PreTokenizer::deepseek_v3() {
  return from_json(json{{"type", "Sequence"},
                        {"pretokenizers", json::array({split_json(kDeepSeekNumbers), split_json(kDeepSeekCjk), split_json(kDeepSeekWords), byte_level_json()})}});
}

void PreTokenizer::apply(const Step& s, std::string_view piece, std::vector<std::string_view>& out, std::deque<std::string>& arena) const {
  if (s.kind == Kind::ByteLevel) {
    if (s.add_prefix_space && !piece.empty() && piece.front() != ' ') {
      arena.push_back(" " + std::string(piece));
      piece = arena.back();
    }
    if (!s.regex) {
      out.push_back(piece);
      return;
    }
    std::vector<std::pair<size_t, size_t>> m;
    s.regex->find_all(piece, m);
    size_t prev = 0;
    for (auto [b, e] : m) {  // Isolated: keep the gaps too
      if (b > prev) out.push_back(piece.substr(prev, b - prev));
      out.push_back(piece.substr(b, e - b));
      prev = e;
    }
    if (prev < piece.size()) out.push_back(piece.substr(prev));
    return;
  }
  thread_local std::vector<std::pair<size_t, size_t>> m;
  m.clear();
  if (s.kind == Kind::Regex) {
    s.regex->find_all(piece, m);
  } else {
    for (size_t pos = piece.find(s.literal); pos != std::string_view::npos; pos = piece.find(s.literal, pos + s.literal.size()))
      m.emplace_back(pos, pos + s.literal.size());
  }
  // Alternating spans (is_match), like HF's NormalizedString::split.
  struct Span {
    size_t b, e;
    bool match;
  };
  thread_local std::vector<Span> spans;
  spans.clear();
  size_t prev = 0;
  for (auto [b, e] : m) {
    if (b > prev) spans.push_back({prev, b, false});
    spans.push_back({b, e, true});
    prev = e;
  }
  if (prev < piece.size()) spans.push_back({prev, piece.size(), false});
  if (s.invert)
    for (auto& sp : spans) sp.match = !sp.match;
  auto emit = [&](size_t b, size_t e) {
    if (e > b) out.push_back(piece.substr(b, e - b));
  };
  switch (s.behavior) {
    case Behavior::Isolated:
      for (const auto& sp : spans) emit(sp.b, sp.e);
      break;
    case Behavior::Removed:
      for (const auto& sp : spans)
        if (!sp.match) emit(sp.b, sp.e);
      break;
    case Behavior::MergedWithPrevious: {
      size_t start = 0;
      for (const auto& sp : spans)
        if (sp.match) {
          emit(start, sp.e);
          start = sp.e;
        }
      emit(start, piece.size());
      break;
    }
    case Behavior::MergedWithNext: {
      size_t start = 0;
      for (const auto& sp : spans)
        if (sp.match && sp.b > start) {
          emit(start, sp.b);
          start = sp.b;
        }
      emit(start, piece.size());
      break;
    }
    case Behavior::Contiguous: {
      size_t i = 0;
      while (i < spans.size()) {
        size_t j = i + 1;
        if (spans[i].match)
          while (j < spans.size() && spans[j].match) ++j;
        emit(spans[i].b, spans[j - 1].e);
        i = j;
      }
      break;
    }
  }
}

void PreTokenizer::split(std::string_view text, std::vector<std::string_view>& out, std::deque<std::string>& arena) const {
  out.clear();
  if (text.empty()) return;
  out.push_back(text);
  thread_local std::vector<std::string_view> next;
  for (const auto& s : steps_) {
    next.clear();
    for (auto p : out) apply(s, p, next, arena);
    out.swap(next);
  }
}

std::vector<std::string> PreTokenizer::split(std::string_view text) const {
  std::vector<std::string_view> v;
  std::deque<std::string> arena;
  split(text, v, arena);
  return {v.begin(), v.end()};
}

}  // namespace reasonrl::datasets
