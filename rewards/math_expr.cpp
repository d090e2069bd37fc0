// math_expr.cpp: tokenizer, recursive-descent parser and numeric evaluator for normalised LaTeX answers.
#include "rewards/math_expr.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <set>

namespace reasonrl::rewards {

namespace {

enum class T { Num, Ident, Cmd, Op, Open, Close, Sep, Text, Begin, End, RowSep, Eof };

struct Tok {
  T t;
  std::string s;
};

bool is_letter(char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; }
bool is_digit(char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; }

const std::set<std::string>& func_names() {
  static const std::set<std::string> f = {"sin",   "cos",   "tan",    "sec",    "csc",    "cot",  "arcsin", "arccos",
                                          "arctan", "sinh", "cosh",   "tanh",   "ln",     "log",  "exp",    "sqrt",
                                          "lg",    "arcsec", "arccsc", "arccot", "asin",  "acos", "atan"};
  return f;
}

// Splits a normalised answer into tokens. Returns false on characters we do not understand.
bool tokenize(std::string_view s, std::vector<Tok>& out) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f') {
      ++i;
      continue;
    }
    if (is_digit(c) || (c == '.' && i + 1 < n && is_digit(s[i + 1]))) {
      size_t e = i;
      bool dot = false;
      while (e < n && (is_digit(s[e]) || (s[e] == '.' && !dot && e + 1 < n && is_digit(s[e + 1])))) {
        if (s[e] == '.') dot = true;
        ++e;
      }
      out.push_back({T::Num, std::string(s.substr(i, e - i))});
      i = e;
      continue;
    }
    if (is_letter(c)) {
      size_t e = i;
      while (e < n && is_letter(s[e])) ++e;
      const std::string word(s.substr(i, e - i));
      if (word == "and" || word == "or") {
        out.push_back({T::Sep, ","});
        i = e;
        continue;
      }
      // Known function names written without a backslash ("sin x", "sqrt(2)").
      bool fn = false;
      for (const auto& f : func_names())
        if (word == f) fn = true;
      if (word == "pi") {  // plain-text pi ("2*pi")
        out.push_back({T::Cmd, "pi"});
        i = e;
        continue;
      }
      if (fn && word.size() > 1) {
        out.push_back({T::Cmd, word});
        i = e;
        continue;
      }
      out.push_back({T::Ident, std::string(1, c)});  // one letter per symbol: "ab" = a*b
      ++i;
      continue;
    }
    if (c == '\\') {
      if (i + 1 >= n) return false;
      const char d = s[i + 1];
      if (d == '{' || d == '}') {
        out.push_back({d == '{' ? T::Open : T::Close, d == '{' ? "\\{" : "\\}"});
        i += 2;
        continue;
      }
      if (d == '\\') {
        out.push_back({T::RowSep, "\\\\"});
        i += 2;
        continue;
      }
      if (!is_letter(d)) {  // \, \; \! \% ... (spacing left over): skip
        i += 2;
        continue;
      }
      size_t e = i + 1;
      while (e < n && is_letter(s[e])) ++e;
      std::string cmd(s.substr(i + 1, e - i - 1));
      i = e;
      if (cmd == "begin" || cmd == "end") {
        if (i < n && s[i] == '{') {
          const size_t close = s.find('}', i);
          if (close == std::string_view::npos) return false;
          out.push_back({cmd == "begin" ? T::Begin : T::End, std::string(s.substr(i + 1, close - i - 1))});
          i = close + 1;
          // array column spec: \begin{array}{cc}
          if (cmd == "begin" && out.back().s == "array" && i < n && s[i] == '{') {
            const size_t c2 = s.find('}', i);
            if (c2 == std::string_view::npos) return false;
            i = c2 + 1;
          }
          continue;
        }
        return false;
      }
      if (cmd == "text" || cmd == "textbf" || cmd == "mathrm" || cmd == "textrm" || cmd == "mbox" || cmd == "textnormal" ||
          cmd == "mathbf" || cmd == "mathit" || cmd == "operatorname" || cmd == "mathsf") {
        if (i < n && s[i] == '{') {
          int depth = 0;
          size_t k = i;
          for (; k < n; ++k) {
            if (s[k] == '{') ++depth;
            else if (s[k] == '}' && --depth == 0) break;
          }
          if (k >= n) return false;
          std::string inner(s.substr(i + 1, k - i - 1));
          i = k + 1;
          // Math-font wrappers around symbols/numbers are transparent.
          std::vector<Tok> sub;
          if (tokenize(inner, sub)) {
            out.insert(out.end(), sub.begin(), sub.end());
          } else {
            out.push_back({T::Text, inner});
          }
          continue;
        }
        continue;
      }
      out.push_back({T::Cmd, cmd});
      continue;
    }
    switch (c) {
      case '(': case '[': case '{':
        out.push_back({T::Open, std::string(1, c)});
        ++i;
        continue;
      case ')': case ']': case '}':
        out.push_back({T::Close, std::string(1, c)});
        ++i;
        continue;
      case ',': case ';':
        out.push_back({T::Sep, std::string(1, c)});
        ++i;
        continue;
      case '<': case '>': case '!': case '=':
        if (i + 1 < n && s[i + 1] == '=') {
          out.push_back({T::Op, std::string(s.substr(i, 2))});
          i += 2;
        } else {
          out.push_back({T::Op, std::string(1, c)});
          ++i;
        }
        continue;
      case '+': case '-': case '*': case '/': case '^': case '_': case '|': case ':': case '&': case '\'':
        out.push_back({T::Op, std::string(1, c)});
        ++i;
        continue;
      default:
        return false;
    }
  }
  out.push_back({T::Eof, ""});
  return true;
}

