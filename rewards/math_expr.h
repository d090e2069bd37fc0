// math_expr.h: parsing a normalised LaTeX answer into an expression tree (numbers, symbols, + - * / ^, \frac, \sqrt,
// functions, tuples, intervals, sets, unions, relations, matrices, text) and evaluating it numerically.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace reasonrl::rewards {

enum class NodeKind {
  Num,       // num (is_float: written with a decimal point)
  Sym,       // name (symbols, unknown functions applied to arguments, subscripted names)
  Const,     // name: "pi", "e", "inf"
  Add,       // ch summed
  Mul,       // ch multiplied
  Div,       // ch[0] / ch[1]
  Pow,       // ch[0] ^ ch[1]
  Neg,       // -ch[0]
  PlusMinus, // ch[0] +- ch[1] (ch[0] may be a zero Num for a leading \pm)
  Func,      // name(ch...): sin cos tan sec csc cot asin acos atan sinh cosh tanh ln log exp sqrt abs floor ceil fact root
  Tuple,     // ch with brackets lb/rb: (a,b), [a,b), ...; also intervals
  Set,       // \{ ch \}
  List,      // a bare comma/and/or separated list
  Union,     // ch joined with \cup
  Matrix,    // rows x cols in ch (row-major)
  Rel,       // ch[0] ops[0] ch[1] ops[1] ... (ops: "=", "<", "<=", ">", ">=", "!=")
  Ratio,     // ch[0] : ch[1] : ...
  Text,      // name = normalised text
};

struct Node {
  NodeKind kind = NodeKind::Num;
  double num = 0.0;        // Num: the value as a double (for eval_node)
  bool is_float = false;   // Num: written with a decimal point
  std::string lit;         // Num: the digits as written ("2147483648", "1.50"); exact arithmetic reads these
  std::string name;
  std::vector<Node> ch;
  std::vector<std::string> ops;  // Rel
  char lb = 0, rb = 0;           // Tuple brackets
  int rows = 0, cols = 0;        // Matrix
};

// Parses a normalised answer (see normalize_answer in math_verify.cpp). nullopt when it is not an expression we can
// read; the caller then compares text. Bounded: inputs longer than max_len or nested deeper than 200 fail.
std::optional<Node> parse_math(std::string_view s, size_t max_len = 4000);

// Numeric value of a scalar expression at `vars` (symbol name -> value). NaN when undefined or not scalar.
double eval_node(const Node& n, const std::map<std::string, double>& vars);
// Free symbols (Sym names) of an expression.
void collect_symbols(const Node& n, std::vector<std::string>& out);
// True if a float literal occurs anywhere.
bool has_float(const Node& n);
// A canonical text form (for structural comparison and debugging): equal strings mean identical trees, numbers
// written exactly (leading and trailing zeros dropped), signs, operators and brackets kept.
std::string node_to_string(const Node& n);

}  // namespace reasonrl::rewards
