// text_rewards.cpp: format rewards (strict/lenient/think_answer), tag count and the n-gram repetition penalty.
#include "rewards/text_rewards.h"

#include <unicode/brkiter.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include <memory>
#include <mutex>
#include <set>

#include "rewards/extract.h"

namespace reasonrl::rewards {

namespace {

size_t count_non_overlapping(std::string_view s, std::string_view pat) {
  size_t n = 0;
  for (size_t p = s.find(pat); p != std::string_view::npos; p = s.find(pat, p + pat.size())) ++n;
  return n;
}

// open-r1: re.match(r"^<think>\n.*?\n</think>\n<answer>\n.*?\n</answer>$", s, re.DOTALL | re.MULTILINE)
bool strict_format(std::string_view s) {
  static constexpr std::string_view kOpen = "<think>\n", kMid = "\n</think>\n<answer>\n", kEnd = "\n</answer>";
  if (s.substr(0, kOpen.size()) != kOpen) return false;
  // `\n</think>` may start at the newline that ends "<think>\n" only if the lazy .*? is empty *after* it: search from
  // the end of the opening tag (the first \n belongs to the opening tag).
  const size_t p = s.find(kMid, kOpen.size());
  if (p == std::string_view::npos) return false;
  for (size_t q = s.find(kEnd, p + kMid.size()); q != std::string_view::npos; q = s.find(kEnd, q + 1)) {
    const size_t after = q + kEnd.size();
    if (after == s.size() || s[after] == '\n') return true;  // `$` with MULTILINE: end of text or of a line
  }
  return false;
}

// TRL think_format_reward: re.match(r"^<think>(?!.*<think>)(.*?)</think>.*$", s, re.DOTALL)
bool lenient_format(std::string_view s) {
  if (s.substr(0, 7) != "<think>") return false;
  if (s.find("<think>", 7) != std::string_view::npos) return false;
  return s.find("</think>", 7) != std::string_view::npos;
}

// Ours: <think>..</think> once, then a final answer in \boxed{} or <answer>..</answer> after it.
bool think_answer_format(std::string_view s) {
  size_t b = 0;
  while (b < s.size() && (s[b] == ' ' || s[b] == '\n' || s[b] == '\t' || s[b] == '\r')) ++b;
  s = s.substr(b);
  if (s.substr(0, 7) != "<think>") return false;
  if (count_non_overlapping(s, "<think>") != 1 || count_non_overlapping(s, "</think>") != 1) return false;
  const std::string_view rest = after_think(s);
  if (last_answer_tag(rest)) return true;
  return !find_boxes(rest).empty();
}

}  // namespace

double format_reward(std::string_view response, FormatMode mode) {
  switch (mode) {
    case FormatMode::Strict: return strict_format(response) ? 1.0 : 0.0;
    case FormatMode::Lenient: return lenient_format(response) ? 1.0 : 0.0;
    case FormatMode::ThinkAnswer: return think_answer_format(response) ? 1.0 : 0.0;
  }
  return 0.0;
}

double tag_count_reward(std::string_view s) {
  double c = 0.0;
  if (count_non_overlapping(s, "<think>\n") == 1) c += 0.25;
  if (count_non_overlapping(s, "\n</think>\n") == 1) c += 0.25;
  if (count_non_overlapping(s, "\n<answer>\n") == 1) c += 0.25;
  if (count_non_overlapping(s, "\n</answer>") == 1) c += 0.25;
  return c;
}

std::vector<std::string> repetition_words(std::string_view text, const std::string& language) {
  std::vector<std::string> words;
  const icu::UnicodeString u = icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  if (language == "en" || language.empty()) {
    // Python str.lower().split(): lower-case, split on Unicode white space.
    icu::UnicodeString lower = u;
    lower.toLower(icu::Locale::getRoot());
    int32_t i = 0;
    const int32_t n = lower.length();
    while (i < n) {
      while (i < n && u_isUWhiteSpace(lower.char32At(i))) i = lower.moveIndex32(i, 1);
      const int32_t b = i;
      while (i < n && !u_isUWhiteSpace(lower.char32At(i))) i = lower.moveIndex32(i, 1);
      if (i > b) {
        std::string w;
        lower.tempSubStringBetween(b, i).toUTF8String(w);
        words.push_back(std::move(w));
      }
    }
    return words;
  }
  // Other languages: ICU word segmentation (dictionary based for Chinese/Japanese/Thai), dropping white space and
  // punctuation-only segments (as jieba output filtered of blanks would be for the open-r1 zh case).
  UErrorCode err = U_ZERO_ERROR;
  std::unique_ptr<icu::BreakIterator> it(icu::BreakIterator::createWordInstance(icu::Locale(language.c_str()), err));
  if (U_FAILURE(err) || !it) return repetition_words(text, "en");
  icu::UnicodeString lower = u;
  lower.toLower(icu::Locale(language.c_str()));
  it->setText(lower);
  int32_t b = it->first();
  for (int32_t e = it->next(); e != icu::BreakIterator::DONE; b = e, e = it->next()) {
    bool keep = false;
    for (int32_t k = b; k < e; k = lower.moveIndex32(k, 1)) {
      const UChar32 c = lower.char32At(k);
      if (!u_isUWhiteSpace(c) && !u_ispunct(c)) keep = true;
    }
    if (!keep) continue;
    std::string w;
    lower.tempSubStringBetween(b, e).toUTF8String(w);
    words.push_back(std::move(w));
  }
  return words;
}

double repetition_penalty(std::string_view text, int ngram_size, double max_penalty, const std::string& language) {
  if (text.empty() || ngram_size < 1) return 0.0;
  const std::vector<std::string> w = repetition_words(text, language);
  if (w.size() < static_cast<size_t>(ngram_size)) return 0.0;
  std::set<std::vector<std::string_view>> seen;
  size_t total = 0;
  for (size_t i = 0; i + ngram_size <= w.size(); ++i) {
    std::vector<std::string_view> g(w.begin() + i, w.begin() + i + ngram_size);
    seen.insert(std::move(g));
    ++total;
  }
  if (total == 0) return 0.0;
  return (1.0 - static_cast<double>(seen.size()) / static_cast<double>(total)) * max_penalty;
}

}  // namespace reasonrl::rewards
