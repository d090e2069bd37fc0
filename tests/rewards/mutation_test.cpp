// Mutation conformance of the math grader (issue #16): every gold answer of the peer data (MATH-500, GSM8K, AIME 24/25,
// OlymMATH en/zh, Math-Verify's cases) is mutated into wrong answers (a sign flipped, a digit changed, a decimal point
// moved, ...) that the grader must never pay, and rewritten into equivalent answers (\dfrac, spacing, 0.5 vs \frac12,
// reordered sets, x = 3, thousands separators) that it should pay. Mutations are textual and value-changing by
// construction; the kinds and their exclusions are listed with each generator. Prints the table per kind.
#include <gtest/gtest.h>
#include "tests/require.h"

#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "rewards/math_verify.h"
#include "tests/rewards/peer_data.h"

namespace reasonrl::rewards {
namespace {

namespace fs = std::filesystem;
using peer::kPeer;
using peer::read_jsonl;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// Number literals [b, e): digits with at most one '.', not part of a command name, a subscript or a word.
std::vector<std::pair<size_t, size_t>> literals(const std::string& s) {
  std::vector<std::pair<size_t, size_t>> out;
  size_t i = 0;
  while (i < s.size()) {
    if (!is_digit(s[i])) {
      ++i;
      continue;
    }
    size_t e = i;
    bool dot = false;
    while (e < s.size() && (is_digit(s[e]) || (s[e] == '.' && !dot && e + 1 < s.size() && is_digit(s[e + 1])))) {
      dot |= s[e] == '.';
      ++e;
    }
    const bool sub = i > 0 && (s[i - 1] == '_' || (s[i - 1] == '{' && i > 1 && s[i - 2] == '_'));
    const bool word = (i > 0 && is_alpha(s[i - 1])) || (e < s.size() && is_alpha(s[e]) && e + 1 < s.size() && is_alpha(s[e + 1]));
    if (!sub && !word) out.push_back({i, e});
    i = e;
  }
  return out;
}

// Top-level pieces separated by `sep` (outside (), [], {}).
std::vector<std::string> split_top(const std::string& s, char sep) {
  std::vector<std::string> out;
  int depth = 0;
  std::string cur;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\\' && i + 1 < s.size() && (s[i + 1] == '{' || s[i + 1] == '}')) {
      depth += s[i + 1] == '{' ? 1 : -1;
      cur += c;
      cur += s[++i];
      continue;
    }
    if (c == '(' || c == '[' || c == '{') ++depth;
    if (c == ')' || c == ']' || c == '}') --depth;
    if (c == sep && depth == 0) {
      out.push_back(cur);
      cur.clear();
      continue;
    }
    cur += c;
  }
  out.push_back(cur);
  return out;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\n");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t\n") + 1 - b);
}

bool all_zero_digits(const std::string& s) {
  bool any = false;
  for (char c : s)
    if (is_digit(c)) {
      any = true;
      if (c != '0') return false;
    }
  return any;
}

bool has(const std::string& s, const char* x) { return s.find(x) != std::string::npos; }

// A single scalar answer: no relation, list, interval, set, text, matrix, \pm or infinity (mutations of the value).
bool scalar(const std::string& g) {
  for (const char* x : {",", ";", "=", "<", ">", "\\le", "\\ge", "\\cup", "\\text", "\\mbox", "\\begin", "\\pm", "\\infty",
                        "\\{", "\\in", "\\neq", "[", "\\mathrm", ":", "\\%", "%", "^\\circ", "^{\\circ}", "\\approx", "_", "!",
                        "\\operatorname", "\\in", "|"})
    if (has(g, x)) return false;
  const std::string t = trim(g);
  if (t.empty()) return false;
  if ((t.front() == '(' && t.back() == ')') && split_top(t.substr(1, t.size() - 2), ',').size() > 1) return false;
  bool digit = false;
  for (char c : t) digit |= is_digit(c);
  return digit || has(t, "\\pi") || has(t, "\\sqrt");
}

