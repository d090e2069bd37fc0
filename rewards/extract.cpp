// extract.cpp: final-answer extraction: boxes with nested braces, answer tags, "####", "the answer is", math spans.
#include "rewards/extract.h"

#include <algorithm>
#include <cctype>

namespace reasonrl::rewards {

namespace {

// For every '{' the index of its matching '}' (npos if unbalanced); one O(n) pass.
std::vector<size_t> match_braces(std::string_view s) {
  std::vector<size_t> match(s.size(), std::string_view::npos);
  std::vector<size_t> stack;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '{') {
      stack.push_back(i);
    } else if (s[i] == '}' && !stack.empty()) {
      match[stack.back()] = i;
      stack.pop_back();
    }
  }
  return match;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// Case-insensitive rfind of an ASCII needle.
size_t rfind_ci(std::string_view hay, std::string_view needle) {
  if (needle.size() > hay.size()) return std::string_view::npos;
  for (size_t i = hay.size() - needle.size() + 1; i-- > 0;) {
    size_t k = 0;
    while (k < needle.size() && lower(hay[i + k]) == needle[k]) ++k;
    if (k == needle.size()) return i;
  }
  return std::string_view::npos;
}

// The '.' at rest[dot] ends an abbreviation, not a sentence: a title ("Mrs. Sherman"), "vs.", "approx.", "a.m.",
// "p.m.", "e.g.", "i.e.".
bool abbreviation_before(std::string_view rest, size_t dot) {
  size_t b = dot;
  while (b > 0 && (std::isalpha(static_cast<unsigned char>(rest[b - 1])) || rest[b - 1] == '.')) --b;
  std::string w;
  for (size_t i = b; i < dot; ++i) w += lower(rest[i]);
  static const char* kAbbrev[] = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "mt", "vs", "approx",
                                  "a.m", "p.m", "e.g", "i.e"};
  for (const char* a : kAbbrev)
    if (w == a) return true;
  return false;
}

}  // namespace

std::vector<BoxMatch> find_boxes(std::string_view s) {
  std::vector<BoxMatch> out;
  if (s.find("\\boxed") == std::string_view::npos && s.find("\\fbox") == std::string_view::npos) return out;
  const std::vector<size_t> match = match_braces(s);
  for (size_t i = s.find('\\'); i != std::string_view::npos; i = s.find('\\', i + 1)) {
    size_t len = 0;
    if (s.compare(i, 6, "\\boxed") == 0) len = 6;
    else if (s.compare(i, 5, "\\fbox") == 0) len = 5;
    else continue;
    size_t j = i + len;
    if (j < s.size() && std::isalpha(static_cast<unsigned char>(s[j]))) continue;  // \boxedx is another command
    size_t k = j;
    while (k < s.size() && s[k] == ' ') ++k;
    if (k < s.size() && s[k] == '{') {
      if (match[k] == std::string_view::npos) continue;  // unterminated
      out.push_back({i, match[k] + 1, std::string(s.substr(k + 1, match[k] - k - 1))});
      i = k;  // nested boxes inside are found too (callers use the outermost/last)
    } else if (k > j && k < s.size()) {
      // "\boxed 5": up to the next '$' or white space
      size_t e = k;
      while (e < s.size() && s[e] != '$' && !is_space(s[e])) ++e;
      if (e > k) out.push_back({i, e, std::string(s.substr(k, e - k))});
    }
  }
  // Keep only outermost boxes (a box nested inside the previous one is part of it).
  std::vector<BoxMatch> outer;
  for (auto& b : out)
    if (outer.empty() || b.begin >= outer.back().end) outer.push_back(std::move(b));
  return outer;
}

std::optional<std::string> last_boxed_only_string(std::string_view s) {
  // verl/slime: the last "\boxed", else the last "\fbox"; unterminated = none.
  for (std::string_view cmd : {std::string_view("\\boxed"), std::string_view("\\fbox")}) {
    const size_t i = s.rfind(cmd);
    if (i == std::string_view::npos) continue;
    if (s.compare(i, 7, "\\boxed ") == 0) {
      size_t e = i + 7;
      while (e < s.size() && s[e] != '$') ++e;
      return std::string(s.substr(i, e - i));
    }
    int depth = 0;
    for (size_t k = i; k < s.size(); ++k) {
      if (s[k] == '{') ++depth;
      else if (s[k] == '}' && --depth == 0) return std::string(s.substr(i, k + 1 - i));
    }
    return std::nullopt;
  }
  return std::nullopt;
}

std::optional<std::string> remove_boxed(std::string_view s) {
  if (s.substr(0, 7) == "\\boxed ") return std::string(s.substr(7));
  for (std::string_view cmd : {std::string_view("\\boxed{"), std::string_view("\\fbox{")})
    if (s.size() > cmd.size() && s.substr(0, cmd.size()) == cmd && s.back() == '}')
      return std::string(s.substr(cmd.size(), s.size() - cmd.size() - 1));
  return std::nullopt;
}

std::optional<std::string> last_answer_tag(std::string_view s) {
  const size_t close = s.rfind("</answer>");
  if (close == std::string_view::npos) return std::nullopt;
  const size_t open = s.rfind("<answer>", close);
  if (open == std::string_view::npos) return std::nullopt;
  return trim(s.substr(open + 8, close - open - 8));
}

