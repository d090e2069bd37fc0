// countdown.cpp: Countdown equation extraction and exact (rational) checking.
#include "rewards/countdown.h"

#include <algorithm>
#include <cstdlib>

#include "rewards/extract.h"

namespace reasonrl::rewards {

namespace {

struct Rat {
  __int128 n = 0, d = 1;
};
constexpr __int128 kLimit = static_cast<__int128>(1) << 100;

__int128 gcd128(__int128 a, __int128 b) {
  if (a < 0) a = -a;
  if (b < 0) b = -b;
  while (b) {
    const __int128 t = a % b;
    a = b;
    b = t;
  }
  return a;
}

bool make(Rat& r, __int128 n, __int128 d) {
  if (d == 0) return false;
  if (d < 0) n = -n, d = -d;
  const __int128 g = gcd128(n, d);
  if (g > 1) n /= g, d /= g;
  if (n > kLimit || n < -kLimit || d > kLimit) return false;
  r.n = n;
  r.d = d;
  return true;
}

// Recursive-descent parser over + - * / ( ) and non-negative integers; records every number literal.
class Parser {
 public:
  Parser(const std::string& s, std::vector<int64_t>* used) : s_(s), used_(used) {}
  bool parse(Rat& out) {
    if (!expr(out, 0)) return false;
    skip();
    return i_ == s_.size();
  }