// The collection answers: "\{a, b\}" or a bare "a, b" list (unordered: rewrites may reorder).
bool unordered_list(const std::string& g) {
  const std::string t = trim(g);
  if (t.rfind("\\{", 0) == 0 && t.size() > 4 && t.compare(t.size() - 2, 2, "\\}") == 0) return true;
  if (t.empty() || t.front() == '(' || t.front() == '[' || has(t, "\\left") || has(t, "=") || has(t, "\\text")) return false;
  const auto parts = split_top(t, ',');
  bool thousands = true;  // "58,500" is a number
  for (size_t i = 0; i < parts.size(); ++i) {
    if (trim(parts[i]).empty() || literals(parts[i]).empty()) return false;
    const std::string x = trim(parts[i]);
    thousands &= std::all_of(x.begin(), x.end(), is_digit) && (i == 0 ? x.size() <= 3 : x.size() == 3);
  }
  return parts.size() >= 2 && !thousands && !has(t, ",\\!");
}

struct Pair {
  std::string gold, pred, kind;
  bool wrong;
};

struct Gen {
  std::vector<Pair>& out;
  std::string gold;
  int n = 0;
    // Each answer twice: boxed, and in prose (in turn "The final answer is $\boxed{..}$." and "the answer is $..$.").
  void add(const std::string& answer, const char* kind, bool wrong) {
    out.push_back({gold, "\\boxed{" + answer + "}", kind, wrong});
    const std::string prose = n++ % 2 ? "We compute step by step.\n\nThe final answer is $\\boxed{" + answer + "}$."
                                      : "Putting it together, the answer is $" + answer + "$.";
    out.push_back({gold, prose, kind, wrong});
  }
};

// ---- mutations: each yields an answer whose value differs from the gold's ---------------------------------------

// -g (the gold is a scalar whose digits are not all zero).
void flip_sign(Gen& g, const std::string& a) {
  if (!scalar(a) || all_zero_digits(a)) return;
  const std::string t = trim(a);
  if (t[0] == '-' && split_top(t.substr(1), '+').size() == 1 && t.find('-', 1) == std::string::npos) g.add(t.substr(1), "flip_sign", true);
  else g.add("-(" + t + ")", "flip_sign", true);
}

// One digit of a literal changed (+1 and +5 mod 10), at most 4 literals x 4 positions. Not in subscripts or words;
// not in a gold whose value a digit may not reach (a factor 0, a power of 1, a digit under a root index).
void change_digit(Gen& g, const std::string& a) {
  if (has(a, "\\sqrt[") || has(a, "\\binom") || has(a, "\\log") || has(a, "_") || has(a, "\\infty")) return;
  int lits = 0;
  for (const auto& [b, e] : literals(a)) {
    if (lits++ >= 4) break;
    const std::string lit = a.substr(b, e - b);
    if (all_zero_digits(lit) || lit == "1") continue;  // 0 * x, 1^x: a changed factor may leave the value
    int pos = 0;
    for (size_t i = b; i < e && pos < 4; ++i) {
      if (!is_digit(a[i])) continue;
      ++pos;
      for (int d : {1, 5, 9}) {
        std::string m = a;
        m[i] = static_cast<char>('0' + (a[i] - '0' + d) % 10);
        g.add(m, "change_digit", true);
      }
    }
  }
}

// The decimal point of a literal moved: "1.5" -> "15" and "0.15"; "15" -> "1.5".
void move_decimal(Gen& g, const std::string& a) {
  if (has(a, "_") || has(a, "\\sqrt[") || has(a, "^")) return;  // x^{1.5}: exponents and indices left alone
  int lits = 0;
  for (const auto& [b, e] : literals(a)) {
    if (lits++ >= 2) break;
    const std::string lit = a.substr(b, e - b);
    if (all_zero_digits(lit)) continue;
    const size_t dot = lit.find('.');
    std::string shifted;
    if (dot != std::string::npos) {
      std::string no_dot = lit;
      no_dot.erase(dot, 1);
      g.add(a.substr(0, b) + no_dot + a.substr(e), "move_decimal", true);
      shifted = dot == 0 ? "0.0" + no_dot : no_dot.substr(0, dot - 1) + "." + no_dot.substr(dot - 1);
      if (shifted[0] == '.') shifted = "0" + shifted;
    } else {
      if (lit == "1") continue;
      shifted = lit.size() == 1 ? "0." + lit : lit.substr(0, lit.size() - 1) + "." + lit.substr(lit.size() - 1);
    }
    g.add(a.substr(0, b) + shifted + a.substr(e), "move_decimal", true);
  }
}

