// math_verify.cpp: verify(gold, pred): answer extraction, LaTeX normalisation and equivalence of the parsed answers.
#include "rewards/math_verify.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <functional>

#include "rewards/extract.h"
#include "rewards/math_expr.h"
#include "rewards/numeric.h"
#include "rl/util/rng.h"

namespace reasonrl::rewards {

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::Equal: return "equal";
    case Verdict::NotEqual: return "not_equal";
    case Verdict::GoldUnparseable: return "gold_unparseable";
  }
  return "?";
}

namespace {

constexpr size_t kMaxAnswer = 4000;  // longer candidates are compared as text only (bounded time)
constexpr size_t kMaxResponse = size_t{1} << 20;  // a response is graded from its last MiB

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
bool is_alpha(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && is_space(s[b])) ++b;
  while (e > b && is_space(s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

void replace_all(std::string& s, std::string_view a, std::string_view b) {
  if (a.empty()) return;
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  for (size_t p = s.find(a); p != std::string::npos; p = s.find(a, i)) {
    out.append(s, i, p - i);
    out.append(b);
    i = p + a.size();
  }
  out.append(s, i, std::string::npos);
  s.swap(out);
}

// Replaces `\cmd` only when not followed by a letter (so \le does not eat \left).
void replace_cmd(std::string& s, std::string_view cmd, std::string_view by) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  for (size_t p = s.find(cmd); p != std::string::npos; p = s.find(cmd, i)) {
    out.append(s, i, p - i);
    const size_t e = p + cmd.size();
    if (e < s.size() && is_alpha(s[e]) && is_alpha(cmd.back())) {
      out.append(cmd);
    } else {
      out.append(by);
    }
    i = e;
  }
  out.append(s, i, std::string::npos);
  s.swap(out);
}

// Index just past the {...} group starting at s[i] == '{' (npos if unbalanced).
size_t group_end(const std::string& s, size_t i) {
  int depth = 0;
  for (size_t k = i; k < s.size(); ++k) {
    if (s[k] == '\\' && k + 1 < s.size() && (s[k + 1] == '{' || s[k + 1] == '}')) {
      ++k;
      continue;
    }
    if (s[k] == '{') ++depth;
    else if (s[k] == '}' && --depth == 0) return k + 1;
  }
  return std::string::npos;
}

bool is_connective_text(std::string t) {
  std::string w;
  for (char c : t)
    if (!is_space(c) && c != ',' && c != ';') w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return w.empty() || w == "and" || w == "or";
}

// \text{..}-like wrappers: connectives become ","; unit words next to other content are dropped; a text-only
// answer keeps its words.
// A unit word in canonical form: "Inches" -> "in", "meters" -> "m", "hours" -> "h"; other words lower-cased and
// singular. `power` is a trailing ^2 / ^3.
std::string canonical_unit(std::string w, const std::string& power) {
  std::transform(w.begin(), w.end(), w.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (w.size() > 3 && w.ends_with("ies")) w = w.substr(0, w.size() - 3) + "y";
  else if (w.size() > 4 && (w.ends_with("ches") || w.ends_with("shes"))) w.resize(w.size() - 2);
  else if (w.size() > 3 && w.back() == 's') w.pop_back();
  static const std::vector<std::pair<std::string, std::vector<std::string>>> kAlias = {
      {"m", {"meter", "metre"}}, {"cm", {"centimeter", "centimetre"}}, {"mm", {"millimeter", "millimetre"}},
      {"km", {"kilometer", "kilometre"}}, {"g", {"gram"}}, {"kg", {"kilogram"}}, {"mg", {"milligram"}},
      {"ft", {"foot", "feet"}}, {"in", {"inch"}}, {"s", {"sec", "second"}}, {"min", {"minute"}},
      {"h", {"hr", "hour"}}, {"l", {"liter", "litre"}}, {"ml", {"milliliter", "millilitre"}}, {"deg", {"degree"}},
      {"mi", {"mile"}}, {"yd", {"yard"}}, {"percent", {"pct", "percentage"}}, {"dollar", {"usd"}}};
  for (const auto& [canon, names] : kAlias)
    if (w == canon || std::find(names.begin(), names.end(), w) != names.end()) {
      w = canon;
      break;
    }
  return w + power;
}

// Units dropped from an answer, recorded (when `units` is given) so that two answers with different units are not
// found equal.
void record_unit(const std::string& words, const std::string& power, std::vector<std::string>* units) {
  if (!units) return;
  std::string w;
  for (char c : words + " ") {
    if (is_alpha(c)) {
      w += c;
    } else if (!w.empty()) {
      if (w != "sq" && w != "square" && w != "cubic") units->push_back(canonical_unit(w, power));
      w.clear();
    }
  }
}

void handle_text_commands(std::string& s, std::vector<std::string>* units) {
  static const char* kCmds[] = {"\\textnormal", "\\textbf", "\\textrm", "\\textit", "\\text", "\\mbox", "\\mathrm"};
  struct Piece {
    size_t b, e;
    std::string inner;
  };
  std::vector<Piece> pieces;
  for (size_t i = s.find('\\'); i != std::string::npos && i < s.size(); i = s.find('\\', i + 1)) {
    for (const char* c : kCmds) {
      const size_t n = std::strlen(c);
      if (s.compare(i, n, c) != 0) continue;
      size_t k = i + n;
      while (k < s.size() && s[k] == ' ') ++k;
      if (k >= s.size() || s[k] != '{' || (k == i + n && k < s.size() && is_alpha(s[k]))) break;
      const size_t e = group_end(s, k);
      if (e == std::string::npos) break;
      pieces.push_back({i, e, s.substr(k + 1, e - k - 2)});
      i = e - 1;
      break;
    }
  }
  if (pieces.empty()) return;
  // Content outside the text pieces?
  std::string rest;
  size_t at = 0;
  for (const auto& p : pieces) {
    rest += s.substr(at, p.b - at);
    at = p.e;
  }
  rest += s.substr(at);
  bool other = false;
  for (char c : rest)
    if (!is_space(c) && c != '$' && c != '.' && c != ',') other = true;
  std::string out;
  at = 0;
  for (const auto& p : pieces) {
    out += s.substr(at, p.b - at);
    at = p.e;
    const std::string inner = trim(p.inner);
    bool words = !inner.empty();
    for (char c : inner)
      if (!is_alpha(c) && c != ' ' && c != '.' && c != '-') words = false;
    const bool math_font = s.compare(p.b, 7, "\\mathrm") == 0;
    if (math_font && inner.size() == 1 && is_alpha(inner[0])) {
      out += inner;  // \mathrm{e}, \mathrm{i}, \mathrm{d}: a letter in upright type
    } else if (is_connective_text(inner) && !inner.empty()) {
      out += " , ";
    } else if (other && words) {
      // a unit: drop it and a following ^2 / ^{2}
      std::string power;
      if (at < s.size() && s[at] == '^') {
        if (at + 1 < s.size() && is_digit(s[at + 1])) power = "^" + s.substr(at + 1, 1), at += 2;
        else if (s.compare(at, 4, "^{2}") == 0 || s.compare(at, 4, "^{3}") == 0) power = "^" + s.substr(at + 2, 1), at += 4;
      }
      record_unit(inner, power, units);
      out += " ";
    } else {
      out += "\\text{" + inner + "}";
    }
  }
  out += s.substr(at);
  s.swap(out);
}

// \frac12 -> \frac{1}{2}, \sqrt3 -> \sqrt{3}, x^23 -> x^{2}3
void brace_short_args(std::string& s) {
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0;
  auto take_arg = [&](size_t& k) {
    while (k < s.size() && s[k] == ' ') ++k;
    if (k >= s.size()) return;
    if (s[k] == '{') {
      const size_t e = group_end(s, k);
      if (e == std::string::npos) {
        out += s.substr(k);
        k = s.size();
        return;
      }
      out += s.substr(k, e - k);
      k = e;
    } else if (is_digit(s[k]) || is_alpha(s[k])) {
      out += "{";
      out += s[k];
      out += "}";
      ++k;
    } else if (s[k] == '\\') {  // \frac\pi2
      size_t e = k + 1;
      while (e < s.size() && is_alpha(s[e])) ++e;
      out += "{" + s.substr(k, e - k) + "}";
      k = e;
    }
  };
  while (i < s.size()) {
    if (s.compare(i, 5, "\\frac") == 0 && !(i + 5 < s.size() && is_alpha(s[i + 5]))) {
      out += "\\frac";
      size_t k = i + 5;
      take_arg(k);
      take_arg(k);
      i = k;
      continue;
    }
    if (s.compare(i, 5, "\\sqrt") == 0 && !(i + 5 < s.size() && is_alpha(s[i + 5]))) {
      out += "\\sqrt";
      size_t k = i + 5;
      while (k < s.size() && s[k] == ' ') ++k;
      if (k < s.size() && s[k] == '[') {
        const size_t e = s.find(']', k);
        if (e != std::string::npos) {
          out += s.substr(k, e + 1 - k);
          k = e + 1;
        }
      }
      take_arg(k);
      i = k;
      continue;
    }
    if (s[i] == '^' && i + 2 < s.size() && is_digit(s[i + 1]) && is_digit(s[i + 2])) {
      out += "^{";
      out += s[i + 1];
      out += "}";
      i += 2;
      continue;
    }
    out += s[i++];
  }
  s.swap(out);
}

// Drops unit words written after a number ("35 cm", "125 miles").
void strip_unit_words(std::string& s, std::vector<std::string>* units) {
  static const std::vector<std::string> kUnits = {
      "cm", "mm", "km", "kg", "mg", "ml", "meters", "meter", "metres", "miles", "mile", "feet", "foot", "ft", "inches", "inch",
      "hours", "hour", "hrs", "minutes", "minute", "mins", "min", "seconds", "second", "sec", "days", "day", "weeks", "years",
      "year", "units", "unit", "degrees", "degree", "dollars", "dollar", "cents", "cent", "yuan", "euros", "pounds", "percent",
      "percentage", "pct", "grams", "gram", "liters", "liter", "litres", "sq", "square", "cubic", "mph", "kmh", "people",
      "students", "apples", "times", "ways", "m", "s", "g"};
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    if (is_alpha(s[i]) && (i == 0 || !is_alpha(s[i - 1])) && (i == 0 || s[i - 1] != '\\')) {
      size_t e = i;
      while (e < s.size() && is_alpha(s[e])) ++e;
      std::string w = s.substr(i, e - i);
      std::transform(w.begin(), w.end(), w.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      // previous non-space char must be a digit or '}' (after \frac{}{})
      size_t b = i;
      while (b > 0 && s[b - 1] == ' ') --b;
      const bool after_num = b > 0 && (is_digit(s[b - 1]) || s[b - 1] == '}' || s[b - 1] == '%');
      const bool single = w.size() == 1;
      const bool spaced = b < i;  // "5 m" (single-letter units only with a space)
      if (after_num && std::find(kUnits.begin(), kUnits.end(), w) != kUnits.end() && (!single || spaced) &&
          (e == s.size() || !is_alpha(s[e]))) {
        size_t k = e;
        std::string power;
        if (k < s.size() && s[k] == '^') {
          if (k + 1 < s.size() && is_digit(s[k + 1])) power = "^" + s.substr(k + 1, 1), k += 2;
          else if (s.compare(k, 4, "^{2}") == 0 || s.compare(k, 4, "^{3}") == 0) power = "^" + s.substr(k + 2, 1), k += 4;
        }
        record_unit(w, power, units);
        // "sq ft", "square meters"
        i = k;
        continue;
      }
      out += s.substr(i, e - i);
      i = e;
      continue;
    }
    out += s[i++];
  }
  s.swap(out);
}

// Repeating decimals as exact fractions: I.B\overline{C} = (IBC - IB) / (9..9 0..0) with |C| nines and |B| zeros
// ("0.\overline{3}" -> 1/3, "0.1\overline{6}" -> 1/6, "2.\overline{142857}" -> 2 + 1/7). Also \dot{C}.
void repeating_decimals(std::string& s) {
  for (const char* cmd : {"\\overline{", "\\dot{", "\\bar{"}) {
    const size_t n = std::strlen(cmd);
    for (size_t p = s.find(cmd); p != std::string::npos; p = s.find(cmd, p + 1)) {
      const size_t close = s.find('}', p + n);
      if (close == std::string::npos) break;
      const std::string rep = s.substr(p + n, close - p - n);
      if (rep.empty() || rep.size() > 64 || !std::all_of(rep.begin(), rep.end(), is_digit)) continue;
      size_t b = p;
      while (b > 0 && is_digit(s[b - 1])) --b;
      const std::string frac_digits = s.substr(b, p - b);
      if (b == 0 || s[b - 1] != '.') continue;
      size_t a = b - 1;
      while (a > 0 && is_digit(s[a - 1])) --a;
      const std::string int_digits = s.substr(a, b - 1 - a);
      std::string ib = int_digits + frac_digits;
      ib.erase(0, std::min(ib.find_first_not_of('0'), ib.size()));
      if (ib.empty()) ib = "0";
      const std::string num = "(" + int_digits + frac_digits + rep + "-" + ib + ")";
      const std::string den = std::string(rep.size(), '9') + std::string(frac_digits.size(), '0');
      const std::string by = "(\\frac{" + num + "}{" + den + "})";
      s.replace(a, close + 1 - a, by);
      p = a + by.size() - 1;
    }
  }
}

// Normalises an extracted answer to the dialect parse_math reads; the unit words it drops go to `units` when given.
std::string normalize(std::string s, std::vector<std::string>* units) {
  if (s.size() > kMaxAnswer * 4) s.resize(kMaxAnswer * 4);
  // Double-escaped commands from JSON/Python sources: "\\frac" -> "\frac" (a run of exactly two backslashes before
  // 2+ letters); "\\\end" stays a row break followed by \end; "\\\\" (an escaped row break) -> "\\".
  {
    std::string out;
    for (size_t i = 0; i < s.size();) {
      if (s[i] != '\\') {
        out += s[i++];
        continue;
      }
      size_t e = i;
      while (e < s.size() && s[e] == '\\') ++e;
      const size_t run = e - i;
      const bool letters = e + 1 < s.size() && is_alpha(s[e]) && is_alpha(s[e + 1]);
      if (run == 2 && letters) out += "\\";
      else if (run == 4) out += "\\\\";
      else out.append(run, '\\');
      i = e;
    }
    s.swap(out);
  }
  replace_all(s, "{,}", "");
  replace_all(s, "{, }", "");
  // Unicode math.
  for (const auto& [a, b] : std::vector<std::pair<std::string, std::string>>{
           {"−", "-"}, {"–", "-"}, {"×", "\\times "}, {"÷", "\\div "}, {"≤", "\\le "}, {"≥", "\\ge "}, {"≠", "\\neq "},
           {"π", "\\pi "}, {"∞", "\\infty "}, {"√", "\\sqrt"}, {"°", ""}, {"€", ""}, {"£", ""}, {"¥", ""}, {"²", "^2"},
           {"³", "^3"}, {"·", "\\cdot "}, {"∪", "\\cup "}, {"∈", "\\in "}, {"±", "\\pm "}, {"，", ","}, {"：", ":"},
           {"\xC2\xA0", " "}})
    replace_all(s, a, b);
  // LaTeX thousands separators "11,\!111" and spacing.
  {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == ',' && i > 0 && is_digit(s[i - 1]) && s.compare(i + 1, 2, "\\!") == 0) {
        size_t k = i + 3;
        while (k < s.size() && s[k] == ' ') ++k;
        if (k + 2 < s.size() && is_digit(s[k]) && is_digit(s[k + 1]) && is_digit(s[k + 2])) {
          i = k - 1;
          continue;
        }
      }
      out += s[i];
    }
    s.swap(out);
  }
  for (const char* c : {"\\left\\{", "\\right\\}"}) replace_all(s, c, c[1] == 'l' ? "\\{" : "\\}");
  replace_all(s, "\\left.", "");
  replace_all(s, "\\right.", "");
  for (const char* c : {"\\left", "\\right", "\\bigl", "\\bigr", "\\Bigl", "\\Bigr", "\\big", "\\Big", "\\displaystyle",
                        "\\limits", "\\qquad", "\\quad", "\\mathbf", "\\boldsymbol", "\\mathit", "\\mathsf"})
    replace_cmd(s, c, " ");
  {  // spacing commands (but not the row separator "\\\\")
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\\' && i + 1 < s.size() && s[i + 1] == '\\') {
        out += "\\\\";
        ++i;
        continue;
      }
      if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == ',' || s[i + 1] == ';' || s[i + 1] == ':' || s[i + 1] == '!' || s[i + 1] == ' ')) {
        out += ' ';
        ++i;
        continue;
      }
      out += s[i] == '~' ? ' ' : s[i];
    }
    s.swap(out);
  }
  for (const char* c : {"\\dfrac", "\\tfrac", "\\cfrac"}) replace_cmd(s, c, "\\frac");
  replace_cmd(s, "\\dbinom", "\\binom");
  replace_all(s, "^{\\circ}", "");
  replace_all(s, "^\\circ", "");
  replace_cmd(s, "\\circ", "");
  replace_cmd(s, "\\degree", "");
  replace_cmd(s, "\\degrees", "");
  replace_all(s, "\\%", "");
  replace_all(s, "%", "");
  replace_all(s, "\\$", "");
  replace_all(s, "$", "");
  replace_cmd(s, "\\dollar", "");
  replace_cmd(s, "\\lt", "<");
  replace_cmd(s, "\\gt", ">");
  replace_all(s, "\\neq", "!=");
  replace_all(s, "=>", ">=");  // not an implication in answers
  replace_all(s, "=<", "<=");
  replace_cmd(s, "\\emptyset", "\\{\\}");
  replace_cmd(s, "\\varnothing", "\\{\\}");
  handle_text_commands(s, units);
  repeating_decimals(s);
  brace_short_args(s);
  strip_unit_words(s, units);
  s = trim(s);
  // Trailing punctuation.
  while (!s.empty() && (s.back() == '.' || s.back() == ',' || s.back() == ';' || s.back() == '!' || s.back() == ':' || is_space(s.back()))) {
    if (s.back() == '!' && s.size() >= 2 && (is_digit(s[s.size() - 2]) || s[s.size() - 2] == ')')) break;  // 5!
    s.pop_back();
  }
  // Leading "=" or ":".
  while (!s.empty() && (s[0] == '=' || s[0] == ':' || is_space(s[0]))) s.erase(0, 1);
  return s;
}

}  // namespace