Node num(double v, bool f = false) {
  Node x;
  x.kind = NodeKind::Num;
  x.num = v;
  x.is_float = f;
  return x;
}
Node make(NodeKind k, std::vector<Node> ch, std::string name = "") {
  Node x;
  x.kind = k;
  x.ch = std::move(ch);
  x.name = std::move(name);
  return x;
}

class Parser {
 public:
  explicit Parser(std::vector<Tok> t) : t_(std::move(t)) {}

  std::optional<Node> parse_all() {
    Node n;
    if (!semilist(n)) return std::nullopt;
    if (peek().t != T::Eof) return std::nullopt;
    return n;
  }

 private:
  const Tok& peek(size_t k = 0) const { return t_[std::min(p_ + k, t_.size() - 1)]; }
  bool is_op(const char* s, size_t k = 0) const { return peek(k).t == T::Op && peek(k).s == s; }
  bool is_cmd(const char* s) const { return peek().t == T::Cmd && peek().s == s; }

  struct Depth {
    int& d;
    bool ok;
    explicit Depth(int& x) : d(x), ok(++x < 200) {}
    ~Depth() { --d; }
  };

  // a ; b ; c  (';' binds looser than ',')
  bool semilist(Node& out) {
    std::vector<Node> parts;
    for (;;) {
      Node n;
      if (!list(n)) return false;
      parts.push_back(std::move(n));
      if (peek().t == T::Sep && peek().s == ";") {
        ++p_;
        while (peek().t == T::Sep) ++p_;
        if (peek().t == T::Eof) break;
        continue;
      }
      break;
    }
    out = parts.size() == 1 ? std::move(parts[0]) : make(NodeKind::List, std::move(parts));
    return true;
  }

  bool list(Node& out) {
    std::vector<Node> items;
    for (;;) {
      while (peek().t == T::Sep && peek().s != ";" && items.empty() && false) ++p_;
      Node n;
      if (!relation(n)) return false;
      items.push_back(std::move(n));
      if (peek().t == T::Sep && peek().s != ";") {
        while (peek().t == T::Sep && peek().s != ";") ++p_;  // "19, 46, and 82"
        if (peek().t == T::Eof || peek().t == T::Close || (peek().t == T::Sep && peek().s == ";")) break;
        continue;
      }
      break;
    }
    out = items.size() == 1 ? std::move(items[0]) : make(NodeKind::List, std::move(items));
    return true;
  }