// The sign of an exponent flipped: 10^{-3} -> 10^{3}, x^2 -> x^{-2} (not ^\circ, not an exponent 0, not a base 1).
void flip_exponent(Gen& g, const std::string& a) {
  if (!scalar(a)) return;
  for (size_t p = a.find('^'); p != std::string::npos; p = a.find('^', p + 1)) {
    if (p == 0 || a[p - 1] == '1' || a[p - 1] == '0') continue;
    if (p + 1 >= a.size() || a[p + 1] == '\\') continue;
    if (a[p + 1] == '{') {
      const size_t close = a.find('}', p);
      if (close == std::string::npos) continue;
      const std::string ex = a.substr(p + 2, close - p - 2);
      if (ex.empty() || all_zero_digits(ex) || ex.find('\\') != std::string::npos || ex.find('{') != std::string::npos) continue;
      const std::string flipped = ex[0] == '-' ? ex.substr(1) : "-" + ex;
      g.add(a.substr(0, p) + "^{" + flipped + "}" + a.substr(close + 1), "flip_exponent", true);
    } else if (is_digit(a[p + 1]) && a[p + 1] != '0') {
      g.add(a.substr(0, p) + "^{-" + a[p + 1] + "}" + a.substr(p + 2), "flip_exponent", true);
    }
    return;  // the first exponent only
  }
}

// \frac{A}{B} -> \frac{B}{A} (A and B different up to sign), "a/b" -> "b/a".
void swap_fraction(Gen& g, const std::string& a) {
  if (!scalar(a)) return;
  const size_t p = a.find("\\frac{");
  if (p != std::string::npos) {
    int depth = 0;
    size_t k = p + 5, mid = std::string::npos, end = std::string::npos;
    for (; k < a.size(); ++k) {
      if (a[k] == '{') ++depth;
      else if (a[k] == '}' && --depth == 0) {
        if (mid == std::string::npos) {
          mid = k;
          if (k + 1 >= a.size() || a[k + 1] != '{') return;
        } else {
          end = k;
          break;
        }
      }
    }
    if (end == std::string::npos) return;
    const std::string num = a.substr(p + 6, mid - p - 6), den = a.substr(mid + 2, end - mid - 2);
    auto unsigned_ = [](std::string x) { return x.empty() || x[0] != '-' ? x : x.substr(1); };
    if (unsigned_(num) == unsigned_(den) || trim(num).empty() || trim(den).empty()) return;
    if (all_zero_digits(num)) return;
    g.add(a.substr(0, p) + "\\frac{" + den + "}{" + num + "}" + a.substr(end + 1), "swap_fraction", true);
    return;
  }
  const auto parts = split_top(a, '/');
  if (parts.size() == 2 && trim(parts[0]) != trim(parts[1]) && literals(parts[0]).size() == 1 && literals(parts[1]).size() == 1 &&
      !all_zero_digits(parts[0]) && trim(parts[0]).find('-') == std::string::npos)
    g.add(trim(parts[1]) + "/" + trim(parts[0]), "swap_fraction", true);
}

// Interval brackets: "[a, b)" -> "(a, b)", "(a, b]" -> "(a, b)": the first bracket flipped (finite endpoints only).
void flip_bracket(Gen& g, const std::string& a) {
  std::string t = trim(a);
  std::string lo, hi;
  if (t.rfind("\\left", 0) == 0) return;  // keep to the plain form
  if (t.size() < 5 || (t[0] != '(' && t[0] != '[') || (t.back() != ')' && t.back() != ']')) return;
  const auto parts = split_top(t.substr(1, t.size() - 2), ',');
  if (parts.size() != 2 || has(t, "\\infty") || trim(parts[0]) == trim(parts[1])) return;
  std::string m = t;
  m[0] = t[0] == '(' ? '[' : '(';
  g.add(m, "flip_bracket", true);
}