 private:
  void skip() {
    while (i_ < s_.size() && s_[i_] == ' ') ++i_;
  }
  bool expr(Rat& v, int depth) {
    if (depth > 200) return false;
    if (!term(v, depth)) return false;
    for (;;) {
      skip();
      if (i_ >= s_.size() || (s_[i_] != '+' && s_[i_] != '-')) return true;
      const char op = s_[i_++];
      Rat r;
      if (!term(r, depth)) return false;
      if (!make(v, op == '+' ? v.n * r.d + r.n * v.d : v.n * r.d - r.n * v.d, v.d * r.d)) return false;
    }
  }
  bool term(Rat& v, int depth) {
    if (!factor(v, depth)) return false;
    for (;;) {
      skip();
      if (i_ >= s_.size() || (s_[i_] != '*' && s_[i_] != '/')) return true;
      const char op = s_[i_++];
      Rat r;
      if (!factor(r, depth)) return false;
      if (op == '*') {
        if (!make(v, v.n * r.n, v.d * r.d)) return false;
      } else {
        if (r.n == 0 || !make(v, v.n * r.d, v.d * r.n)) return false;
      }
    }
  }
  bool factor(Rat& v, int depth) {
    skip();
    if (i_ >= s_.size()) return false;
    if (s_[i_] == '(') {
      ++i_;
      if (!expr(v, depth + 1)) return false;
      skip();
      if (i_ >= s_.size() || s_[i_] != ')') return false;
      ++i_;
      return true;
    }
    if (s_[i_] == '-') {  // unary minus is not a Countdown operation: reject
      return false;
    }
    if (s_[i_] < '0' || s_[i_] > '9') return false;
    size_t b = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    if (i_ - b > 15) return false;
    const int64_t x = std::strtoll(s_.substr(b, i_ - b).c_str(), nullptr, 10);
    used_->push_back(x);
    v.n = x;
    v.d = 1;
    return true;
  }
  const std::string& s_;
  std::vector<int64_t>* used_;
  size_t i_ = 0;
};

void replace_all(std::string& s, const std::string& a, const std::string& b) {
  for (size_t p = s.find(a); p != std::string::npos; p = s.find(a, p + b.size())) s.replace(p, a.size(), b);
}

std::string clean(std::string e) {
  for (const auto& [a, b] : std::vector<std::pair<std::string, std::string>>{
           {"\\times", "*"}, {"\\cdot", "*"}, {"\\div", "/"}, {"×", "*"}, {"÷", "/"}, {"−", "-"}, {"\\left", ""},
           {"\\right", ""}, {"\\(", ""}, {"\\)", ""}, {"\\[", ""}, {"\\]", ""}, {"$", ""}, {"{", "("}, {"}", ")"},
           {"\n", " "}, {"\t", " "}, {"\r", " "}, {"x", "*"}})
    replace_all(e, a, b);
  while (!e.empty() && (e.back() == ' ' || e.back() == '.')) e.pop_back();
  size_t b = 0;
  while (b < e.size() && e[b] == ' ') ++b;
  return e.substr(b);
}

}  // namespace

CountdownCheck check_countdown(std::string_view response, const std::vector<int64_t>& numbers, int64_t target) {
  CountdownCheck c;
  std::string eq;
  if (auto a = last_answer_tag(response)) {
    eq = *a;
  } else if (auto b = last_boxed_only_string(response)) {
    eq = remove_boxed(*b).value_or("");
  } else {
    // The last line that holds a digit and an operator.
    std::string_view r = after_think(response);
    size_t end = r.size();
    while (end > 0) {
      size_t b = r.rfind('\n', end - 1);
      const size_t start = b == std::string_view::npos ? 0 : b + 1;
      std::string_view line = r.substr(start, end - start);
      if (line.find_first_of("0123456789") != std::string_view::npos && line.find_first_of("+-*/") != std::string_view::npos) {
        eq = std::string(line);
        break;
      }
      if (b == std::string_view::npos) break;
      end = b;
    }
  }
  if (eq.empty()) {
    c.reason = "no equation found";
    return c;
  }
  c.found = true;
  eq = clean(eq);
  // "expr = target" or "target = expr": keep the side with operators.
  if (const size_t p = eq.find('='); p != std::string::npos) {
    std::string l = eq.substr(0, p), r = eq.substr(eq.rfind('=') + 1);
    eq = l.find_first_of("+-*/") != std::string::npos ? l : r;
  }
  c.equation = eq;
  std::vector<int64_t> used;
  Rat v;
  if (eq.size() > 1000 || !Parser(eq, &used).parse(v)) {
    c.reason = "equation does not parse: " + eq;
    return c;
  }
  std::vector<int64_t> a = used, b = numbers;
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  if (a != b) {
    c.reason = "numbers used are not exactly the given ones";
    return c;
  }
  c.valid = true;
  c.correct = v.d == 1 && v.n == target;
  if (!c.correct) c.reason = "equation does not reach the target";
  return c;
}

namespace {

// A cursor over one attempt's text.
struct TraceCursor {
  std::string_view s;
  size_t i = 0;
  void spaces() {
    while (i < s.size() && s[i] == ' ') ++i;
  }
  bool lit(std::string_view w) {
    spaces();
    if (s.substr(i, w.size()) != w) return false;
    i += w.size();
    return true;
  }
  // An integer with an optional leading '-'; at most 15 digits.
  bool num(int64_t& v) {
    spaces();
    size_t j = i;
    const bool neg = j < s.size() && s[j] == '-';
    if (neg) ++j;
    const size_t d0 = j;
    v = 0;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9' && j - d0 < 15) v = v * 10 + (s[j++] - '0');
    if (j == d0 || (j < s.size() && s[j] >= '0' && s[j] <= '9')) return false;
    if (neg) v = -v;
    i = j;
    return true;
  }
  bool end() {
    spaces();
    return i == s.size();
  }
};

// Takes one unused given number equal to v (marks it used); false if there is none.
bool take(int64_t v, const std::vector<int64_t>& numbers, std::vector<bool>& used) {
  for (size_t k = 0; k < numbers.size(); ++k)
    if (!used[k] && numbers[k] == v) return used[k] = true;
  return false;
}

enum class Attempt { Inconsistent, Consistent, Solving };

Attempt check_attempt(std::string_view text, const std::vector<int64_t>& numbers, int64_t target) {
  constexpr Attempt bad = Attempt::Inconsistent;
  TraceCursor c{text};
  if (!c.lit("try")) return bad;
  std::vector<bool> used(numbers.size(), false);
  int64_t prev = 0;
  for (int step = 0;; ++step) {
    int64_t a = 0, b = 0, r = 0;
    if (!c.num(a)) return bad;
    c.spaces();
    if (c.i >= c.s.size()) return bad;
    const char op = c.s[c.i++];
    if (!c.num(b) || !c.lit("=") || !c.num(r)) return bad;
    int64_t v = 0;
    switch (op) {
      case '+': v = a + b; break;
      case '-': v = a - b; break;
      case '*': v = a * b; break;
      case '/':
        if (b == 0 || a % b != 0) return bad;
        v = a / b;
        break;
      default: return bad;
    }
    if (v != r) return bad;
    if (step == 0) {
      if (!take(a, numbers, used) || !take(b, numbers, used)) return bad;
    } else {
      // the previous result and one unused given number, in either order
      const bool ok = (a == prev && take(b, numbers, used)) || (b == prev && take(a, numbers, used));
      if (!ok) return bad;
    }
    prev = r;
    if (!c.lit(",")) break;
  }
  bool says_equal = false;
  if (c.lit("!=") || c.lit("\u2260")) says_equal = false;
  else if (c.lit("=")) says_equal = true;
  else return bad;
  int64_t t = 0;
  if (!c.num(t) || !c.end()) return bad;
  if (t != target || says_equal != (prev == target)) return bad;
  const bool all_used = std::find(used.begin(), used.end(), false) == used.end();
  return says_equal && all_used ? Attempt::Solving : Attempt::Consistent;
}

}  // namespace

CountdownTrace check_countdown_trace(std::string_view response, const std::vector<int64_t>& numbers, int64_t target) {
  std::string_view think = response;
  const size_t open = response.find("<think>");
  const size_t close = response.find("</think>");
  if (open != std::string_view::npos || close != std::string_view::npos) {
    const size_t b = open == std::string_view::npos ? 0 : open + 7;
    const size_t e = close == std::string_view::npos || close < b ? response.size() : close;
    think = response.substr(b, e - b);
  }
  CountdownTrace t;
  size_t p = 0;
  while (p <= think.size()) {
    size_t q = think.find(';', p);
    if (q == std::string_view::npos) q = think.size();
    std::string_view seg = think.substr(p, q - p);
    while (!seg.empty() && (seg.front() == ' ' || seg.front() == '\n')) seg.remove_prefix(1);
    while (!seg.empty() && (seg.back() == ' ' || seg.back() == '\n')) seg.remove_suffix(1);
    if (!seg.empty()) {
      ++t.attempts;
      const Attempt a = check_attempt(seg, numbers, target);
      t.consistent += a != Attempt::Inconsistent;
      t.solving += a == Attempt::Solving;
    }
    p = q + 1;
  }
  return t;
}

}  // namespace reasonrl::rewards
