// language.h: language consistency (R1): the share of words of the chain of thought written in the target language.
// Scripts and categories come from ICU (uscript, u_charType, BreakIterator); Latin-script languages are told apart by
// small stop-word lists. Math ($..$, \(..\), \[..\]) and code (``` and ` spans) are excluded before counting.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace reasonrl::rewards {

struct LanguageCount {
  std::map<std::string, int> words;  // language code -> words ("latin" = Latin words of no identified language)
  int total = 0;
};
// Words of `text` per language (math and code spans removed). CJK: one word per Han/Kana character, Hangul per word.
LanguageCount count_words_by_language(std::string_view text);
// Share of words in `target` (0..1). Empty text (no words) = 0. Latin words of no identified language count
// towards the target when it is a Latin-script language.
double language_consistency(std::string_view text, const std::string& target);
// The codes language_consistency can find words of (Latin-script languages with stop-word lists, languages with a
// script of their own), sorted; language_code_known also takes the aliases cn, zh-cn, zh-tw, chinese and english.
std::vector<std::string> known_language_codes();
bool language_code_known(const std::string& code);
// The dominant language and its share; "" when there are no words.
std::string detect_dominant_language(std::string_view text, double* confidence = nullptr);
// The language a prompt asks for: an explicit "in English"/"in Chinese"/"用中文" request, else the prompt's own language.
std::string target_language_from_prompt(std::string_view prompt);
// lingua-style word split: runs of letters; each Han/Kana character is its own word; digits and punctuation dropped.
std::vector<std::string> split_words(std::string_view text);
// Contiguous runs of one language (unidentified Latin words join the run before them, or the next one), in the
// manner of lingua's detect_multiple_languages_of. begin/end are byte offsets: a run extends to the next run's first
// word (the first run starts at 0, the last ends at the end of the text).
struct LanguageSegment {
  size_t begin = 0, end = 0;
  int words = 0;
  std::string language;
};
std::vector<LanguageSegment> segment_languages(std::string_view text);
// English name of a language code ("en" -> "ENGLISH"), as lingua prints it; the code itself if unknown.
std::string language_name(const std::string& code);
// Removes math and code spans.
std::string strip_math_and_code(std::string_view text);

}  // namespace reasonrl::rewards