// Tuples "(a, b, ...)": the first two elements swapped (different text), or the first one negated (not zero).
void tuple_element(Gen& g, const std::string& a) {
  const std::string t = trim(a);
  if (t.size() < 5 || t[0] != '(' || t.back() != ')' || has(t, "\\infty")) return;
  const auto parts = split_top(t.substr(1, t.size() - 2), ',');
  if (parts.size() < 2) return;
  if (trim(parts[0]) != trim(parts[1])) {
    std::string m = "(" + parts[1] + "," + parts[0];
    for (size_t i = 2; i < parts.size(); ++i) m += "," + parts[i];
    g.add(m + ")", "swap_tuple", true);
  }
  if (!all_zero_digits(parts[0]) && !literals(parts[0]).empty()) {
    const std::string e = trim(parts[0]);
    std::string m = "(" + (e[0] == '-' && e.find_first_of("+-", 1) == std::string::npos ? e.substr(1) : "-(" + e + ")");
    for (size_t i = 1; i < parts.size(); ++i) m += "," + parts[i];
    g.add(m + ")", "negate_element", true);
  }
}

// A term dropped from a sum, or one added; an element dropped from or added to a list.
void drop_add_term(Gen& g, const std::string& a) {
  if (unordered_list(a)) {
    const std::string t = trim(a);
    const bool braces = t.rfind("\\{", 0) == 0;
    const std::string inner = braces ? t.substr(2, t.size() - 4) : t;
    auto parts = split_top(inner, ',');
    std::set<std::string> distinct;
    for (auto& p : parts) distinct.insert(trim(p));
    if (distinct.size() == parts.size()) {
      std::string m;
      for (size_t i = 0; i + 1 < parts.size(); ++i) m += (i ? "," : "") + parts[i];
      g.add(braces ? "\\{" + m + "\\}" : m, "drop_element", true);
    }
    g.add(braces ? "\\{" + inner + ", 99991\\}" : inner + ", 99991", "add_element", true);
    return;
  }
  if (!scalar(a)) return;
  g.add("(" + trim(a) + ")+1", "add_term", true);
  // drop the last top-level "+ term" / "- term"
  int depth = 0;
  size_t last = std::string::npos;
  for (size_t i = 1; i < a.size(); ++i) {
    const char c = a[i];
    if (c == '(' || c == '{' || c == '[') ++depth;
    if (c == ')' || c == '}' || c == ']') --depth;
    if (depth == 0 && (c == '+' || c == '-') && a[i - 1] != '^' && a[i - 1] != '{' && a[i - 1] != '(' && a[i - 1] != 'e') last = i;
  }
  if (last == std::string::npos) return;
  const std::string head = trim(a.substr(0, last)), term = trim(a.substr(last + 1));
  if (head.empty() || term.empty() || all_zero_digits(term)) return;
  g.add(head, "drop_term", true);
}

// \infty -> -\infty and back.
void negate_infinity(Gen& g, const std::string& a) {
  const size_t p = a.find("\\infty");
  if (p == std::string::npos) return;
  size_t b = p;
  while (b > 0 && a[b - 1] == ' ') --b;
  if (b > 0 && a[b - 1] == '-') g.add(a.substr(0, b - 1) + a.substr(b), "negate_infinity", true);
  else if (b > 0 && a[b - 1] == '+') g.add(a.substr(0, b - 1) + "-" + a.substr(b), "negate_infinity", true);
  else g.add(a.substr(0, p) + "-" + a.substr(p), "negate_infinity", true);
}

// Another unit multiple: "5 cm" -> "5 mm", or the value times 1000 ("in thousands").
void unit_multiple(Gen& g, const std::string& a) {
  static const std::vector<std::pair<std::string, std::string>> kSwap = {
      {"\\text{ cm}", "\\text{ mm}"}, {"\\text{ km}", "\\text{ m}"}, {"\\text{ kg}", "\\text{ g}"}, {" cm", " mm"},
      {"\\text{ hours}", "\\text{ minutes}"}, {"\\text{ meters}", "\\text{ centimeters}"}};
  for (const auto& [from, to] : kSwap) {
    const size_t p = a.find(from);
    if (p != std::string::npos) {
      g.add(a.substr(0, p) + to + a.substr(p + from.size()), "unit_multiple", true);
      return;
    }
  }
  if (scalar(a) && !all_zero_digits(a)) g.add("1000(" + trim(a) + ")", "unit_multiple", true);
}

// ---- rewrites: each yields the same value written otherwise ------------------------------------------------------