std::string normalize_answer(std::string s) { return normalize(std::move(s), nullptr); }

namespace {

bool thousands_number(std::string_view t);
// A plain-text number: thousands separators and decimal commas ("7,425,000", "1,000.99", "1000,99", "0,111", "1 000").
std::optional<std::string> plain_number(std::string_view t) {
  std::string s = trim(t);
  if (s.empty()) return std::nullopt;
  std::string sign;
  if (s[0] == '-' || s[0] == '+') {
    if (s[0] == '-') sign = "-";
    s.erase(0, 1);
  }
  for (char c : s)
    if (!is_digit(c) && c != ',' && c != '.' && c != ' ') return std::nullopt;
  if (s.empty() || !(is_digit(s[0]) || s[0] == '.')) return std::nullopt;
  // groups separated by ',' or ' '
  const size_t dot = s.find('.');
  const size_t comma = s.find(',');
  std::string digits;
  if (comma != std::string::npos && dot == std::string::npos && s.find(',', comma + 1) == std::string::npos &&
      s.find(' ') == std::string::npos) {
    const std::string head = s.substr(0, comma), tail = s.substr(comma + 1);
    if ((tail.size() != 3 && tail.size() >= 2) || head == "0") return sign + head + "." + tail;  // decimal comma
    if (tail.size() == 1) return std::nullopt;  // "-2,1": a list
  }
  if ((s.find(',') != std::string::npos || s.find(' ') != std::string::npos) && !thousands_number(s)) return std::nullopt;
  for (char c : s)
    if (c != ',' && c != ' ') digits += c;
  return sign + digits;
}

// "10,455" / "1,000,000.5" (groups of three after the first): a number in any context.
bool thousands_number(std::string_view t) {
  const std::string s = trim(t);
  size_t i = s.size() && (s[0] == '-' || s[0] == '+') ? 1 : 0;
  size_t lead = 0;
  while (i < s.size() && is_digit(s[i])) ++i, ++lead;
  if (lead == 0 || lead > 3) return false;
  int groups = 0;
  const char sep = i < s.size() ? s[i] : ',';
  if (sep != ',' && sep != ' ') return false;
  while (i < s.size() && s[i] == sep) {
    if (i + 3 >= s.size() || !is_digit(s[i + 1]) || !is_digit(s[i + 2]) || !is_digit(s[i + 3])) return false;
    i += 4;
    ++groups;
    if (i < s.size() && is_digit(s[i])) return false;
  }
  if (groups == 0) return false;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_digit(s[i])) ++i;
  }
  return i == s.size();
}