std::optional<std::string> hash_answer(std::string_view s) {
  const size_t p = s.rfind("####");
  if (p == std::string_view::npos) return std::nullopt;
  size_t e = s.find('\n', p);
  if (e == std::string_view::npos) e = s.size();
  std::string a = trim(s.substr(p + 4, e - p - 4));
  if (a.empty()) return std::nullopt;
  return a;
}

std::optional<std::string> answer_is_phrase(std::string_view s) {
  size_t best = std::string_view::npos, blen = 0;
  for (std::string_view pat : {std::string_view("answer is"), std::string_view("answer:"), std::string_view("answer should be"),
                               std::string_view("answer will be"), std::string_view("答案是"), std::string_view("答案为"),
                               std::string_view("答案：")}) {
    const size_t p = rfind_ci(s, pat);
    if (p != std::string_view::npos && (best == std::string_view::npos || p > best)) best = p, blen = pat.size();
  }
  if (best == std::string_view::npos) return std::nullopt;
  std::string_view rest = s.substr(best + blen);
  // Up to the end of the sentence: a newline, or ". " / final '.' not between digits.
  size_t e = 0;
  for (; e < rest.size(); ++e) {
    if (rest[e] == '\n') break;
    if (rest[e] == '.' && (e + 1 == rest.size() || rest[e + 1] == ' ' || rest[e + 1] == '\n') &&
        !(e + 1 < rest.size() && std::isdigit(static_cast<unsigned char>(rest[e + 1]))) && !abbreviation_before(rest, e))
      break;
    if (e > 400) break;
  }
  std::string a = trim(rest.substr(0, e));
  while (!a.empty() && (a.back() == ',' || a.back() == ';' || a.back() == '!')) a.pop_back();
  if (a.rfind(":", 0) == 0) a = trim(a.substr(1));
  if (a.empty()) return std::nullopt;
  return a;
}

std::vector<std::string> find_numbers(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const bool starts = std::isdigit(c) || (c == '.' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])));
    if (!starts) {
      ++i;
      continue;
    }
    // Not part of a word like "x2" or "AZYUK2A".
    const bool glued_before = i > 0 && std::isalpha(static_cast<unsigned char>(s[i - 1]));
    size_t b = i;
    bool neg = b > 0 && s[b - 1] == '-' && (b < 2 || !std::isalnum(static_cast<unsigned char>(s[b - 2])));
    size_t e = i;
    while (e < s.size()) {
      const unsigned char d = static_cast<unsigned char>(s[e]);
      if (std::isdigit(d)) {
        ++e;
      } else if ((d == ',' || d == '.') && e + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[e + 1]))) {
        ++e;
      } else if (d == ' ' && e + 3 < s.size() && std::isdigit(static_cast<unsigned char>(s[e + 1])) &&
                 std::isdigit(static_cast<unsigned char>(s[e + 2])) && std::isdigit(static_cast<unsigned char>(s[e + 3])) &&
                 (e + 4 == s.size() || !std::isdigit(static_cast<unsigned char>(s[e + 4]))) && e - b <= 3) {
        e += 1;  // "1 000" thousands separator (only after a short leading group)
      } else {
        break;
      }
    }
    // a simple fraction "2/3"
    if (e + 1 < s.size() && s[e] == '/' && std::isdigit(static_cast<unsigned char>(s[e + 1]))) {
      size_t f = e + 1;
      while (f < s.size() && std::isdigit(static_cast<unsigned char>(s[f]))) ++f;
      if (f == s.size() || !(s[f] == '.' && f + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[f + 1])))) e = f;
    }
    if (!glued_before) {
      std::string x(neg ? "-" : "");
      x.append(s.substr(b, e - b));
      out.push_back(std::move(x));
    }
    i = e;
  }
  return out;
}

std::vector<SpanMatch> find_math_spans(std::string_view s) {
  std::vector<SpanMatch> out;
  size_t i = 0;
  while (i < s.size()) {
    if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == '(' || s[i + 1] == '[')) {
      const bool display = s[i + 1] == '[';
      const std::string_view close = display ? "\\]" : "\\)";
      const size_t e = s.find(close, i + 2);
      if (e == std::string_view::npos) {
        i += 2;
        continue;
      }
      std::string_view inner = s.substr(i + 2, e - i - 2);
      if (!display && inner.find('\n') != std::string_view::npos) {
        i += 2;
        continue;
      }
      out.push_back({i, e + 2, std::string(inner)});
      i = e + 2;
      continue;
    }
    if (s[i] == '\\' && i + 1 < s.size()) {  // escaped char (e.g. \$)
      i += 2;
      continue;
    }
    if (s[i] == '$') {
      const bool dbl = i + 1 < s.size() && s[i + 1] == '$';
      const size_t open = dbl ? 2 : 1;
      size_t e = i + open;
      bool found = false;
      while (e < s.size()) {
        if (s[e] == '\\') {
          e += 2;
          continue;
        }
        if (s[e] == '$') {
          if (dbl) {
            if (e + 1 < s.size() && s[e + 1] == '$') found = true;
          } else {
            found = true;
          }
          break;
        }
        if (!dbl && s[e] == '\n') break;
        ++e;
      }
      if (!found || e >= s.size()) {
        i += open;
        continue;
      }
      out.push_back({i, e + open, std::string(s.substr(i + open, e - i - open))});
      i = e + open;
      continue;
    }
    ++i;
  }
  return out;
}

std::string_view after_think(std::string_view s) {
  const size_t p = s.rfind("</think>");
  return p == std::string_view::npos ? s : s.substr(p + 8);
}

}  // namespace reasonrl::rewards