void rewrites(Gen& g, const std::string& a) {
  const std::string t = trim(a);
  if (has(t, "\\frac")) {
    std::string m = t;
    for (size_t p = m.find("\\frac"); p != std::string::npos; p = m.find("\\frac", p + 6)) m.replace(p, 5, "\\dfrac");
    g.add(m, "rw_dfrac", false);
  }
  {  // spacing around + = and after commas (not thousands separators)
    bool thousands = false;
    for (size_t i = 1; i + 1 < t.size(); ++i)
      thousands |= t[i] == ',' && is_digit(t[i - 1]) && (is_digit(t[i + 1]) || t[i + 1] == '\\');
    if (!thousands) {
      std::string m = " ";
      for (size_t i = 0; i < t.size(); ++i) {
        const char c = t[i];
        if ((c == '+' || c == '=') && i > 0) m += std::string(" ") + c + " ";
        else if (c == ',') m += ", ";
        else m += c;
      }
      g.add(m + " ", "rw_spacing", false);
    }
  }
  // 0.5 <-> \frac{5}{10}; a fraction of integers with a terminating decimal -> the decimal
  if (literals(t).size() == 1 && literals(t)[0] == std::make_pair(size_t{0}, t.size()) && t.find('.') != std::string::npos) {
    const size_t dot = t.find('.');
    std::string digits = t.substr(0, dot) + t.substr(dot + 1);
    digits.erase(0, std::min(digits.find_first_not_of('0'), digits.size() - 1));
    g.add("\\frac{" + digits + "}{1" + std::string(t.size() - dot - 1, '0') + "}", "rw_decimal_fraction", false);
  }
  if (t.rfind("\\frac{", 0) == 0 && t.back() == '}') {
    const size_t mid = t.find("}{");
    if (mid != std::string::npos && t.find('}', mid + 2) == t.size() - 1) {
      const std::string num = t.substr(6, mid - 6), den = t.substr(mid + 2, t.size() - mid - 3);
      bool ints = !num.empty() && !den.empty() && num.size() < 9 && den.size() < 9;
      for (char c : num + den) ints &= is_digit(c);
      if (ints && std::stoll(den) != 0) {
        long long n = std::stoll(num), d = std::stoll(den), q = d;
        while (q % 2 == 0) q /= 2;
        while (q % 5 == 0) q /= 5;
        if (q == 1) {  // terminating: n/d = n * 10^k / d / 10^k
          int k = 0;
          long long scale = 1;
          while ((n * scale) % d != 0 && k < 12) scale *= 10, ++k;
          const long long v = n * scale / d;
          std::string s = std::to_string(v);
          if (k > 0) {
            if (static_cast<int>(s.size()) <= k) s = std::string(k - s.size() + 1, '0') + s;
            s.insert(s.size() - k, ".");
          }
          g.add(s, "rw_decimal_fraction", false);
        }
      }
    }
  }
  if (unordered_list(t)) {  // reordered
    const bool braces = t.rfind("\\{", 0) == 0;
    auto parts = split_top(braces ? t.substr(2, t.size() - 4) : t, ',');
    std::string m;
    for (size_t i = parts.size(); i-- > 0;) {
      std::string e = trim(parts[i]);
      if (e.rfind("and ", 0) == 0) e = e.substr(4);  // "19, 46, and 82" -> "82, 46, 19"
      m += e + (i ? ", " : "");
    }
    g.add(braces ? "\\{" + m + "\\}" : m, "rw_reorder", false);
  }
  if (scalar(t)) g.add("x = " + t, "rw_x_equals", false);
  if (t.size() >= 4 && t.size() <= 12 && std::all_of(t.begin(), t.end(), is_digit) && t[0] != '0') {  // thousands separators
    std::string m;
    for (size_t i = 0; i < t.size(); ++i) {
      if (i > 0 && (t.size() - i) % 3 == 0) m += ",";
      m += t[i];
    }
    g.add(m, "rw_thousands", false);
    std::string braced = m;
    for (size_t p = braced.find(','); p != std::string::npos; p = braced.find(',', p + 3)) braced.replace(p, 1, "{,}");
    g.add(braced, "rw_thousands", false);
  }
}