struct Candidate {
  std::string text;
  int priority = 9;
  size_t pos = 0;
  bool plain = false;  // not LaTeX: plain-number rules apply
};

bool connective_gap(std::string_view g) {
  if (g.size() > 80) return false;
  std::string s(g);
  for (const char* c : {"\\quad", "\\qquad", "\\text", "\\(", "\\)", "\\[", "\\]", "$", "{", "}", "\\,", "\\ "}) replace_all(s, c, " ");
  std::string words;
  bool has_and = false;
  size_t i = 0;
  int nwords = 0;
  while (i < s.size()) {
    if (is_alpha(s[i])) {
      size_t e = i;
      while (e < s.size() && is_alpha(s[e])) ++e;
      std::string w = s.substr(i, e - i);
      for (auto& c : w) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (w == "and" || w == "or") has_and = true;
      ++nwords;
      i = e;
    } else {
      if (!(is_space(s[i]) || s[i] == ',' || s[i] == ';' || s[i] == '(' || s[i] == ')' || s[i] == '.')) return false;
      ++i;
    }
  }
  return nwords == 0 || (has_and && nwords <= 6);
}

bool looks_like_bare_answer(std::string_view t) {
  std::string s = trim(t);
  // words inside \text{..}, \mbox{..}, \begin{..}, \end{..} are not prose
  for (const char* c : {"\\begin{", "\\end{"}) {
    for (size_t p = s.find(c); p != std::string::npos; p = s.find(c, p + 1)) {
      const size_t e = s.find('}', p);
      if (e == std::string::npos) break;
      s.replace(p, e + 1 - p, " ");
    }
  }
  const bool has_text_cmd = s.find("\\text") != std::string::npos || s.find("\\mbox") != std::string::npos;
  for (const char* c : {"\\textnormal{", "\\textbf{", "\\textrm{", "\\text{", "\\mbox{", "\\mathrm{", "\\operatorname{"})
    replace_all(s, c, " ");
  for (size_t p = s.find("_{"); p != std::string::npos; p = s.find("_{", p + 1)) {  // subscripts are names: S_{MBCN}
    const size_t e = s.find('}', p);
    if (e == std::string::npos) break;
    s.replace(p, e + 1 - p, " ");
  }
  replace_all(s, "}", " ");
  s = trim(s);
  if (has_text_cmd && s.size() <= 80) return true;  // "\\frac{270}7\\text{ degrees}", "\\text{Navin}"
  if (s.empty() || s.size() > 200) return false;
  // two consecutive words of 2+ letters = prose
  size_t i = 0;
  int run_words = 0;
  while (i < s.size()) {
    if (is_alpha(s[i]) && (i == 0 || s[i - 1] != '\\')) {
      size_t e = i;
      while (e < s.size() && is_alpha(s[e])) ++e;
      if (e - i >= 2) {
        const std::string w = s.substr(i, e - i);
        const bool mathword = w == "and" || w == "or" || w == "sqrt" || w == "pi" || w == "sin" || w == "cos" ||
                              w == "tan" || w == "log" || w == "ln" || w == "percent" || w == "pct" || w == "percentage";
        if (!mathword && ++run_words >= 2) return false;
        if (!mathword && e - i >= 4 && (i > 0 || e < s.size())) return false;  // a prose word next to other content
      }
      i = e;
    } else {
      if (s[i] == '\\') {  // skip a command name
        ++i;
        while (i < s.size() && is_alpha(s[i])) ++i;
        continue;
      }
      if (s[i] != ' ') run_words = 0;
      ++i;
    }
  }
  return true;
}

