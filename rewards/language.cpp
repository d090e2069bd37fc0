// language.cpp: script-based language identification with ICU (scripts, letter/mark categories, case folding), small
// stop-word lists for Latin-script languages, and the language-consistency share.
#include "rewards/language.h"

#include <unicode/uchar.h>
#include <unicode/uscript.h>
#include <unicode/unistr.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <set>

namespace reasonrl::rewards {

namespace {

UScriptCode script_of(UChar32 c) {
  UErrorCode e = U_ZERO_ERROR;
  const UScriptCode s = uscript_getScript(c, &e);
  return U_FAILURE(e) ? USCRIPT_COMMON : s;
}

bool is_letter_or_mark(UChar32 c) {
  if (u_isalpha(c)) return true;
  const int8_t t = u_charType(c);
  return t == U_NON_SPACING_MARK || t == U_COMBINING_SPACING_MARK || t == U_ENCLOSING_MARK;
}

// One word per character in these scripts (lingua, R1-style counting for CJK).
bool per_char_script(UScriptCode s) { return s == USCRIPT_HAN || s == USCRIPT_HIRAGANA || s == USCRIPT_KATAKANA; }

const char* script_language(UScriptCode s) {
  switch (s) {
    case USCRIPT_HAN: return "zh";
    case USCRIPT_HIRAGANA: case USCRIPT_KATAKANA: return "ja";
    case USCRIPT_HANGUL: return "ko";
    case USCRIPT_CYRILLIC: return "ru";
    case USCRIPT_ARABIC: return "ar";
    case USCRIPT_HEBREW: return "he";
    case USCRIPT_GREEK: return "el";
    case USCRIPT_DEVANAGARI: return "hi";
    case USCRIPT_BENGALI: return "bn";
    case USCRIPT_TAMIL: return "ta";
    case USCRIPT_TELUGU: return "te";
    case USCRIPT_THAI: return "th";
    case USCRIPT_ARMENIAN: return "hy";
    case USCRIPT_GEORGIAN: return "ka";
    case USCRIPT_ETHIOPIC: return "am";
    case USCRIPT_KHMER: return "km";
    case USCRIPT_LAO: return "lo";
    case USCRIPT_MYANMAR: return "my";
    case USCRIPT_GUJARATI: return "gu";
    case USCRIPT_GURMUKHI: return "pa";
    case USCRIPT_KANNADA: return "kn";
    case USCRIPT_MALAYALAM: return "ml";
    case USCRIPT_SINHALA: return "si";
    case USCRIPT_TIBETAN: return "bo";
    default: return nullptr;
  }
}

// Function words that belong to one Latin-script language only (ambiguous ones such as "a", "en", "de", "la",
// "es", "is" are left out on purpose).
const std::map<std::string, std::set<std::string>>& stop_words() {
  static const std::map<std::string, std::set<std::string>> m = {
      {"en", {"the", "and", "was", "were", "of", "to", "it", "that", "this", "with", "for", "on", "as", "be", "by", "not", "or",
              "have", "has", "but", "from", "at", "an", "you", "he", "she", "we", "they", "what", "which", "so", "if", "can",
              "will", "would", "there", "their", "its", "my", "your", "our", "do", "does", "did", "than", "then", "these",
              "those", "been", "about", "into", "over", "also", "just", "more", "very", "all", "some", "any", "how", "why",
              "when", "where", "who", "let", "me", "us", "them", "yes", "one", "two", "three", "is", "are", "i", "i'm",
              "it's", "let's", "we're", "here", "here's", "get", "find", "first", "next", "now", "since", "because",
              "therefore", "thus", "number", "answer", "total", "each", "many", "much", "only", "other", "such", "like",
              "should", "could", "must", "need", "same", "both", "between", "after", "before", "step", "which", "words"}},
      {"es", {"el", "los", "las", "y", "que", "por", "para", "con", "como", "del", "al", "su", "sus", "más", "pero", "muy",
              "esta", "este", "está", "son", "sobre", "también", "una", "uno", "es", "ser", "hay", "entonces", "porque",
              "cuando", "donde", "pues", "así", "todo", "todos", "muchas", "muchos", "palabras", "respuesta", "español"}},
      {"fr", {"le", "les", "et", "est", "du", "qui", "pas", "pour", "dans", "avec", "sur", "vous", "nous", "je", "il", "elle",
              "ce", "cette", "mais", "où", "sont", "avoir", "être", "donc", "aussi", "très", "parlez", "français"}},
      {"de", {"der", "die", "das", "und", "ist", "nicht", "ein", "eine", "ich", "sie", "mit", "auf", "für", "von", "zu", "den",
              "dem", "des", "sich", "auch", "nur", "wie", "über", "noch", "sprechen", "spreche", "wir", "aber", "oder", "wenn",
              "dann", "also", "bisschen", "gibt", "blaue"}},
      {"pt", {"não", "os", "um", "uma", "em", "com", "da", "dos", "das", "são", "também", "então", "você"}},
      {"it", {"il", "gli", "di", "che", "non", "sono", "della", "delle", "questo", "questa", "anche", "perché"}},
      {"nl", {"het", "een", "niet", "van", "ik", "zijn", "wij", "maar", "ook"}},
      {"pl", {"nie", "się", "jest", "jak", "tak", "oraz", "dla", "czy"}},
  };
  return m;
}

// A letter only one of the Latin-script languages we list uses.
const char* distinctive_letter_language(UChar32 c) {
  switch (c) {
    case U'ñ': case U'¿': case U'¡': return "es";
    case U'ß': case U'ä': case U'ö': case U'ü': return "de";
    case U'ç': case U'œ': case U'è': case U'ê': case U'ë': case U'ï': case U'î': case U'û': case U'ù': case U'â': return "fr";
    case U'ã': case U'õ': return "pt";
    case U'ą': case U'ę': case U'ł': case U'ń': case U'ś': case U'ź': case U'ż': return "pl";
    default: return nullptr;
  }
}

struct Word {
  std::string text;   // lower-cased UTF-8
  std::string lang;   // "" = an unidentified Latin word
  bool latin = false;
  int32_t begin16 = 0;  // UTF-16 offset in the text (for segmentation)
};

std::vector<Word> words_of(std::string_view text) {
  std::vector<Word> out;
  const icu::UnicodeString u = icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  const int32_t n = u.length();
  int32_t i = 0;
  while (i < n) {
    const UChar32 c = u.char32At(i);
    if (!is_letter_or_mark(c)) {
      i = u.moveIndex32(i, 1);
      continue;
    }
    const UScriptCode sc = script_of(c);
    if (per_char_script(sc)) {
      Word w;
      icu::UnicodeString(c).toUTF8String(w.text);
      w.lang = script_language(sc);
      w.begin16 = i;
      out.push_back(std::move(w));
      i = u.moveIndex32(i, 1);
      continue;
    }
    // A run of letters of one script, joined by an internal apostrophe or hyphen ("I'm", "multi-language").
    int32_t e = i;
    UScriptCode run = sc;
    while (e < n) {
      const UChar32 d = u.char32At(e);
      if (is_letter_or_mark(d)) {
        const UScriptCode ds = script_of(d);
        if (per_char_script(ds)) break;
        if (ds != run && ds != USCRIPT_INHERITED && ds != USCRIPT_COMMON) {
          if (run == USCRIPT_INHERITED || run == USCRIPT_COMMON) run = ds;
          else break;
        }
        e = u.moveIndex32(e, 1);
        continue;
      }
      if ((d == '\'' || d == 0x2019 || d == '-') && e + 1 < n && is_letter_or_mark(u.char32At(u.moveIndex32(e, 1))) &&
          !per_char_script(script_of(u.char32At(u.moveIndex32(e, 1))))) {
        e = u.moveIndex32(e, 1);
        continue;
      }
      break;
    }
    icu::UnicodeString ws = u.tempSubStringBetween(i, e);
    ws.foldCase();
    Word w;
    ws.toUTF8String(w.text);
    w.begin16 = i;
    if (run == USCRIPT_LATIN) {
      w.latin = true;
      for (int32_t k = 0; k < ws.length(); k = ws.moveIndex32(k, 1))
        if (const char* l = distinctive_letter_language(ws.char32At(k))) w.lang = std::string_view(l);
      if (w.lang.empty()) {
        const std::string base = w.text.substr(0, w.text.find('-'));
        for (const auto& [lang, set] : stop_words())
          if (set.count(w.text) || set.count(base)) {
            w.lang = w.lang.empty() ? lang : "?";
          }
        if (w.lang == "?") w.lang.clear();
      }
    } else if (const char* l = script_language(run)) {
      w.lang = l;
    } else {
      w.lang = "other";
    }
    out.push_back(std::move(w));
    i = e;
  }
  // Kana present: Han characters are Japanese.
  const bool kana = std::any_of(out.begin(), out.end(), [](const Word& w) { return w.lang == "ja"; });
  if (kana)
    for (auto& w : out)
      if (w.lang == "zh") w.lang = "ja";
  return out;
}

// The Latin language unidentified Latin words are attributed to: the most frequent identified Latin language, else en.
std::string dominant_latin(const std::vector<Word>& ws) {
  std::map<std::string, int> c;
  for (const auto& w : ws)
    if (w.latin && !w.lang.empty()) c[w.lang]++;
  std::string best = "en";
  int bc = 0;
  for (const auto& [l, k] : c)
    if (k > bc) best = l, bc = k;
  return best;
}

std::string lower_ascii(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string strip_math_and_code(std::string_view t) {
  std::string out;
  out.reserve(t.size());
  size_t i = 0;
  auto skip_to = [&](std::string_view close, size_t from) -> size_t {
    const size_t e = t.find(close, from);
    return e == std::string_view::npos ? std::string_view::npos : e + close.size();
  };
  while (i < t.size()) {
    size_t e = std::string_view::npos;
    if (t.compare(i, 3, "```") == 0) e = skip_to("```", i + 3);
    else if (t[i] == '`') e = skip_to("`", i + 1);
    else if (t.compare(i, 2, "$$") == 0) e = skip_to("$$", i + 2);
    else if (t[i] == '$') e = skip_to("$", i + 1);
    else if (t.compare(i, 2, "\\(") == 0) e = skip_to("\\)", i + 2);
    else if (t.compare(i, 2, "\\[") == 0) e = skip_to("\\]", i + 2);
    else if (t[i] == '\\' && i + 1 < t.size() && std::isalpha(static_cast<unsigned char>(t[i + 1]))) {
      // a bare LaTeX command outside a span (\frac, \times): not a word
      size_t k = i + 1;
      while (k < t.size() && std::isalpha(static_cast<unsigned char>(t[k]))) ++k;
      out += ' ';
      i = k;
      continue;
    }
    if (e != std::string_view::npos) {
      out += ' ';
      i = e;
      continue;
    }
    out += t[i++];
  }
  return out;
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> out;
  for (auto& w : words_of(text)) out.push_back(std::move(w.text));
  return out;
}

LanguageCount count_words_by_language(std::string_view text) {
  const std::string clean = strip_math_and_code(text);
  std::vector<Word> ws = words_of(clean);
  const std::string dom = dominant_latin(ws);
  LanguageCount c;
  for (const auto& w : ws) {
    // single Latin letters are variables (x, n) unless they are words of the dominant language
    if (w.latin && w.text.size() == 1 && w.lang.empty()) continue;
    const std::string l = w.lang.empty() ? (w.latin ? dom : "other") : w.lang;
    c.words[l]++;
    c.total++;
  }
  return c;
}

namespace {
std::string normalize_code(const std::string& target) {
  std::string t = lower_ascii(target);
  if (t == "cn" || t == "zh-cn" || t == "zh-tw" || t == "chinese") t = "zh";
  if (t == "english") t = "en";
  return t;
}
}  // namespace

std::vector<std::string> known_language_codes() {
  std::set<std::string> codes;
  for (const auto& [l, w] : stop_words()) codes.insert(l);
  for (int s = 0; s < USCRIPT_CODE_LIMIT; ++s)
    if (const char* l = script_language(UScriptCode(s))) codes.insert(l);
  return {codes.begin(), codes.end()};
}

bool language_code_known(const std::string& code) {
  const std::string t = normalize_code(code);
  for (const auto& k : known_language_codes())
    if (k == t) return true;
  return false;
}

double language_consistency(std::string_view text, const std::string& target) {
  const LanguageCount c = count_words_by_language(text);
  if (c.total == 0) return 0.0;
  auto it = c.words.find(normalize_code(target));
  return it == c.words.end() ? 0.0 : static_cast<double>(it->second) / c.total;
}

std::string detect_dominant_language(std::string_view text, double* confidence) {
  const LanguageCount c = count_words_by_language(text);
  std::string best;
  int bc = 0;
  for (const auto& [l, k] : c.words)
    if (k > bc && l != "other") best = l, bc = k;
  if (confidence) *confidence = c.total ? static_cast<double>(bc) / c.total : 0.0;
  return best;
}

std::string target_language_from_prompt(std::string_view prompt) {
  const std::string p = lower_ascii(std::string(prompt));
  static const std::vector<std::pair<std::string, std::string>> kAsks = {
      {"in english", "en"}, {"in chinese", "zh"}, {"in spanish", "es"}, {"in french", "fr"}, {"in german", "de"},
      {"in japanese", "ja"}, {"in korean", "ko"}, {"in russian", "ru"}, {"in arabic", "ar"}, {"in portuguese", "pt"},
      {"in italian", "it"}, {"用中文", "zh"}, {"使用中文", "zh"}, {"中文回答", "zh"}, {"en español", "es"},
      {"en français", "fr"}, {"auf deutsch", "de"}, {"日本語で", "ja"}, {"한국어로", "ko"}, {"на русском", "ru"}};
  size_t best = std::string::npos;
  std::string lang;
  for (const auto& [pat, l] : kAsks) {
    const size_t at = p.find(pat);
    if (at != std::string::npos && (best == std::string::npos || at < best)) best = at, lang = l;
  }
  if (!lang.empty()) return lang;
  return detect_dominant_language(prompt);
}

std::vector<LanguageSegment> segment_languages(std::string_view text) {
  std::vector<Word> ws = words_of(text);
  std::vector<LanguageSegment> out;
  if (ws.empty()) return out;
  // UTF-16 offset -> UTF-8 byte offset
  const icu::UnicodeString u = icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size())));
  std::vector<size_t> byte_at(static_cast<size_t>(u.length()) + 1, text.size());
  {
    size_t b = 0;
    for (int32_t i = 0; i < u.length();) {
      byte_at[static_cast<size_t>(i)] = b;
      const UChar32 c = u.char32At(i);
      const int32_t next = u.moveIndex32(i, 1);
      b += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
      i = next;
    }
  }
  // unidentified Latin words take the language of the previous identified word, else of the next one
  std::string carry;
  for (auto& w : ws) {
    if (!w.lang.empty()) carry = w.lang;
    else if (!carry.empty()) w.lang = carry;
  }
  carry.clear();
  for (auto it = ws.rbegin(); it != ws.rend(); ++it) {
    if (!it->lang.empty()) carry = it->lang;
    else it->lang = carry.empty() ? "en" : carry;
  }
  for (const auto& w : ws) {
    if (out.empty() || out.back().language != w.lang) {
      LanguageSegment s;
      s.begin = out.empty() ? 0 : byte_at[static_cast<size_t>(w.begin16)];
      if (!out.empty()) out.back().end = s.begin;
      s.language = w.lang;
      out.push_back(s);
    }
    out.back().words++;
  }
  out.back().end = text.size();
  return out;
}

std::string language_name(const std::string& code) {
  static const std::map<std::string, std::string> names = {
      {"en", "ENGLISH"}, {"zh", "CHINESE"}, {"ja", "JAPANESE"}, {"ko", "KOREAN"}, {"ru", "RUSSIAN"}, {"ar", "ARABIC"},
      {"he", "HEBREW"}, {"el", "GREEK"}, {"hi", "HINDI"}, {"th", "THAI"}, {"es", "SPANISH"}, {"fr", "FRENCH"},
      {"de", "GERMAN"}, {"pt", "PORTUGUESE"}, {"it", "ITALIAN"}, {"nl", "DUTCH"}, {"pl", "POLISH"}, {"bn", "BENGALI"},
      {"ta", "TAMIL"}, {"hy", "ARMENIAN"}, {"ka", "GEORGIAN"}};
  auto it = names.find(code);
  return it == names.end() ? code : it->second;
}

}  // namespace reasonrl::rewards