  static bool rel_op(const Tok& t) {
    if (t.t == T::Op)
      return t.s == "=" || t.s == "<" || t.s == ">" || t.s == "<=" || t.s == ">=" || t.s == "!=";
    if (t.t == T::Cmd)
      return t.s == "le" || t.s == "leq" || t.s == "ge" || t.s == "geq" || t.s == "lt" || t.s == "gt" || t.s == "neq" ||
             t.s == "ne" || t.s == "leqslant" || t.s == "geqslant" || t.s == "approx" || t.s == "equiv";
    return false;
  }
  static std::string rel_name(const Tok& t) {
    if (t.t == T::Op) return t.s;
    if (t.s == "le" || t.s == "leq" || t.s == "leqslant") return "<=";
    if (t.s == "ge" || t.s == "geq" || t.s == "geqslant") return ">=";
    if (t.s == "lt") return "<";
    if (t.s == "gt") return ">";
    if (t.s == "neq" || t.s == "ne") return "!=";
    if (t.s == "approx") return "~";
    return "=";
  }

  bool relation(Node& out) {
    Node a;
    if (!ratio(a)) return false;
    if (!rel_op(peek()) && !is_cmd("in")) {
      out = std::move(a);
      return true;
    }
    if (is_cmd("in")) {  // x \in S  ->  S (with the element kept as ch[0] of a Rel "in")
      ++p_;
      Node b;
      if (!ratio(b)) return false;
      out = make(NodeKind::Rel, {std::move(a), std::move(b)});
      out.ops = {"in"};
      return true;
    }
    Node r = make(NodeKind::Rel, {std::move(a)});
    while (rel_op(peek())) {
      r.ops.push_back(rel_name(peek()));
      ++p_;
      Node b;
      if (!ratio(b)) return false;
      r.ch.push_back(std::move(b));
    }
    out = std::move(r);
    return true;
  }

  bool ratio(Node& out) {
    Node a;
    if (!set_union(a)) return false;
    if (!is_op(":")) {
      out = std::move(a);
      return true;
    }
    Node r = make(NodeKind::Ratio, {std::move(a)});
    while (is_op(":")) {
      ++p_;
      Node b;
      if (!set_union(b)) return false;
      r.ch.push_back(std::move(b));
    }
    out = std::move(r);
    return true;
  }

  bool set_union(Node& out) {
    Node a;
    if (!expr(a)) return false;
    if (!is_cmd("cup")) {
      out = std::move(a);
      return true;
    }
    Node u = make(NodeKind::Union, {std::move(a)});
    while (is_cmd("cup")) {
      ++p_;
      Node b;
      if (!expr(b)) return false;
      u.ch.push_back(std::move(b));
    }
    out = std::move(u);
    return true;
  }

  bool expr(Node& out) {
    Depth d(depth_);
    if (!d.ok) return false;
    std::vector<Node> terms;
    Node first;
    // leading sign or \pm
    if (is_cmd("pm") || is_cmd("mp")) {
      ++p_;
      Node t;
      if (!term(t)) return false;
      first = make(NodeKind::PlusMinus, {num(0), std::move(t)});
    } else if (!term(first)) {
      return false;
    }
    terms.push_back(std::move(first));
    for (;;) {
      if (is_op("+") || is_op("-")) {
        const bool minus = peek().s == "-";
        ++p_;
        Node t;
        if (!term(t)) return false;
        terms.push_back(minus ? make(NodeKind::Neg, {std::move(t)}) : std::move(t));
      } else if (is_cmd("pm") || is_cmd("mp")) {
        ++p_;
        Node t;
        if (!term(t)) return false;
        Node sum = terms.size() == 1 ? std::move(terms[0]) : make(NodeKind::Add, std::move(terms));
        terms.clear();
        terms.push_back(make(NodeKind::PlusMinus, {std::move(sum), std::move(t)}));
      } else {
        break;
      }
    }
    out = terms.size() == 1 ? std::move(terms[0]) : make(NodeKind::Add, std::move(terms));
    return true;
  }