// Answers joined by "and" / "," (the last box and the boxes before it): at most kMaxJoined, an answer repeated
// ("\boxed{5} \boxed{5}") counted once.
constexpr size_t kMaxJoined = 16;
std::string join_answers(const std::vector<std::string>& parts) {
  std::vector<std::string> seen;
  std::string joined;
  for (const auto& p : parts) {
    const std::string t = trim(p);
    if (std::find(seen.begin(), seen.end(), t) != seen.end()) continue;
    seen.push_back(t);
    joined += (joined.empty() ? "" : " , ") + p;
  }
  return joined;
}

std::optional<int> clock_minutes(std::string_view raw);

std::vector<Candidate> candidates(std::string_view text, ExtractionMode mode, bool is_gold) {
  std::vector<Candidate> out;
  if (text.size() < 40 && clock_minutes(text)) return {{trim(text), 0, 0, true}};  // "10:30 a.m.": one answer
  // 1. boxes (the last one, with earlier ones joined by "and"/","), 2. <answer> tags
  const auto boxes = find_boxes(text);
  const size_t final_at = [&] {
    size_t best = std::string_view::npos;
    for (std::string_view pat : {std::string_view("final answer is"), std::string_view("final answer:")}) {
      std::string low(text);
      for (auto& ch : low) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      const size_t p = low.rfind(pat);
      if (p != std::string::npos && (best == std::string_view::npos || p > best)) best = p;
    }
    return best;
  }();
  if (!boxes.empty() && final_at != std::string_view::npos && final_at > boxes.back().end) {
    if (auto inner = candidates(text.substr(final_at), ExtractionMode::Flexible, is_gold); !inner.empty()) {
      for (auto& c : inner) c.priority = 0;
      return inner;
    }
  }
  if (!boxes.empty()) {
    size_t k = boxes.size() - 1;
    while (k > 0 && boxes.size() - k < kMaxJoined &&
           connective_gap(text.substr(boxes[k - 1].end, boxes[k].begin - boxes[k - 1].end)))
      --k;
    std::vector<std::string> parts;
    for (size_t i = k; i < boxes.size(); ++i) parts.push_back(boxes[i].content);
    out.push_back({join_answers(parts), 0, boxes.back().begin, false});
    return out;
  }
  if (auto a = last_answer_tag(text)) {
    auto inner = candidates(*a, ExtractionMode::Flexible, is_gold);  // explicitly tagged: any form inside counts
    if (!inner.empty()) {
      for (auto& c : inner) c.priority = 0;
      return inner;
    }
  }
  // 3. "the answer is ...", "#### N"
  if (auto h = hash_answer(text)) {
    out.push_back({*h, 1, 0, true});
    return out;
  }
  if (auto a = answer_is_phrase(text)) {
    if (a->size() < text.size()) {
      auto inner = candidates(*a, ExtractionMode::Flexible, is_gold);
      if (!inner.empty()) {
        for (auto& c : inner) c.priority = 1;
        return inner;
      }
    }
  }
  // 4. the last math span (with earlier ones joined by "and") or the last number after it
  const auto spans = find_math_spans(text);
  Candidate span_c;
  bool have_span = false;
  if (!spans.empty()) {
    size_t k = spans.size() - 1;
    while (k > 0 && trim(spans[k].content).empty()) --k;
    const size_t last = k;
    while (k > 0 && last - k + 1 < kMaxJoined &&
           connective_gap(text.substr(spans[k - 1].end, spans[k].begin - spans[k - 1].end)))
      --k;
    std::vector<std::string> parts;
    for (size_t i = k; i <= last; ++i) parts.push_back(spans[i].content);
    const std::string joined = join_answers(parts);
    span_c = {joined, 2, spans[last].begin, false};
    have_span = !trim(joined).empty();
  }
  if (mode == ExtractionMode::Strict && !is_gold) {
    if (have_span) out.push_back(span_c);
    return out;
  }
  if (!have_span && looks_like_bare_answer(text)) {
    out.push_back({std::string(text), 2, 0, true});
    // A bare LaTeX answer is the answer: no number picked out of it ("1 - \frac{1}{e}" is not 1).
    if (text.find('\\') != std::string_view::npos) return out;
  }
  // last number outside math spans
  std::string outside(text);
  for (const auto& sp : spans)
    for (size_t i = sp.begin; i < sp.end && i < outside.size(); ++i) outside[i] = ' ';
  const auto nums = find_numbers(outside);
  size_t num_pos = 0;
  if (!nums.empty()) num_pos = outside.rfind(nums.back().substr(nums.back()[0] == '-' ? 1 : 0));
  if (have_span && (nums.empty() || span_c.pos > num_pos)) {
    out.push_back(span_c);
  } else if (!nums.empty()) {
    out.push_back({nums.back(), 2, num_pos, true});
    if (have_span) out.push_back(span_c);
  } else if (have_span) {
    out.push_back(span_c);
  }
  return out;
}

// ---- comparison -----------------------------------------------------------------------------

struct Cmp {
  const VerifyOptions& opt;
  mutable int depth_ = 0;
  mutable const char* rule = "structural";  // the rule that decided the last comparison (for --explain)