std::vector<std::string> gold_answers() {
  std::vector<std::string> golds;
  for (const char* f : {"math500_test.jsonl", "aime24_test.jsonl", "aime25_qwq_eval.jsonl", "olymmath_en_easy.jsonl",
                        "olymmath_en_hard.jsonl", "olymmath_zh_easy.jsonl", "olymmath_zh_hard.jsonl"})
    for (const auto& r : read_jsonl(f)) golds.push_back(r["answer"].is_string() ? r["answer"].get<std::string>() : r["answer"].dump());
  for (const auto& r : read_jsonl("gsm8k_test.jsonl")) {
    const std::string a = r["answer"].get<std::string>();
    golds.push_back(trim(a.substr(a.rfind("####") + 4)));
  }
  for (const auto& r : read_jsonl("math_verify_pairs.jsonl")) {  // the answer inside $...$ / \boxed{}
    const auto c = extract_answer_candidates(r["gold"].get<std::string>(), ExtractionMode::Strict);
    if (!c.empty() && c[0].size() < 200) golds.push_back(c[0]);
  }
  return golds;
}

TEST(MathMutation, WrongAnswersAreNeverPaidRewritesAre) {
  for (const char* f : {"math500_test.jsonl", "gsm8k_test.jsonl", "aime24_test.jsonl", "aime25_qwq_eval.jsonl",
                        "olymmath_en_easy.jsonl", "olymmath_en_hard.jsonl", "olymmath_zh_easy.jsonl",
                        "olymmath_zh_hard.jsonl", "math_verify_pairs.jsonl"})
    REASONRL_REQUIRE_OR_SKIP(fs::exists(kPeer + "/" + f), "peer data " + kPeer + "/" + f + " is absent");
  std::vector<Pair> pairs;
  std::set<std::string> seen;
  for (const auto& gold : gold_answers()) {
    if (!seen.insert(gold).second) continue;
    Gen g{pairs, gold};
    for (auto* m : {flip_sign, change_digit, move_decimal, flip_exponent, swap_fraction, flip_bracket, tuple_element,
                    drop_add_term, negate_infinity, unit_multiple, rewrites})
      m(g, gold);
  }
  struct Row {
    int pairs = 0, equal = 0, unparseable = 0;
    bool wrong = false;
  };
  std::map<std::string, Row> table;
  std::vector<std::string> false_equal, missed;
  for (const auto& p : pairs) {
    const Verdict v = math_verify(p.gold, p.pred);
    Row& r = table[p.kind];
    r.wrong = p.wrong;
    ++r.pairs;
    r.equal += v == Verdict::Equal;
    r.unparseable += v == Verdict::GoldUnparseable;
    if (p.wrong && v == Verdict::Equal) false_equal.push_back(p.kind + ": " + p.gold + "  vs  " + p.pred);
    if (!p.wrong && v == Verdict::NotEqual) missed.push_back(p.kind + ": " + p.gold + "  vs  " + p.pred);
  }
  int wrong_pairs = 0, rewrite_pairs = 0, rewrite_equal = 0;
  std::printf("| kind | pairs | graded Equal | |\n|---|---:|---:|---|\n");
  for (const auto& [k, r] : table) {
    std::printf("| %s | %d | %d | %s |\n", k.c_str(), r.pairs, r.equal, r.wrong ? "wrong: must be 0" : "rewrite");
    if (r.wrong) wrong_pairs += r.pairs;
    else rewrite_pairs += r.pairs, rewrite_equal += r.equal;
  }
  std::printf("%zu pairs: %d wrong answers, %zu graded Equal; %d rewrites, %d graded Equal (%.2f%%)\n", pairs.size(),
              wrong_pairs, false_equal.size(), rewrite_pairs, rewrite_equal, 100.0 * rewrite_equal / std::max(1, rewrite_pairs));
  for (size_t i = 0; i < false_equal.size() && i < 40; ++i) std::printf("FALSE EQUAL %s\n", false_equal[i].c_str());
  const bool verbose = std::getenv("REASONRL_CONFORMANCE_VERBOSE") != nullptr;
  for (size_t i = 0; i < missed.size() && (verbose || i < 10); ++i) std::printf("MISSED %s\n", missed[i].c_str());
  EXPECT_GE(pairs.size(), 20000u);
  EXPECT_EQ(false_equal.size(), 0u) << "a wrong answer graded Equal is a reward the policy learns to hack";
  EXPECT_GE(rewrite_equal, 0.99 * rewrite_pairs);
}

}  // namespace
}  // namespace reasonrl::rewards