  bool starts_primary(const Tok& t) const {
    switch (t.t) {
      case T::Num: case T::Ident: return true;
      case T::Open: return t.s == "(" || t.s == "{" || t.s == "\\{" || t.s == "[";
      case T::Cmd:
        return !(t.s == "cup" || t.s == "pm" || t.s == "mp" || t.s == "cdot" || t.s == "times" || t.s == "div" || t.s == "in" ||
                 rel_op(t) || t.s == "cap" || t.s == "to" || t.s == "rightarrow" || t.s == "implies");
      case T::Begin: return true;
      default: return false;
    }
  }

  bool term(Node& out) {
    std::vector<Node> f;
    Node a;
    if (!unary(a)) return false;
    f.push_back(std::move(a));
    for (;;) {
      if (is_op("*") || is_cmd("cdot") || is_cmd("times")) {
        ++p_;
        Node b;
        if (!unary(b)) return false;
        f.push_back(std::move(b));
      } else if (is_op("/") || is_cmd("div")) {
        ++p_;
        Node b;
        if (!unary(b)) return false;
        Node num_ = f.size() == 1 ? std::move(f[0]) : make(NodeKind::Mul, std::move(f));
        f.clear();
        f.push_back(make(NodeKind::Div, {std::move(num_), std::move(b)}));
      } else if (starts_primary(peek()) && !(peek().t == T::Open && peek().s == "[")) {
        Node b;
        if (!power(b)) return false;  // implicit multiplication binds like *
        f.push_back(std::move(b));
      } else {
        break;
      }
    }
    out = f.size() == 1 ? std::move(f[0]) : make(NodeKind::Mul, std::move(f));
    return true;
  }

  bool unary(Node& out) {
    Depth d(depth_);
    if (!d.ok) return false;
    if (is_op("-")) {
      ++p_;
      Node a;
      if (!unary(a)) return false;
      out = make(NodeKind::Neg, {std::move(a)});
      return true;
    }
    if (is_op("+")) {
      ++p_;
      return unary(out);
    }
    return power(out);
  }

  bool exponent(Node& out) {
    if (peek().t == T::Open && peek().s == "{") return group(out);
    if (is_op("-")) {
      ++p_;
      Node a;
      if (!exponent(a)) return false;
      out = make(NodeKind::Neg, {std::move(a)});
      return true;
    }
    return postfix(out);
  }

  bool power(Node& out) {
    Depth d(depth_);
    if (!d.ok) return false;
    Node base;
    if (!postfix(base)) return false;
    if (is_op("^")) {
      ++p_;
      if (is_cmd("circ")) {  // degrees: 90^\circ = 90
        ++p_;
        out = std::move(base);
        return true;
      }
      Node e;
      if (!exponent(e)) return false;
      out = make(NodeKind::Pow, {std::move(base), std::move(e)});
      return true;
    }
    out = std::move(base);
    return true;
  }

  bool postfix(Node& out) {
    if (!primary(out)) return false;
    for (;;) {
      if (is_op("!")) {
        ++p_;
        out = make(NodeKind::Func, {std::move(out)}, "fact");
      } else if (is_op("_") && (out.kind == NodeKind::Sym || out.kind == NodeKind::Num)) {
        ++p_;
        Node sub;
        if (peek().t == T::Open && peek().s == "{") {
          if (!group(sub)) return false;
        } else if (!primary(sub)) {
          return false;
        }
        const std::string base = out.kind == NodeKind::Num ? fmt_num(out) : out.name;
        out = make(NodeKind::Sym, {}, base + "_" + node_to_string(sub));
      } else if (is_op("'")) {
        ++p_;
        if (out.kind != NodeKind::Sym) return false;
        out.name += "'";
      } else {
        break;
      }
    }
    return true;
  }

  static std::string fmt_num(const Node& n) { return node_to_string(n); }