  static bool scalar_kind(const Node& n) {
    switch (n.kind) {
      case NodeKind::Num: case NodeKind::Sym: case NodeKind::Const: case NodeKind::Add: case NodeKind::Mul:
      case NodeKind::Div: case NodeKind::Pow: case NodeKind::Neg: case NodeKind::Func: return true;
      default: return false;
    }
  }

  static bool label_like(const Node& n) {
    switch (n.kind) {
      case NodeKind::Sym: return true;
      case NodeKind::Func: return n.name == "abs" && label_like(n.ch[0]);
      case NodeKind::Mul: case NodeKind::Div: case NodeKind::Ratio: case NodeKind::Tuple:
        for (const auto& c : n.ch)
          if (!label_like(c)) return false;
        return !n.ch.empty();
      default: return false;
    }
  }

  // Scalars: exact / decimal-rounding / interval equality (numeric.h); what cannot be evaluated (infinity, undefined
  // points) compares as identical trees.
  bool scalar_equal(const Node& a, const Node& b) const {
    const NumericResult r = numeric_equal(a, b, opt.float_rounding);
    if (r.verdict != NumVerdict::Unknown) {
      rule = r.rule;
      return r.verdict == NumVerdict::Equal;
    }
    rule = "structural";
    return node_to_string(a) == node_to_string(b);
  }

  bool proportional(const Node& fa, const Node& fb, bool positive) const {
    rule = "proportional";
    return rewards::proportional(fa, fb, positive) == NumVerdict::Equal;
  }

  static Node diff(const Node& l, const Node& r) {
    Node d;
    d.kind = NodeKind::Add;
    Node neg;
    neg.kind = NodeKind::Neg;
    neg.ch = {r};
    d.ch = {l, neg};
    return d;
  }

  // x ~ y handling and "x \in S" -> S.
  static Node simplify_rel(Node n, bool allow_in) {
    if (n.kind != NodeKind::Rel) return n;
    if (n.ops.size() == 1 && n.ops[0] == "in" && allow_in) return n.ch[1];
    // approx: cut at the first "~" if an "=" precedes it, else treat "~" as "="
    const auto it = std::find(n.ops.begin(), n.ops.end(), "~");
    if (it != n.ops.end()) {
      const size_t k = static_cast<size_t>(it - n.ops.begin());
      bool eq_before = false;
      for (size_t i = 0; i < k; ++i) eq_before |= n.ops[i] == "=";
      if (eq_before) {
        n.ops.resize(k);
        n.ch.resize(k + 1);
      } else {
        for (auto& o : n.ops)
          if (o == "~") o = "=";
      }
      if (n.ops.empty()) return n.ch[0];
    }
    return n;
  }

  static bool all_eq(const Node& n) {
    if (n.kind != NodeKind::Rel) return false;
    for (const auto& o : n.ops)
      if (o != "=") return false;
    return true;
  }

  // The value an equation names: "x = 3" -> 3, "x = 1+1 = 2" -> 2 (gold: only when the lhs is a label or the chain
  // has 3+ parts; prediction: always).
  static Node value_of(const Node& n, bool is_gold) {
    if (!all_eq(n)) return n;
    if (!is_gold || label_like(n.ch[0]) || n.ch.size() >= 3) return n.ch.back();
    return n;
  }

  // Both sides "(names) = (values)" with the same names in another order: the prediction's values in the gold's
  // name order (nullopt when the labels are not such tuples).
  static std::optional<Node> align_labels(const Node& g, const Node& p) {
    if (g.ch.size() != 2 || p.ch.size() != 2) return std::nullopt;
    const Node &gl = g.ch[0], &pl = p.ch[0], &pr = p.ch[1];
    if (gl.kind != NodeKind::Tuple || pl.kind != NodeKind::Tuple || pr.kind != NodeKind::Tuple) return std::nullopt;
    if (gl.ch.size() != pl.ch.size() || pl.ch.size() != pr.ch.size()) return std::nullopt;
    std::vector<std::string> gn, pn;
    for (const auto& c : gl.ch) {
      if (c.kind != NodeKind::Sym) return std::nullopt;
      gn.push_back(c.name);
    }
    for (const auto& c : pl.ch) {
      if (c.kind != NodeKind::Sym) return std::nullopt;
      pn.push_back(c.name);
    }
    if (gn == pn || !std::is_permutation(gn.begin(), gn.end(), pn.begin(), pn.end())) return std::nullopt;
    Node out = pr;
    for (size_t i = 0; i < gn.size(); ++i)
      out.ch[i] = pr.ch[static_cast<size_t>(std::find(pn.begin(), pn.end(), gn[i]) - pn.begin())];
    return out;
  }

  // a < x < b  ->  interval (a, b) (marked so that "x in [a,b]" matches only with allow_set_relation_comp)
  static std::optional<Node> chain_interval(const Node& n) {
    if (n.kind != NodeKind::Rel || n.ch.size() != 3) return std::nullopt;
    const std::string &o1 = n.ops[0], &o2 = n.ops[1];
    const bool lt = (o1 == "<" || o1 == "<=") && (o2 == "<" || o2 == "<=");
    const bool gt = (o1 == ">" || o1 == ">=") && (o2 == ">" || o2 == ">=");
    if (!lt && !gt) return std::nullopt;
    Node t;
    t.kind = NodeKind::Tuple;
    t.name = "interval";
    if (lt) {
      t.ch = {n.ch[0], n.ch[2]};
      t.lb = o1 == "<" ? '(' : '[';
      t.rb = o2 == "<" ? ')' : ']';
    } else {
      t.ch = {n.ch[2], n.ch[0]};
      t.lb = o2 == ">" ? '(' : '[';
      t.rb = o1 == ">" ? ')' : ']';
    }
    return t;
  }

  // Expands \pm into the list of its values (bounded).
  static std::vector<Node> expand_pm(const Node& n, int budget = 16) {
    if (n.kind == NodeKind::PlusMinus) {
      std::vector<Node> out;
      for (const auto& a : expand_pm(n.ch[0], budget))
        for (const auto& b : expand_pm(n.ch[1], budget)) {
          if (static_cast<int>(out.size()) >= budget) return out;
          Node plus;
          plus.kind = NodeKind::Add;
          plus.ch = {a, b};
          Node minus;
          minus.kind = NodeKind::Add;
          Node nb;
          nb.kind = NodeKind::Neg;
          nb.ch = {b};
          minus.ch = {a, nb};
          out.push_back(plus);
          out.push_back(minus);
        }
      return out;
    }
    if (!scalar_kind(n) && n.kind != NodeKind::Tuple) return {n};
    // distribute over children
    std::vector<Node> acc = {n};
    for (size_t i = 0; i < n.ch.size(); ++i) {
      const auto vals = expand_pm(n.ch[i], budget);
      if (vals.size() == 1) continue;
      std::vector<Node> next;
      for (const auto& base : acc)
        for (const auto& v : vals) {
          if (static_cast<int>(next.size()) >= budget) break;
          Node x = base;
          x.ch[i] = v;
          next.push_back(x);
        }
      acc.swap(next);
    }
    return acc;
  }

  static bool contains_pm(const Node& n) {
    if (n.kind == NodeKind::PlusMinus) return true;
    for (const auto& c : n.ch)
      if (contains_pm(c)) return true;
    return false;
  }

  // Element list of a collection-like node (List, Set) after \pm expansion and equation values.
  std::vector<Node> elements(const Node& n, bool is_gold) const {
    std::vector<Node> out;
    for (const auto& c : n.ch) {
      Node v = value_of(simplify_rel(c, true), is_gold);
      if (contains_pm(v)) {
        for (auto& x : expand_pm(v)) out.push_back(std::move(x));
      } else {
        out.push_back(std::move(v));
      }
    }
    return out;
  }

  // Set semantics (duplicates collapse, as in Math-Verify's FiniteSet): every element of each side has an equal
  // element on the other side.
  bool unordered_equal(const std::vector<Node>& a, const std::vector<Node>& b, bool ga) const {
    if (a.empty() != b.empty() || a.size() > 64 || b.size() > 64) return false;
    for (const auto& x : a) {
      bool found = false;
      for (size_t j = 0; j < b.size() && !found; ++j) found = equal(x, b[j], ga);
      if (!found) return false;
    }
    for (const auto& y : b) {
      bool found = false;
      for (size_t i = 0; i < a.size() && !found; ++i) found = equal(a[i], y, ga);
      if (!found) return false;
    }
    return true;
  }

  bool ordered_equal(const std::vector<Node>& a, const std::vector<Node>& b, bool ga) const {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!equal(a[i], b[i], ga)) return false;
    return true;
  }

  static bool collection(const Node& n) { return n.kind == NodeKind::List || n.kind == NodeKind::Set; }

  // g: gold side (already prepared), p: prediction side. `ga`: g is the gold (label rules are asymmetric).
  bool equal(const Node& g0, const Node& p0, bool ga = true) const {
    // Bounded recursion whatever the input (the parser bounds nesting; this bounds the comparison's own recursion).
    struct Guard {
      int& d;
      explicit Guard(int& x) : d(++x) {}
      ~Guard() { --d; }
    } guard(depth_);
    if (depth_ > 64) return node_to_string(g0) == node_to_string(p0);
    Node g = simplify_rel(g0, true), p = simplify_rel(p0, true);
    // x \in S vs an inequality chain: only with allow_set_relation_comp
    if (g0.kind == NodeKind::Rel && g0.ops.size() == 1 && g0.ops[0] == "in" && chain_interval(p0) && !opt.allow_set_relation_comp)
      return false;
    if (auto ci = chain_interval(g); ci && p.kind == NodeKind::Tuple) g = *ci;
    if (auto ci = chain_interval(p); ci && g.kind == NodeKind::Tuple) p = *ci;
    // equations
    const bool geq = all_eq(g), peq = all_eq(p);
    if (geq && peq) {
      // "(p,q,r) = (3,2,7)" vs "(q,p,r) = (3,2,7)": the same names in another order name other values
      if (auto reordered = align_labels(g, p)) return equal(g.ch[1], *reordered, ga);
      const Node gv = value_of(g, ga), pv = value_of(p, !ga);
      if (!all_eq(gv) && !all_eq(pv) && equal(gv, pv, ga)) return true;
      if (g.ch.size() == 2 && p.ch.size() == 2) {
        if (scalar_kind(g.ch[0]) && scalar_kind(g.ch[1]) && scalar_kind(p.ch[0]) && scalar_kind(p.ch[1]) &&
            proportional(diff(g.ch[0], g.ch[1]), diff(p.ch[0], p.ch[1]), false))
          return true;
        if (equal(g.ch[0], p.ch[0], ga) && equal(g.ch[1], p.ch[1], ga)) return true;
      }
      return node_to_string(g) == node_to_string(p);
    }
    if (geq) {
      const Node gv = value_of(g, ga);
      if (all_eq(gv)) return false;
      return equal(gv, p, ga);
    }
    if (peq) return equal(g, value_of(p, !ga), ga);
    // inequalities
    if (g.kind == NodeKind::Rel || p.kind == NodeKind::Rel) {
      if (g.kind != NodeKind::Rel || p.kind != NodeKind::Rel) return false;
      if (g.ch.size() == 2 && p.ch.size() == 2 && g.ops[0] != "in" && p.ops[0] != "in") {
        auto norm = [](const Node& r, Node& lo, Node& hi, std::string& op) {
          op = r.ops[0];
          lo = r.ch[0];
          hi = r.ch[1];
          if (op == ">" || op == ">=") {
            std::swap(lo, hi);
            op = op == ">" ? "<" : "<=";
          }
        };
        Node gl, gh, pl, ph;
        std::string go, po;
        norm(g, gl, gh, go);
        norm(p, pl, ph, po);
        if (go != po) return false;
        if (equal(gl, pl, ga) && equal(gh, ph, ga)) return true;
        if (go == "!=" && equal(gl, ph, ga) && equal(gh, pl, ga)) return true;
        if (scalar_kind(gl) && scalar_kind(gh) && scalar_kind(pl) && scalar_kind(ph))
          return proportional(diff(gh, gl), diff(ph, pl), go != "!=");
        return false;
      }
      if (g.ch.size() != p.ch.size() || g.ops != p.ops) return false;
      for (size_t i = 0; i < g.ch.size(); ++i)
        if (!equal(g.ch[i], p.ch[i], ga)) return false;
      return true;
    }
    // \pm on either side: compare the sets of values
    if (contains_pm(g) || contains_pm(p)) {
      if (g.kind == NodeKind::Tuple || p.kind == NodeKind::Tuple) {
        // (a \pm b, c) style: fall through to structural
      } else {
        Node gs;
        gs.kind = NodeKind::Set;
        Node ps = gs;
        gs.ch = collection(g) ? g.ch : std::vector<Node>{g};
        ps.ch = collection(p) ? p.ch : std::vector<Node>{p};
        const auto ge = elements(gs, ga), pe = elements(ps, !ga);
        for (const auto* side : {&ge, &pe})
          for (const auto& x : *side)
            if (contains_pm(x)) return node_to_string(g) == node_to_string(p);  // \pm we cannot expand (inside a union, ...)
        return unordered_equal(ge, pe, ga);
      }
    }
    // collections
    if (collection(g) || collection(p)) {
      if (collection(g) && collection(p)) return unordered_equal(elements(g, ga), elements(p, !ga), ga);
      const Node& c = collection(g) ? g : p;
      const Node& o = collection(g) ? p : g;
      if (o.kind == NodeKind::Tuple && c.kind == NodeKind::List) {
        // "1,3" vs "(1,3)": ordered
        const auto ce = elements(c, collection(g) ? ga : !ga);
        return collection(g) ? ordered_equal(ce, o.ch, ga) : ordered_equal(o.ch, ce, ga);
      }
      if (c.ch.size() == 1) return collection(g) ? equal(c.ch[0], o, ga) : equal(o, c.ch[0], ga);
      const auto ce = elements(c, collection(g) ? ga : !ga);
      if (ce.size() == 1) return collection(g) ? equal(ce[0], o, ga) : equal(o, ce[0], ga);
      return false;
    }
    // matrix arithmetic written out in the answer: A + B, A B, 2A
    if ((g.kind == NodeKind::Matrix) != (p.kind == NodeKind::Matrix) && has_matrix(g) && has_matrix(p)) {
      rule = "matrix";
      return matrix_equal(g, p, opt.float_rounding) == NumVerdict::Equal;
    }
    if (g.kind != p.kind) {
      if (g.kind == NodeKind::Text || p.kind == NodeKind::Text) return text_of(g) == text_of(p);
      if (g.kind == NodeKind::Union || p.kind == NodeKind::Union) return false;
      if (!(scalar_kind(g) && scalar_kind(p))) return node_to_string(g) == node_to_string(p);
    }
    switch (g.kind) {
      case NodeKind::Tuple:
        if (g.lb != p.lb || g.rb != p.rb) return false;
        return ordered_equal(g.ch, p.ch, ga);
      case NodeKind::Union: return unordered_equal(g.ch, p.ch, ga);
      case NodeKind::Ratio: return ordered_equal(g.ch, p.ch, ga);
      case NodeKind::Matrix:
        if (g.rows != p.rows || g.cols != p.cols) return false;
        return ordered_equal(g.ch, p.ch, ga);
      case NodeKind::Text: return text_of(g) == text_of(p);
      default: break;
    }
    if (scalar_kind(g) && scalar_kind(p)) return scalar_equal(g, p);
    return node_to_string(g) == node_to_string(p);
  }

  static bool has_matrix(const Node& n) {
    if (n.kind == NodeKind::Matrix) return true;
    for (const auto& c : n.ch)
      if (has_matrix(c)) return true;
    return false;
  }

  // Text answers compare case-insensitively with spacing and trailing punctuation folded; every other character
  // (signs, digits, operators) counts.
  static std::string text_of(const Node& n) {
    const std::string s = n.kind == NodeKind::Text ? n.name : node_to_string(n);
    std::string out;
    for (char c : s) {
      if (is_space(c)) {
        if (!out.empty() && out.back() != ' ') out += ' ';
        continue;
      }
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    while (!out.empty() && (out.back() == ' ' || out.back() == '.')) out.pop_back();
    return out;
  }
};