  // { list } as a group
  bool group(Node& out) {
    if (!(peek().t == T::Open && peek().s == "{")) return false;
    ++p_;
    if (!semilist(out)) return false;
    if (!(peek().t == T::Close && peek().s == "}")) return false;
    ++p_;
    return true;
  }

  // An argument of \frac / \sqrt: a { } group or one token.
  bool arg(Node& out) {
    if (peek().t == T::Open && peek().s == "{") return group(out);
    return postfix(out);
  }

  bool function(const std::string& name, Node& out) {
    // \sin^2 x, \log_2 x, \sin(x), \sin x
    Node power_of;
    bool has_pow = false;
    Node base_of;
    bool has_base = false;
    if (is_op("^")) {
      ++p_;
      if (!exponent(power_of)) return false;
      has_pow = true;
    }
    if (is_op("_")) {
      ++p_;
      if (peek().t == T::Open && peek().s == "{") {
        if (!group(base_of)) return false;
      } else if (!primary(base_of)) {
        return false;
      }
      has_base = true;
    }
    Node a;
    if (peek().t == T::Open && peek().s == "(") {
      if (!primary(a)) return false;
    } else {
      if (!power(a)) return false;
    }
    std::string fn = name;
    if (fn == "asin") fn = "arcsin";
    if (fn == "acos") fn = "arccos";
    if (fn == "atan") fn = "arctan";
    if (fn == "lg") fn = "log";
    Node f = make(NodeKind::Func, {std::move(a)}, fn);
    if (has_base && fn == "log") {
      f = make(NodeKind::Div, {make(NodeKind::Func, {f.ch[0]}, "ln"), make(NodeKind::Func, {std::move(base_of)}, "ln")});
    }
    if (fn == "log" && !has_base) f.name = "ln";  // sympy: log = natural log
    out = has_pow ? make(NodeKind::Pow, {std::move(f), std::move(power_of)}) : std::move(f);
    return true;
  }

  bool matrix(const std::string& env, Node& out) {
    Node m;
    m.kind = NodeKind::Matrix;
    std::vector<Node> row;
    int cols = -1, rows = 0;
    auto finish_row = [&]() -> bool {
      if (row.empty()) return true;
      if (cols >= 0 && static_cast<int>(row.size()) != cols) return false;
      cols = static_cast<int>(row.size());
      for (auto& x : row) m.ch.push_back(std::move(x));
      row.clear();
      ++rows;
      return true;
    };
    for (;;) {
      if (peek().t == T::End) {
        if (peek().s != env) return false;
        ++p_;
        break;
      }
      if (peek().t == T::Eof) return false;
      if (peek().t == T::RowSep) {
        ++p_;
        if (!finish_row()) return false;
        continue;
      }
      Node cell;
      if (!expr(cell)) return false;
      row.push_back(std::move(cell));
      if (is_op("&")) {
        ++p_;
        continue;
      }
    }
    if (!finish_row()) return false;
    if (rows == 0) return false;
    m.rows = rows;
    m.cols = cols;
    out = std::move(m);
    return true;
  }

  bool bracketed(const std::string& open, Node& out) {
    ++p_;
    std::vector<Node> items;
    if (peek().t == T::Close) {  // empty: () {} \{\}
      const std::string close = peek().s;
      ++p_;
      out = make(open == "\\{" ? NodeKind::Set : NodeKind::Tuple, {});
      out.lb = open[0];
      out.rb = close[0];
      return true;
    }
    Node inner;
    if (!semilist(inner)) return false;
    // ";" inside brackets separates elements like ","
    if (inner.kind == NodeKind::List) {
      for (auto& x : inner.ch) {
        if (x.kind == NodeKind::List) {
          for (auto& y : x.ch) items.push_back(std::move(y));
        } else {
          items.push_back(std::move(x));
        }
      }
    } else {
      items.push_back(std::move(inner));
    }
    if (peek().t != T::Close) return false;
    const std::string close = peek().s;
    ++p_;
    if (open == "\\{") {
      if (close != "\\}") return false;
      out = make(NodeKind::Set, std::move(items));
      return true;
    }
    if (open == "{") {
      if (close != "}") return false;
      out = items.size() == 1 ? std::move(items[0]) : make(NodeKind::List, std::move(items));
      return true;
    }
    if (close == "}" || close == "\\}") return false;
    if (items.size() == 1 && open == "(" && close == ")") {
      out = std::move(items[0]);
      return true;
    }
    if (items.size() == 1 && open == "[" && close == "]") {
      out = std::move(items[0]);
      return true;
    }
    out = make(NodeKind::Tuple, std::move(items));
    out.lb = open[0];
    out.rb = close[0];
    return true;
  }