// The text of an answer with spacing folded: white space is dropped except between two letters or digits ("1 2" and
// "12" stay apart), so equal compact texts are the same answer written with other spacing.
std::string compact(const std::string& s) {
  std::string out;
  bool pending_space = false;
  auto alnum = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; };
  for (char c : s) {
    if (is_space(c)) {
      pending_space = true;
      continue;
    }
    if (pending_space && !out.empty() && alnum(out.back()) && alnum(c)) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

struct Parsed {
  std::optional<Node> node;
  std::string extracted;  // the candidate as extracted
  std::string text;       // normalised
  bool percent = false;   // a single value written with a percent sign
  std::vector<std::string> units;  // unit words dropped by the normalisation (canonical, sorted)
};

// "50\%", "50%", "50 percent" (a trailing percent sign or word, after spacing, "$" and a full stop).
bool ends_with_percent(std::string_view t) {
  size_t e = t.size();
  while (e > 0 && (is_space(t[e - 1]) || t[e - 1] == '$' || t[e - 1] == '.' || t[e - 1] == '}')) --e;
  const std::string_view s = t.substr(0, e);
  return s.ends_with("%") || s.ends_with("percent") || s.ends_with("pct");
}

Parsed parse_candidate(const Candidate& c) {
  Parsed p;
  p.extracted = c.text;
  std::string t = c.text;
  if (c.plain) {
    if (auto num = plain_number(t)) t = *num;
  } else if (thousands_number(t)) {
    t.erase(std::remove_if(t.begin(), t.end(), [](char ch) { return ch == ',' || ch == ' '; }), t.end());
  }
  p.text = normalize(t, &p.units);
  std::sort(p.units.begin(), p.units.end());
  if (p.text.empty()) return p;
  if (c.plain) {
    if (auto num = plain_number(p.text)) p.text = *num;
  } else if (thousands_number(p.text)) {  // "14{,}916" -> "14 916" -> 14916
    p.text.erase(std::remove_if(p.text.begin(), p.text.end(), [](char ch) { return ch == ',' || ch == ' '; }), p.text.end());
  }
  p.node = parse_math(p.text, kMaxAnswer);
  p.percent = p.node && Cmp::scalar_kind(*p.node) && ends_with_percent(c.text);
  return p;
}

}  // namespace

std::optional<std::string_view> accuracy_answer_part(std::string_view text, const AccuracyOptions& o) {
  if (o.require_think_close) {
    if (text.find("</think>") == std::string_view::npos) return std::nullopt;
    text = after_think(text);
  } else if (text.find("</think>") != std::string_view::npos) {
    // The final answer is the one after the chain of thought when there is one there.
    const std::string_view after = after_think(text);
    if (!extract_answer_candidates(after, o.extraction).empty()) text = after;
  }
  const size_t n = static_cast<size_t>(std::max(0, o.tail_chars));
  if (n == 0 || text.size() <= n) return text;
  size_t b = text.size() - n;
  while (b < text.size() && (static_cast<unsigned char>(text[b]) & 0xC0) == 0x80) ++b;
  return text.substr(b);
}

Verdict accuracy_verdict(std::string_view gold, std::string_view response, const AccuracyOptions& o,
                         VerifyExplanation* why) {
  const auto part = accuracy_answer_part(response, o);
  if (!part) {
    if (why) {
      *why = {};
      why->rule = "no_think_close";
    }
    return Verdict::NotEqual;
  }
  VerifyOptions vo;
  vo.float_rounding = o.float_rounding;
  vo.extraction = o.extraction;
  return math_verify(gold, *part, vo, why);
}

std::vector<std::string> extract_answer_candidates(std::string_view text, ExtractionMode mode) {
  std::vector<std::string> out;
  for (const auto& c : candidates(text, mode, false)) out.push_back(c.text);
  return out;
}

namespace {

// The first candidate that parses, else the first non-empty one as text.
Parsed first_parsed(const std::vector<Candidate>& cs) {
  Parsed best;
  for (const auto& c : cs) {
    Parsed x = parse_candidate(c);
    if (x.text.empty()) continue;
    if (!x.node) {
      // "lim ... = 1", "F_n = \\sum ...": the part after the last top-level '=' may still parse
      const size_t eq = x.text.rfind('=');
      if (eq != std::string::npos && eq + 1 < x.text.size() && x.text.find('=', 0) != std::string::npos) {
        if (auto rhs = parse_math(x.text.substr(eq + 1), kMaxAnswer)) {
          x.node = std::move(rhs);
        }
      }
    }
    if (best.text.empty()) best = x;
    if (x.node) return x;
  }
  return best;
}

// Multiple choice: a gold that is a single option letter A-J ("C", "(C)", "C.", "\\text{(C)}", "C. is the one").
std::optional<char> mc_letter(std::string_view s, bool first) {
  std::optional<char> found;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c < 'A' || c > 'J') continue;
    const bool left = i == 0 || s[i - 1] == '(' || s[i - 1] == ' ' || s[i - 1] == '{' || s[i - 1] == '\n' || s[i - 1] == '$';
    const char r = i + 1 < s.size() ? s[i + 1] : '\0';
    const bool right = r == '\0' || r == ')' || r == '.' || r == '}' || r == ',' || r == '$' || r == ':' ||
                       (r == ' ' && (i == 0 || s[i - 1] == '('));
    const bool paren = i > 0 && s[i - 1] == '(' && r == ')';
    if (!(left && right) && !paren) continue;
    found = c;
    if (first) return found;
  }
  return found;
}

std::optional<char> gold_mc(std::string_view gold) {
  std::string g = trim(gold);
  replace_all(g, "\\text{", "");
  replace_all(g, "\\textbf{", "");
  replace_all(g, "}", "");
  replace_all(g, "$", "");
  g = trim(g);
  if (g.size() == 1 && g[0] >= 'A' && g[0] <= 'J') return g[0];
  if (g.size() == 3 && g[0] == '(' && g[2] == ')' && g[1] >= 'A' && g[1] <= 'J') return g[1];
  // an option statement: "C. is the one", "The answer is (B).", "The options are (A) and (C)."
  const bool digits = g.find_first_of("0123456789") != std::string::npos;
  if (digits) return std::nullopt;
  if ((g.size() >= 2 && g[0] >= 'A' && g[0] <= 'J' && (g[1] == '.' || g[1] == ')')) || g.find('(') != std::string::npos)
    return mc_letter(g, true);
  return std::nullopt;
}

std::optional<char> pred_mc(std::string_view pred) {
  if (const auto boxes = find_boxes(pred); !boxes.empty()) return mc_letter(boxes.back().content, false);
  if (auto a = answer_is_phrase(pred)) {
    if (auto l = mc_letter(*a, true)) return l;
  }
  // No box and no "answer is": the option letter named, unless several are ("(A) or maybe (B)" hedges).
  const auto first = mc_letter(pred, true), last = mc_letter(pred, false);
  if (first != last) return std::nullopt;
  return first;
}

}  // namespace

namespace {

// A clock time "10:30", "10:30 a.m.", "3:05 PM", "\\text{10:30 a.m.}" as minutes after midnight; a time without
// a.m./p.m. reads as a 24-hour time. nullopt when the text is not a clock time.
std::optional<int> clock_minutes(std::string_view raw) {
  std::string t;
  std::string s(raw);
  for (const char* c : {"\\text{", "\\mathrm{", "\\textrm{", "\\mbox{"}) replace_all(s, c, " ");
  for (char c : s)
    if (!is_space(c) && c != '}' && c != '{' && c != '$' && c != '~' && c != '\\' && c != ',')
      t += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t i = 0, h = 0, m = 0;
  while (i < t.size() && is_digit(t[i]) && i < 2) h = h * 10 + static_cast<size_t>(t[i++] - '0');
  if (i == 0 || i >= t.size() || t[i] != ':') return std::nullopt;
  ++i;
  if (i + 2 > t.size() || !is_digit(t[i]) || !is_digit(t[i + 1])) return std::nullopt;
  m = static_cast<size_t>(t[i] - '0') * 10 + static_cast<size_t>(t[i + 1] - '0');
  i += 2;
  std::string suffix = t.substr(i);
  while (!suffix.empty() && suffix.back() == '.') suffix.pop_back();
  if (m > 59) return std::nullopt;
  if (suffix.empty()) return h <= 24 ? std::optional<int>(static_cast<int>(h * 60 + m)) : std::nullopt;
  const bool am = suffix == "am" || suffix == "a.m", pm = suffix == "pm" || suffix == "p.m";
  if ((!am && !pm) || h < 1 || h > 12) return std::nullopt;
  return static_cast<int>((h % 12 + (pm ? 12 : 0)) * 60 + m);
}

// "\\text{Paris}" -> "Paris"
std::string unwrap_text(std::string s) {
  for (const char* c : {"\\textnormal{", "\\textbf{", "\\textrm{", "\\textit{", "\\text{", "\\mbox{", "\\mathrm{"})
    replace_all(s, c, "");
  replace_all(s, "}", "");
  return trim(s);
}

// A text answer made of words (letters, spaces, hyphens; one word of 3+ letters at least): "Paris", "Mrs Smith".
bool word_answer(std::string_view t) {
  size_t run = 0, longest = 0;
  for (char c : t) {
    if (is_alpha(c)) {
      longest = std::max(longest, ++run);
    } else if (c == ' ' || c == '-') {
      run = 0;
    } else {
      return false;
    }
  }
  return longest >= 3;
}

Node percent_of(const Node& x) {  // x% = x / 100
  Node hundred;
  hundred.kind = NodeKind::Num;
  hundred.num = 100;
  hundred.lit = "100";
  Node d;
  d.kind = NodeKind::Div;
  d.ch = {x, hundred};
  return d;
}

void describe(const Parsed& x, std::string& extracted, std::string& normalized, std::string& canonical, std::string& value) {
  extracted = x.extracted;
  normalized = x.text;
  canonical = x.node ? node_to_string(*x.node) : "";
  value = x.node ? value_string(*x.node) : "";
}

}  // namespace

Verdict math_verify(std::string_view gold, std::string_view pred, const VerifyOptions& opt, VerifyExplanation* why) {
  auto done = [&](Verdict v, const char* rule) {
    if (why) {
      why->verdict = v;
      why->rule = rule;
    }
    return v;
  };
  if (auto g = gold_mc(gold)) {
    const auto p = pred_mc(pred);
    if (why) {
      why->gold_extracted = why->gold_normalized = why->gold_canonical = std::string(1, *g);
      why->pred_extracted = why->pred_normalized = why->pred_canonical = p ? std::string(1, *p) : "";
    }
    return done(p && *p == *g ? Verdict::Equal : Verdict::NotEqual, "multiple_choice");
  }
  // Each side's first candidate that parses (several would let a response hedge).
  const Parsed g = first_parsed(candidates(gold, ExtractionMode::Flexible, true));
  if (why) describe(g, why->gold_extracted, why->gold_normalized, why->gold_canonical, why->gold_value);
  if (g.text.empty()) return done(Verdict::GoldUnparseable, "gold_unparseable");
  // The answer is at the end: a response is read from its last kMaxResponse bytes (at a code-point boundary).
  if (pred.size() > kMaxResponse) {
    size_t b = pred.size() - kMaxResponse;
    while (b < pred.size() && (static_cast<unsigned char>(pred[b]) & 0xC0) == 0x80) ++b;
    pred = pred.substr(b);
  }
  const Parsed p = first_parsed(candidates(pred, opt.extraction, false));
  if (why) describe(p, why->pred_extracted, why->pred_normalized, why->pred_canonical, why->pred_value);
  if (p.text.empty()) return done(Verdict::NotEqual, "no_answer");
  if (const auto gt = clock_minutes(g.extracted)) {  // extraction keeps a clock time whole
    if (const auto pt = clock_minutes(p.extracted)) return done(*gt == *pt ? Verdict::Equal : Verdict::NotEqual, "clock_time");
  }
  // "15 cm^2" is not "15 mm^2" nor "15 cm^3" (units are dropped for the comparison, but not when both sides differ)
  if (!g.units.empty() && !p.units.empty() && g.units != p.units) return done(Verdict::NotEqual, "units_differ");
  if (compact(g.text) == compact(p.text)) return done(Verdict::Equal, "same_text");
  if (std::string a = unwrap_text(g.text), b = unwrap_text(p.text); word_answer(a) && word_answer(b)) {
    // "Paris" = "paris": words, not products of symbols
    a = compact(a);
    b = compact(b);
    for (auto* x : {&a, &b})
      for (auto& ch : *x) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return done(a == b ? Verdict::Equal : Verdict::NotEqual, "text");
  }
  if (!g.node || !p.node) return done(Verdict::NotEqual, "unparsed_text_differs");
  const Cmp cmp{opt};
  if (cmp.equal(*g.node, *p.node)) return done(Verdict::Equal, cmp.rule);
  // "50\%" is 50 (a "what percent" gold written without the sign) or 1/2 (the value of 50%): both readings count.
  if (p.percent && cmp.equal(*g.node, percent_of(*p.node))) return done(Verdict::Equal, "percent");
  if (g.percent && cmp.equal(percent_of(*g.node), *p.node)) return done(Verdict::Equal, "percent");
  return done(Verdict::NotEqual, cmp.rule);
}

}  // namespace reasonrl::rewards