  bool primary(Node& out) {
    Depth d(depth_);
    if (!d.ok) return false;
    const Tok t = peek();
    switch (t.t) {
      case T::Num: {
        ++p_;
        out = num(std::strtod(t.s.c_str(), nullptr), t.s.find('.') != std::string::npos);
        out.lit = t.s;
        return true;
      }
      case T::Ident: {
        ++p_;
        static const std::string kFuncLetters = "fghFGHPQWp";
        if (kFuncLetters.find(t.s[0]) != std::string::npos && peek().t == T::Open && peek().s == "(") {
          // f(x): an unknown function applied to its argument(s): a symbol named by the whole call
          Node a;
          if (!bracketed("(", a)) return false;
          std::string name = t.s + "(";
          if (a.kind == NodeKind::Tuple) {
            for (size_t i = 0; i < a.ch.size(); ++i) name += (i ? "," : "") + node_to_string(a.ch[i]);
          } else {
            name += node_to_string(a);
          }
          out = make(NodeKind::Sym, {}, name + ")");
          return true;
        }
        if (t.s == "e") {
          out = make(NodeKind::Const, {}, "e");
          return true;
        }
        out = make(NodeKind::Sym, {}, t.s);
        return true;
      }
      case T::Open:
        return bracketed(t.s, out);
      case T::Begin: {
        ++p_;
        if (t.s == "pmatrix" || t.s == "bmatrix" || t.s == "matrix" || t.s == "array" || t.s == "vmatrix" || t.s == "Bmatrix" ||
            t.s == "smallmatrix")
          return matrix(t.s, out);
        return false;
      }
      case T::Text: {
        ++p_;
        out = make(NodeKind::Text, {}, t.s);
        return true;
      }
      case T::Op:
        if (t.s == "|") {
          ++p_;
          Node a;
          if (!expr(a)) return false;
          if (!is_op("|")) return false;
          ++p_;
          out = make(NodeKind::Func, {std::move(a)}, "abs");
          return true;
        }
        return false;
      case T::Cmd: {
        ++p_;
        const std::string& c = t.s;
        if (c == "frac" || c == "dfrac" || c == "tfrac" || c == "cfrac") {
          Node a, b;
          if (!arg(a) || !arg(b)) return false;
          out = make(NodeKind::Div, {std::move(a), std::move(b)});
          return true;
        }
        if (c == "binom" || c == "dbinom" || c == "tbinom") {
          Node a, b;
          if (!arg(a) || !arg(b)) return false;
          out = make(NodeKind::Func, {std::move(a), std::move(b)}, "binom");
          return true;
        }
        if (c == "sqrt") {
          if (peek().t == T::Open && peek().s == "[") {
            ++p_;
            Node k;
            if (!expr(k)) return false;
            if (!(peek().t == T::Close && peek().s == "]")) return false;
            ++p_;
            Node a;
            if (!arg(a)) return false;
            out = make(NodeKind::Pow, {std::move(a), make(NodeKind::Div, {num(1), std::move(k)})});
            return true;
          }
          Node a;
          if (!arg(a)) return false;
          out = make(NodeKind::Func, {std::move(a)}, "sqrt");
          return true;
        }
        if (c == "pi") {
          out = make(NodeKind::Const, {}, "pi");
          return true;
        }
        if (c == "infty" || c == "infin") {
          out = make(NodeKind::Const, {}, "inf");
          return true;
        }
        if (c == "lfloor" || c == "lceil") {
          Node a;
          if (!expr(a)) return false;
          if (!(is_cmd("rfloor") || is_cmd("rceil"))) return false;
          ++p_;
          out = make(NodeKind::Func, {std::move(a)}, c == "lfloor" ? "floor" : "ceil");
          return true;
        }
        if (c == "exp" || func_names().count(c)) return function(c, out);
        if (c == "circ" || c == "degree") {  // a lone degree sign multiplies by 1
          out = num(1);
          return true;
        }
        if (c == "dots" || c == "ldots" || c == "cdots") {
          out = make(NodeKind::Sym, {}, "...");
          return true;
        }
        // Greek letters and any other command: a symbol named by the command.
        out = make(NodeKind::Sym, {}, "\\" + c);
        return true;
      }
      default:
        return false;
    }
  }

  std::vector<Tok> t_;
  size_t p_ = 0;
  int depth_ = 0;
};

double fact(double x) {
  if (x < 0 || std::floor(x) != x) return std::tgamma(x + 1);
  if (x > 170) return INFINITY;
  double r = 1;
  for (int i = 2; i <= static_cast<int>(x); ++i) r *= i;
  return r;
}

// "007" -> "7", "1.50" -> "1.5", "2.0" -> "2", ".5" -> "0.5": the same number written the same way.
std::string canonical_literal(const std::string& lit) {
  std::string ip = lit, fp;
  if (const size_t dot = lit.find('.'); dot != std::string::npos) {
    ip = lit.substr(0, dot);
    fp = lit.substr(dot + 1);
  }
  ip.erase(0, std::min(ip.find_first_not_of('0'), ip.size()));
  if (ip.empty()) ip = "0";
  while (!fp.empty() && fp.back() == '0') fp.pop_back();
  return fp.empty() ? ip : ip + "." + fp;
}

}  // namespace

std::optional<Node> parse_math(std::string_view s, size_t max_len) {
  if (s.size() > max_len) return std::nullopt;
  std::vector<Tok> toks;
  if (!tokenize(s, toks)) return std::nullopt;
  if (toks.size() <= 1) return std::nullopt;
  Parser p(std::move(toks));
  return p.parse_all();
}

double eval_node(const Node& n, const std::map<std::string, double>& vars) {
  switch (n.kind) {
    case NodeKind::Num: return n.num;
    case NodeKind::Sym: {
      auto it = vars.find(n.name);
      return it == vars.end() ? NAN : it->second;
    }
    case NodeKind::Const:
      if (n.name == "pi") return M_PI;
      if (n.name == "e") return M_E;
      return INFINITY;
    case NodeKind::Add: {
      double s = 0;
      for (const auto& c : n.ch) s += eval_node(c, vars);
      return s;
    }
    case NodeKind::Mul: {
      double s = 1;
      for (const auto& c : n.ch) s *= eval_node(c, vars);
      return s;
    }
    case NodeKind::Div: {
      const double b = eval_node(n.ch[1], vars);
      if (b == 0) return NAN;
      return eval_node(n.ch[0], vars) / b;
    }
    case NodeKind::Pow: {
      const double a = eval_node(n.ch[0], vars), b = eval_node(n.ch[1], vars);
      if (a < 0 && std::floor(b) != b) {
        // odd roots of negatives: (-8)^(1/3) = -2
        const double inv = 1.0 / b;
        if (std::fabs(inv - std::round(inv)) < 1e-9 && static_cast<long long>(std::round(inv)) % 2 != 0)
          return -std::pow(-a, b);
        return NAN;
      }
      return std::pow(a, b);
    }
    case NodeKind::Neg: return -eval_node(n.ch[0], vars);
    case NodeKind::Func: {
      const double a = eval_node(n.ch[0], vars);
      const std::string& f = n.name;
      if (f == "sqrt") return a < 0 ? NAN : std::sqrt(a);
      if (f == "sin") return std::sin(a);
      if (f == "cos") return std::cos(a);
      if (f == "tan") return std::tan(a);
      if (f == "sec") return 1 / std::cos(a);
      if (f == "csc") return 1 / std::sin(a);
      if (f == "cot") return 1 / std::tan(a);
      if (f == "arcsin") return std::asin(a);
      if (f == "arccos") return std::acos(a);
      if (f == "arctan") return std::atan(a);
      if (f == "arcsec") return std::acos(1 / a);
      if (f == "arccsc") return std::asin(1 / a);
      if (f == "arccot") return std::atan(1 / a);
      if (f == "sinh") return std::sinh(a);
      if (f == "cosh") return std::cosh(a);
      if (f == "tanh") return std::tanh(a);
      if (f == "ln") return a <= 0 ? NAN : std::log(a);
      if (f == "exp") return std::exp(a);
      if (f == "abs") return std::fabs(a);
      if (f == "floor") return std::floor(a);
      if (f == "ceil") return std::ceil(a);
      if (f == "fact") return fact(a);
      if (f == "binom") {
        const double b = eval_node(n.ch[1], vars);
        if (std::floor(a) != a || std::floor(b) != b || b < 0 || a < 0 || a > 1000) return NAN;
        if (b > a) return 0;
        double r = 1;
        for (int i = 1; i <= static_cast<int>(b); ++i) r = r * (a - b + i) / i;
        return std::round(r);
      }
      return NAN;
    }
    default: return NAN;
  }
}

void collect_symbols(const Node& n, std::vector<std::string>& out) {
  if (n.kind == NodeKind::Sym) {
    if (std::find(out.begin(), out.end(), n.name) == out.end()) out.push_back(n.name);
    return;
  }
  for (const auto& c : n.ch) collect_symbols(c, out);
}

bool has_float(const Node& n) {
  if (n.kind == NodeKind::Num) return n.is_float;
  for (const auto& c : n.ch)
    if (has_float(c)) return true;
  return false;
}

std::string node_to_string(const Node& n) {
  auto join = [&](const char* sep) {
    std::string s;
    for (size_t i = 0; i < n.ch.size(); ++i) s += (i ? sep : "") + node_to_string(n.ch[i]);
    return s;
  };
  switch (n.kind) {
    case NodeKind::Num: {
      if (!n.lit.empty()) return canonical_literal(n.lit);
      if (!n.is_float && std::fabs(n.num) < 1e15 && std::floor(n.num) == n.num) return std::to_string(static_cast<long long>(n.num));
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.15g", n.num);
      return buf;
    }
    case NodeKind::Sym: case NodeKind::Const: return n.name;
    case NodeKind::Text: return "\\text{" + n.name + "}";
    case NodeKind::Add: return "(" + join("+") + ")";
    case NodeKind::Mul: return "(" + join("*") + ")";
    case NodeKind::Div: return "(" + join("/") + ")";
    case NodeKind::Pow: return "(" + join("^") + ")";
    case NodeKind::Neg: return "(-" + node_to_string(n.ch[0]) + ")";
    case NodeKind::PlusMinus: return "(" + join("\\pm") + ")";
    case NodeKind::Func: return n.name + "(" + join(",") + ")";
    case NodeKind::Tuple: return std::string(1, n.lb) + join(",") + std::string(1, n.rb);
    case NodeKind::Set: return "{" + join(",") + "}";
    case NodeKind::List: return "list(" + join(",") + ")";
    case NodeKind::Union: return join("U");
    case NodeKind::Ratio: return join(":");
    case NodeKind::Matrix: return "mat" + std::to_string(n.rows) + "x" + std::to_string(n.cols) + "(" + join(",") + ")";
    case NodeKind::Rel: {
      std::string s = node_to_string(n.ch[0]);
      for (size_t i = 0; i < n.ops.size() && i + 1 < n.ch.size(); ++i) s += n.ops[i] + node_to_string(n.ch[i + 1]);
      return s;
    }
  }
  return "?";
}

}  // namespace reasonrl::rewards
