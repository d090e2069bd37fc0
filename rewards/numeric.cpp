// numeric.cpp: exact (GMP) and interval (MPFI) evaluation of expression trees and the grader's numeric equality.
#include "rewards/numeric.h"

#include <gmpxx.h>
#include <mpfi.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <vector>

#include "rl/util/rng.h"

namespace reasonrl::rewards {

namespace {

constexpr mpfr_prec_t kLowPrec = 256;    // first evaluation
constexpr mpfr_prec_t kHighPrec = 1024;  // confirmation of an interval equality
constexpr size_t kMaxExactBits = size_t{1} << 20;  // larger exact intermediates continue as intervals
constexpr int kMaxOps = 20000;                      // evaluation budget per expression
constexpr int kPoints = 8;                          // random points for expressions with symbols

// RAII over mpfi_t.
class Interval {
 public:
  explicit Interval(mpfr_prec_t p) { mpfi_init2(v_, p); }
  Interval(const Interval& o) {
    mpfi_init2(v_, mpfi_get_prec(o.v_));
    mpfi_set(v_, o.v_);
  }
  Interval& operator=(const Interval& o) {
    if (this != &o) {
      mpfi_set_prec(v_, mpfi_get_prec(o.v_));
      mpfi_set(v_, o.v_);
    }
    return *this;
  }
  ~Interval() { mpfi_clear(v_); }
  mpfi_ptr get() { return v_; }
  mpfi_srcptr get() const { return v_; }

 private:
  mpfi_t v_;
};

// RAII over mpfr_t.
class Real {
 public:
  explicit Real(mpfr_prec_t p) { mpfr_init2(v_, p); }
  Real(const Real&) = delete;
  Real& operator=(const Real&) = delete;
  ~Real() { mpfr_clear(v_); }
  mpfr_ptr get() { return v_; }
  mpfr_srcptr get() const { return v_; }

 private:
  mpfr_t v_;
};

struct Value {
  enum Kind { Undefined, Exact, Approx } kind = Undefined;
  mpq_class q;
  std::optional<Interval> iv;
};

Value undefined() { return {}; }
Value exact(mpq_class q) {
  Value v;
  v.kind = Value::Exact;
  v.q = std::move(q);
  v.q.canonicalize();
  return v;
}

bool is_integer(const mpq_class& q) { return q.get_den() == 1; }

size_t bits(const mpq_class& q) {
  return mpz_sizeinbase(q.get_num_mpz_t(), 2) + mpz_sizeinbase(q.get_den_mpz_t(), 2);
}

// A decimal literal ("12", "0.50", ".5") as an exact rational.
std::optional<mpq_class> literal_value(const std::string& lit) {
  std::string digits;
  size_t frac = 0;
  bool dot = false;
  for (char c : lit) {
    if (c == '.') {
      if (dot) return std::nullopt;
      dot = true;
    } else if (c >= '0' && c <= '9') {
      digits += c;
      frac += dot;
    } else {
      return std::nullopt;
    }
  }
  if (digits.empty()) return std::nullopt;
  mpz_class num(digits, 10), den;
  mpz_ui_pow_ui(den.get_mpz_t(), 10, frac);
  mpq_class q(num, den);
  q.canonicalize();
  return q;
}

class Evaluator {
 public:
  Evaluator(mpfr_prec_t prec, const std::map<std::string, mpq_class>& vars) : prec_(prec), vars_(vars) {}

  Value eval(const Node& n) {
    if (++ops_ > kMaxOps) return undefined();
    Value v = eval_inner(n);
    if (v.kind == Value::Approx) {
      const mpfi_srcptr x = v.iv->get();
      if (mpfi_nan_p(x) || !mpfi_bounded_p(x) || mpfi_is_empty(x)) return undefined();
    } else if (v.kind == Value::Exact && bits(v.q) > kMaxExactBits) {
      return approx_of(v);
    }
    return v;
  }

 private:
  Interval make_iv() const { return Interval(prec_); }

  Value approx(Interval iv) const {
    Value v;
    v.kind = Value::Approx;
    v.iv = std::move(iv);
    return v;
  }
  Value approx_of(const Value& v) const {
    if (v.kind != Value::Exact) return v;
    Interval iv = make_iv();
    mpfi_set_q(iv.get(), v.q.get_mpq_t());
    return approx(std::move(iv));
  }
  Interval to_iv(const Value& v) const {
    if (v.kind == Value::Approx) return *v.iv;
    Interval iv = make_iv();
    mpfi_set_q(iv.get(), v.q.get_mpq_t());
    return iv;
  }

  Value add(const Value& a, const Value& b) const {
    if (a.kind == Value::Undefined || b.kind == Value::Undefined) return undefined();
    if (a.kind == Value::Exact && b.kind == Value::Exact) return exact(a.q + b.q);
    Interval r = make_iv(), x = to_iv(a), y = to_iv(b);
    mpfi_add(r.get(), x.get(), y.get());
    return approx(std::move(r));
  }
  Value mul(const Value& a, const Value& b) const {
    if (a.kind == Value::Undefined || b.kind == Value::Undefined) return undefined();
    if (a.kind == Value::Exact && b.kind == Value::Exact) return exact(a.q * b.q);
    if ((a.kind == Value::Exact && a.q == 0) || (b.kind == Value::Exact && b.q == 0)) return exact(0);
    Interval r = make_iv(), x = to_iv(a), y = to_iv(b);
    mpfi_mul(r.get(), x.get(), y.get());
    return approx(std::move(r));
  }
  Value neg(const Value& a) const {
    if (a.kind == Value::Exact) return exact(-a.q);
    if (a.kind == Value::Undefined) return a;
    Interval r = make_iv();
    mpfi_neg(r.get(), a.iv->get());
    return approx(std::move(r));
  }
  Value div(const Value& a, const Value& b) const {
    if (a.kind == Value::Undefined || b.kind == Value::Undefined) return undefined();
    if (b.kind == Value::Exact) {
      if (b.q == 0) return undefined();
      if (a.kind == Value::Exact) return exact(a.q / b.q);
    } else if (mpfi_has_zero(b.iv->get())) {
      return undefined();
    }
    Interval r = make_iv(), x = to_iv(a), y = to_iv(b);
    mpfi_div(r.get(), x.get(), y.get());
    return approx(std::move(r));
  }

  // x^k for an integer k (exact when x is exact and the result stays small).
  Value int_pow(const Value& x, const mpz_class& k) {
    if (x.kind == Value::Exact) {
      if (x.q == 0) return k > 0 ? exact(0) : (k == 0 ? exact(1) : undefined());
      if (x.q == 1) return exact(1);
      if (x.q == -1) return exact(mpz_odd_p(k.get_mpz_t()) ? -1 : 1);
      const mpz_class ak = abs(k);
      if (ak.fits_ulong_p() && static_cast<double>(bits(x.q)) * ak.get_d() <= static_cast<double>(kMaxExactBits)) {
        const unsigned long e = ak.get_ui();
        mpz_class num, den;
        mpz_pow_ui(num.get_mpz_t(), x.q.get_num_mpz_t(), e);
        mpz_pow_ui(den.get_mpz_t(), x.q.get_den_mpz_t(), e);
        mpq_class r(num, den);
        r.canonicalize();
        if (k < 0) r = 1 / r;
        return exact(r);
      }
    }
    // |x|^k = exp(k log|x|), sign by parity; x must not contain zero.
    const Interval ix = to_iv(x);
    if (mpfi_has_zero(ix.get())) {
      if (k > 0 && k <= 64) {  // small powers by repeated multiplication (valid for intervals around zero)
        Value r = exact(1);
        for (long i = 0; i < k.get_si(); ++i) r = mul(r, x);
        return r;
      }
      return undefined();
    }
    Interval a = make_iv(), l = make_iv(), r = make_iv();
    mpfi_abs(a.get(), ix.get());
    mpfi_log(l.get(), a.get());
    mpfi_mul_z(l.get(), l.get(), k.get_mpz_t());
    mpfi_exp(r.get(), l.get());
    if (mpfi_is_strictly_neg(ix.get()) && mpz_odd_p(k.get_mpz_t())) mpfi_neg(r.get(), r.get());
    return approx(std::move(r));
  }

  // Exact q-th root of a rational, if there is one.
  static std::optional<mpq_class> exact_root(const mpq_class& x, unsigned long q) {
    const bool neg = x < 0;
    if (neg && q % 2 == 0) return std::nullopt;
    mpz_class n = abs(x.get_num()), d = x.get_den(), rn, rd;
    if (!mpz_root(rn.get_mpz_t(), n.get_mpz_t(), q) || !mpz_root(rd.get_mpz_t(), d.get_mpz_t(), q)) return std::nullopt;
    mpq_class r(neg ? mpz_class(-rn) : rn, rd);
    r.canonicalize();
    return r;
  }

  Value power(const Value& b, const Value& e) {
    if (b.kind == Value::Undefined || e.kind == Value::Undefined) return undefined();
    if (e.kind == Value::Exact && is_integer(e.q)) return int_pow(b, e.q.get_num());
    if (e.kind == Value::Exact && e.q.get_den() <= 64 && b.kind == Value::Exact) {
      if (b.q == 0) return e.q > 0 ? exact(0) : undefined();
      if (auto r = exact_root(b.q, e.q.get_den().get_ui())) return int_pow(exact(*r), e.q.get_num());
    }
    const Interval ib = to_iv(b), ie = to_iv(e);
    if (mpfi_is_strictly_pos(ib.get())) {
      Interval l = make_iv(), r = make_iv();
      mpfi_log(l.get(), ib.get());
      mpfi_mul(l.get(), l.get(), ie.get());
      mpfi_exp(r.get(), l.get());
      return approx(std::move(r));
    }
    // a negative base with an odd-denominator rational exponent: (-8)^(1/3) = -2
    if (mpfi_is_strictly_neg(ib.get()) && e.kind == Value::Exact && mpz_odd_p(e.q.get_den_mpz_t())) {
      Interval a = make_iv(), l = make_iv(), r = make_iv();
      mpfi_neg(a.get(), ib.get());
      mpfi_log(l.get(), a.get());
      mpfi_mul_q(l.get(), l.get(), e.q.get_mpq_t());
      mpfi_exp(r.get(), l.get());
      if (mpz_odd_p(e.q.get_num_mpz_t())) mpfi_neg(r.get(), r.get());
      return approx(std::move(r));
    }
    if (b.kind == Value::Exact && b.q == 0 && mpfi_is_strictly_pos(ie.get())) return exact(0);
    return undefined();
  }

  using IvFn = int (*)(mpfi_ptr, mpfi_srcptr);
  Value apply(const Value& a, IvFn f) const {
    if (a.kind == Value::Undefined) return a;
    Interval r = make_iv(), x = to_iv(a);
    f(r.get(), x.get());
    return approx(std::move(r));
  }
  // f(1/x)
  Value apply_inv(const Value& a, IvFn f) const {
    const Value inv = div(exact(1), a);
    if (inv.kind == Value::Undefined) return inv;
    return apply(inv, f);
  }
  Value func(const Node& n) {
    const std::string& f = n.name;
    if (n.ch.empty()) return undefined();
    const Value a = eval(n.ch[0]);
    if (a.kind == Value::Undefined) return a;
    const bool ex = a.kind == Value::Exact;
    if (f == "abs") return ex ? exact(abs(a.q)) : apply(a, mpfi_abs);
    if (f == "floor" || f == "ceil") {
      if (ex) {
        mpz_class r;
        if (f == "floor") mpz_fdiv_q(r.get_mpz_t(), a.q.get_num_mpz_t(), a.q.get_den_mpz_t());
        else mpz_cdiv_q(r.get_mpz_t(), a.q.get_num_mpz_t(), a.q.get_den_mpz_t());
        return exact(mpq_class(r));
      }
      Real lo(prec_), hi(prec_);
      mpfi_get_left(lo.get(), a.iv->get());
      mpfi_get_right(hi.get(), a.iv->get());
      if (f == "floor") {
        mpfr_floor(lo.get(), lo.get());
        mpfr_floor(hi.get(), hi.get());
      } else {
        mpfr_ceil(lo.get(), lo.get());
        mpfr_ceil(hi.get(), hi.get());
      }
      if (!mpfr_equal_p(lo.get(), hi.get()) || !mpfr_number_p(lo.get())) return undefined();
      mpz_class z;
      mpfr_get_z(z.get_mpz_t(), lo.get(), MPFR_RNDN);
      return exact(mpq_class(z));
    }
    if (f == "fact") {
      if (!ex || !is_integer(a.q) || a.q < 0 || a.q > 5000) return undefined();
      mpz_class r;
      mpz_fac_ui(r.get_mpz_t(), a.q.get_num().get_ui());
      return exact(mpq_class(r));
    }
    if (f == "binom") {
      if (n.ch.size() < 2) return undefined();
      const Value b = eval(n.ch[1]);
      if (!ex || b.kind != Value::Exact || !is_integer(a.q) || !is_integer(b.q) || a.q < 0 || b.q < 0 || a.q > 100000)
        return undefined();
      if (b.q > a.q) return exact(0);
      mpz_class r;
      mpz_bin_uiui(r.get_mpz_t(), a.q.get_num().get_ui(), b.q.get_num().get_ui());
      return exact(mpq_class(r));
    }
    if (f == "sqrt") {
      if (ex) {
        if (a.q < 0) return undefined();
        if (auto r = exact_root(a.q, 2)) return exact(*r);
      } else if (mpfi_is_strictly_neg(a.iv->get())) {
        return undefined();
      }
      const Interval x = to_iv(a);
      if (mpfi_cmp_si(x.get(), 0) < 0 && !mpfi_has_zero(x.get())) return undefined();
      return apply(a, mpfi_sqrt);
    }
    if (f == "ln") {
      if (ex && a.q == 1) return exact(0);
      const Interval x = to_iv(a);
      if (!mpfi_is_strictly_pos(x.get())) return undefined();
      return apply(a, mpfi_log);
    }
    if (f == "exp") return ex && a.q == 0 ? exact(1) : apply(a, mpfi_exp);
    if (ex && a.q == 0 && (f == "sin" || f == "tan" || f == "arcsin" || f == "arctan" || f == "sinh" || f == "tanh"))
      return exact(0);
    if (ex && a.q == 0 && (f == "cos" || f == "cosh" || f == "sec")) return exact(1);
    // Trigonometric functions of huge arguments need a range reduction as long as the argument (seconds for
    // sin(10^(10^5))), exp of one overflows: both are left undefined (compared structurally).
    if (!ex || bits(a.q) > 64) {
      const Interval x = to_iv(a);
      Real m(64);
      mpfi_mag(m.get(), x.get());
      if (mpfr_cmp_ui_2exp(m.get(), 1, 40) > 0) return undefined();
    }
    if (f == "sin") return apply(a, mpfi_sin);
    if (f == "cos") return apply(a, mpfi_cos);
    if (f == "tan") return apply(a, mpfi_tan);
    // sec = 1/cos, csc = 1/sin: MPFI 1.5.3's mpfi_sec and mpfi_csc leak a GMP limb per call (LeakSanitizer)
    if (f == "sec") return div(exact(1), apply(a, mpfi_cos));
    if (f == "csc") return div(exact(1), apply(a, mpfi_sin));
    if (f == "cot") return apply(a, mpfi_cot);
    if (f == "sinh") return apply(a, mpfi_sinh);
    if (f == "cosh") return apply(a, mpfi_cosh);
    if (f == "tanh") return apply(a, mpfi_tanh);
    if (f == "arctan") return apply(a, mpfi_atan);
    if (f == "arccot") return apply_inv(a, mpfi_atan);
    if (f == "arcsin" || f == "arccos") {
      const Interval x = to_iv(a);
      if (mpfi_cmp_si(x.get(), -1) < 0 || mpfi_cmp_si(x.get(), 1) > 0) return undefined();
      return apply(a, f == "arcsin" ? mpfi_asin : mpfi_acos);
    }
    if (f == "arcsec" || f == "arccsc") {
      const Value inv = div(exact(1), a);
      if (inv.kind == Value::Undefined) return inv;
      const Interval x = to_iv(inv);
      if (mpfi_cmp_si(x.get(), -1) < 0 || mpfi_cmp_si(x.get(), 1) > 0) return undefined();
      return apply(inv, f == "arcsec" ? mpfi_acos : mpfi_asin);
    }
    return undefined();
  }

  Value eval_inner(const Node& n) {
    switch (n.kind) {
      case NodeKind::Num: {
        if (!n.lit.empty()) {
          if (auto q = literal_value(n.lit)) return exact(*q);
          return undefined();
        }
        if (!std::isfinite(n.num)) return undefined();
        return exact(mpq_class(n.num));  // synthetic nodes (0, 1) are exact doubles
      }
      case NodeKind::Sym: {
        const auto it = vars_.find(n.name);
        return it == vars_.end() ? undefined() : exact(it->second);
      }
      case NodeKind::Const: {
        Interval r = make_iv();
        if (n.name == "pi") {
          mpfi_const_pi(r.get());
        } else if (n.name == "e") {
          mpfi_set_ui(r.get(), 1);
          mpfi_exp(r.get(), r.get());
        } else {
          return undefined();  // infinity: compared structurally
        }
        return approx(std::move(r));
      }
      case NodeKind::Add: {
        Value s = exact(0);
        for (const auto& c : n.ch) s = add(s, eval(c));
        return s;
      }
      case NodeKind::Mul: {
        Value s = exact(1);
        for (const auto& c : n.ch) s = mul(s, eval(c));
        return s;
      }
      case NodeKind::Div:
        if (n.ch.size() != 2) return undefined();
        return div(eval(n.ch[0]), eval(n.ch[1]));
      case NodeKind::Pow:
        if (n.ch.size() != 2) return undefined();
        return power(eval(n.ch[0]), eval(n.ch[1]));
      case NodeKind::Neg:
        if (n.ch.empty()) return undefined();
        return neg(eval(n.ch[0]));
      case NodeKind::Func: return func(n);
      default: return undefined();
    }
  }

  mpfr_prec_t prec_;
  const std::map<std::string, mpq_class>& vars_;
  int ops_ = 0;
};

// The exact value's decimal expansion terminates (denominator 2^a 5^b).
bool terminates(const mpq_class& q) {
  mpz_class d = q.get_den();
  mpz_remove(d.get_mpz_t(), d.get_mpz_t(), mpz_class(2).get_mpz_t());
  mpz_remove(d.get_mpz_t(), d.get_mpz_t(), mpz_class(5).get_mpz_t());
  return d == 1;
}

// Decimals written after the point when `n` is a plain decimal literal ("0.0666668" -> 7, "-2.50" -> 2).
std::optional<size_t> literal_decimals(const Node& n) {
  if (n.kind == NodeKind::Neg && n.ch.size() == 1) return literal_decimals(n.ch[0]);
  if (n.kind != NodeKind::Num || n.lit.empty()) return std::nullopt;
  const size_t dot = n.lit.find('.');
  return dot == std::string::npos ? 0 : n.lit.size() - dot - 1;
}

// Two decimals written to different lengths, the shorter with at least r decimals: equal when the longer, rounded
// half away from zero to the shorter's length, is the shorter (0.0666668 = 0.066666793 at r = 6; 3.14 != 3.14159).
bool rounded_decimal(const Node& a, const mpq_class& qa, const Node& b, const mpq_class& qb, int r) {
  const auto da = literal_decimals(a), db = literal_decimals(b);
  if (!da || !db || *da == *db) return false;
  const size_t k = std::min(*da, *db);
  if (k < static_cast<size_t>(std::max(r, 0))) return false;
  const mpq_class& longer = *da > *db ? qa : qb;
  const mpq_class& shorter = *da > *db ? qb : qa;
  mpz_class scale;
  mpz_ui_pow_ui(scale.get_mpz_t(), 10, k);
  mpq_class x = abs(longer) * scale + mpq_class(1, 2);
  mpz_class rounded;
  mpz_fdiv_q(rounded.get_mpz_t(), x.get_num_mpz_t(), x.get_den_mpz_t());
  mpq_class back(longer < 0 ? mpz_class(-rounded) : rounded, scale);
  back.canonicalize();
  return back == shorter;
}

void midpoint(const Value& v, Real& out) {
  if (v.kind == Value::Exact) mpfr_set_q(out.get(), v.q.get_mpq_t(), MPFR_RNDN);
  else mpfi_mid(out.get(), v.iv->get());
}

// The decimal-rounding rule (see numeric.h).
bool decimal_close(const Value& a, const Value& b, int float_rounding) {
  Real x(kLowPrec), y(kLowPrec), d(kLowPrec), m(kLowPrec), t(kLowPrec), tol(kLowPrec);
  midpoint(a, x);
  midpoint(b, y);
  mpfr_sub(d.get(), x.get(), y.get(), MPFR_RNDN);
  mpfr_abs(d.get(), d.get(), MPFR_RNDN);
  mpfr_abs(x.get(), x.get(), MPFR_RNDN);
  mpfr_abs(y.get(), y.get(), MPFR_RNDN);
  mpfr_max(m.get(), x.get(), y.get(), MPFR_RNDN);
  if (mpfr_zero_p(m.get())) return true;
  // |a - b| <= 0.5 * 10^-r * max(1, m) (with slack for the binary form of 10^-r)
  mpfr_set_ui(t.get(), 10, MPFR_RNDN);
  mpfr_pow_si(t.get(), t.get(), -std::clamp(float_rounding, 0, 300), MPFR_RNDN);
  mpfr_mul_d(t.get(), t.get(), 0.5 * (1 + 1e-12), MPFR_RNDN);
  mpfr_set_ui(tol.get(), 1, MPFR_RNDN);
  mpfr_max(tol.get(), tol.get(), m.get(), MPFR_RNDN);
  mpfr_mul(tol.get(), tol.get(), t.get(), MPFR_RNDN);
  if (mpfr_greater_p(d.get(), tol.get())) return false;
  // and the leading digits: |a - b| <= 0.005 * m (0.05 at float_rounding 2, 0.5 at 1 or 0)
  mpfr_mul_d(t.get(), m.get(), 0.5 * std::pow(10.0, -(std::clamp(float_rounding, 1, 3) - 1)), MPFR_RNDN);
  return mpfr_lessequal_p(d.get(), t.get());
}

// An interval narrow enough to decide: absolute width at most 2^-(prec/2). A huge value (10^(10^10)) is never narrow
// in this sense, so "10^(10^10) + 1" is not found equal to "10^(10^10)" through a relative width.
bool narrow(const Value& v, mpfr_prec_t prec) {
  if (v.kind == Value::Exact) return true;
  Real w(64);
  mpfi_diam_abs(w.get(), v.iv->get());
  return mpfr_cmp_ui_2exp(w.get(), 1, -static_cast<long>(prec / 2)) <= 0;
}

bool overlap(const Value& a, const Value& b, mpfr_prec_t prec) {
  Interval x(prec), y(prec), r(prec);
  if (a.kind == Value::Exact) mpfi_set_q(x.get(), a.q.get_mpq_t());
  else mpfi_set(x.get(), a.iv->get());
  if (b.kind == Value::Exact) mpfi_set_q(y.get(), b.q.get_mpq_t());
  else mpfi_set(y.get(), b.iv->get());
  mpfi_intersect(r.get(), x.get(), y.get());
  return !mpfi_is_empty(r.get());
}

using Vars = std::map<std::string, mpq_class>;

void use_full_exponent_range() {
  mpfr_set_emax(mpfr_get_emax_max());
  mpfr_set_emin(mpfr_get_emin_min());
}

// a at va vs b at vb.
NumericResult compare_at(const Node& a, const Vars& va, const Node& b, const Vars& vb, bool floats, int r) {
  Evaluator ea(kLowPrec, va), eb(kLowPrec, vb);
  const Value x = ea.eval(a), y = eb.eval(b);
  if (x.kind == Value::Undefined || y.kind == Value::Undefined) return {NumVerdict::Unknown, "undefined"};
  if (x.kind == Value::Exact && y.kind == Value::Exact) {
    if (x.q == y.q) return {NumVerdict::Equal, "exact"};
    if (floats && (!terminates(x.q) || !terminates(y.q)))
      return {decimal_close(x, y, r) ? NumVerdict::Equal : NumVerdict::NotEqual, "decimal_rounding"};
    if (floats && rounded_decimal(a, x.q, b, y.q, r)) return {NumVerdict::Equal, "decimal_rounding"};
    return {NumVerdict::NotEqual, "exact"};
  }
  if (floats) {
    if (!narrow(x, kLowPrec) || !narrow(y, kLowPrec)) return {NumVerdict::Unknown, "undefined"};
    return {decimal_close(x, y, r) ? NumVerdict::Equal : NumVerdict::NotEqual, "decimal_rounding"};
  }
  if (!overlap(x, y, kLowPrec)) return {NumVerdict::NotEqual, "interval"};
  Evaluator ha(kHighPrec, va), hb(kHighPrec, vb);
  const Value x2 = ha.eval(a), y2 = hb.eval(b);
  if (x2.kind == Value::Undefined || y2.kind == Value::Undefined) return {NumVerdict::Unknown, "undefined"};
  if (!overlap(x2, y2, kHighPrec)) return {NumVerdict::NotEqual, "interval"};
  if (!narrow(x2, kHighPrec) || !narrow(y2, kHighPrec)) return {NumVerdict::Unknown, "undefined"};
  return {NumVerdict::Equal, "interval"};
}

// Random rational points in [0.3, 2.7] for the symbols of a and b (the same points for both).
std::vector<Vars> random_points(const std::vector<std::string>& syms, uint64_t seed) {
  Rng rng(seed);
  std::vector<Vars> pts;
  for (int k = 0; k < kPoints; ++k) {
    Vars v;
    for (const auto& s : syms) {
      const long num = 300000 + static_cast<long>(rng.uniform() * 2400000.0);
      v[s] = mpq_class(num, 1000000);
      v[s].canonicalize();
    }
    pts.push_back(std::move(v));
  }
  return pts;
}

}  // namespace

NumericResult numeric_equal(const Node& a, const Node& b, int float_rounding) {
  use_full_exponent_range();
  const bool floats = has_float(a) || has_float(b);
  std::vector<std::string> syms;
  collect_symbols(a, syms);
  collect_symbols(b, syms);
  if (syms.empty()) return compare_at(a, {}, b, {}, floats, float_rounding);
  int equal = 0;
  for (const auto& v : random_points(syms, 0x5eed)) {
    const NumericResult r = compare_at(a, v, b, v, floats, float_rounding);
    if (r.verdict == NumVerdict::NotEqual) return {NumVerdict::NotEqual, "random_points"};
    equal += r.verdict == NumVerdict::Equal;
  }
  return {equal >= 2 ? NumVerdict::Equal : NumVerdict::Unknown, "random_points"};
}

NumVerdict proportional(const Node& fa, const Node& fb, bool positive) {
  use_full_exponent_range();
  std::vector<std::string> syms;
  collect_symbols(fa, syms);
  collect_symbols(fb, syms);
  if (syms.empty()) return NumVerdict::Unknown;
  // ratio fb/fa at each point, compared with the ratio at the first point where both are non-zero
  Node ratio;
  ratio.kind = NodeKind::Div;
  ratio.ch = {fb, fa};
  std::optional<Vars> first;
  int ok = 0;
  for (const auto& v : random_points(syms, 0xfeed)) {
    Evaluator ea(kLowPrec, v), eb(kLowPrec, v);
    const Value x = ea.eval(fa), y = eb.eval(fb);
    if (x.kind == Value::Undefined || y.kind == Value::Undefined) continue;
    const bool xz = x.kind == Value::Exact ? x.q == 0 : mpfi_has_zero(x.iv->get());
    const bool yz = y.kind == Value::Exact ? y.q == 0 : mpfi_has_zero(y.iv->get());
    if (xz && yz) continue;
    if (xz != yz) return NumVerdict::NotEqual;
    if (!first) {
      first = v;
      Evaluator er(kLowPrec, v);
      const Value r = er.eval(ratio);
      if (r.kind == Value::Undefined) return NumVerdict::Unknown;
      const bool pos = r.kind == Value::Exact ? r.q > 0 : mpfi_is_strictly_pos(r.iv->get()) != 0;
      if (positive && !pos) return NumVerdict::NotEqual;
      ++ok;
      continue;
    }
    const NumericResult c = compare_at(ratio, *first, ratio, v, false, 6);
    if (c.verdict == NumVerdict::NotEqual) return NumVerdict::NotEqual;
    ok += c.verdict == NumVerdict::Equal;
  }
  return ok >= 2 ? NumVerdict::Equal : NumVerdict::Unknown;
}

namespace {

struct Mat {
  int r = 0, c = 0;
  std::vector<Node> v;  // cells as expressions (sums and products built as nodes)
};

Node make_node(NodeKind k, std::vector<Node> ch) {
  Node n;
  n.kind = k;
  n.ch = std::move(ch);
  return n;
}

// A matrix expression as a matrix of cell expressions.
std::optional<Mat> matrix_of(const Node& n, int depth = 0) {
  if (depth > 32) return std::nullopt;
  switch (n.kind) {
    case NodeKind::Matrix: return Mat{n.rows, n.cols, n.ch};
    case NodeKind::Neg: {
      auto a = matrix_of(n.ch[0], depth + 1);
      if (!a) return std::nullopt;
      for (auto& x : a->v) x = make_node(NodeKind::Neg, {x});
      return a;
    }
    case NodeKind::Add: {
      std::optional<Mat> acc;
      for (const auto& x : n.ch) {
        auto a = matrix_of(x, depth + 1);
        if (!a) return std::nullopt;
        if (!acc) {
          acc = a;
          continue;
        }
        if (a->r != acc->r || a->c != acc->c) return std::nullopt;
        for (size_t i = 0; i < a->v.size(); ++i) acc->v[i] = make_node(NodeKind::Add, {acc->v[i], a->v[i]});
      }
      return acc;
    }
    case NodeKind::Mul: {
      std::optional<Mat> acc;
      std::vector<Node> scale;
      for (const auto& x : n.ch) {
        if (x.kind != NodeKind::Matrix && x.kind != NodeKind::Add && x.kind != NodeKind::Mul && x.kind != NodeKind::Neg) {
          scale.push_back(x);
          continue;
        }
        auto a = matrix_of(x, depth + 1);
        if (!a) return std::nullopt;
        if (!acc) {
          acc = a;
          continue;
        }
        if (acc->c != a->r || static_cast<size_t>(acc->r) * a->c * acc->c > 4096) return std::nullopt;
        Mat p{acc->r, a->c, {}};
        for (int i = 0; i < acc->r; ++i)
          for (int j = 0; j < a->c; ++j) {
            std::vector<Node> terms;
            for (int k = 0; k < acc->c; ++k)
              terms.push_back(make_node(NodeKind::Mul, {acc->v[i * acc->c + k], a->v[k * a->c + j]}));
            p.v.push_back(make_node(NodeKind::Add, std::move(terms)));
          }
        acc = std::move(p);
      }
      if (acc && !scale.empty())
        for (auto& x : acc->v) {
          std::vector<Node> f = scale;
          f.push_back(x);
          x = make_node(NodeKind::Mul, std::move(f));
        }
      return acc;
    }
    default: return std::nullopt;
  }
}

}  // namespace

NumVerdict matrix_equal(const Node& a, const Node& b, int float_rounding) {
  const auto x = matrix_of(a), y = matrix_of(b);
  if (!x || !y) return NumVerdict::Unknown;
  if (x->r != y->r || x->c != y->c) return NumVerdict::NotEqual;
  for (size_t i = 0; i < x->v.size(); ++i) {
    const NumericResult r = numeric_equal(x->v[i], y->v[i], float_rounding);
    if (r.verdict != NumVerdict::Equal) return r.verdict == NumVerdict::NotEqual ? NumVerdict::NotEqual : NumVerdict::Unknown;
  }
  return NumVerdict::Equal;
}

std::string value_string(const Node& n) {
  use_full_exponent_range();
  const Vars none;
  Evaluator e(kLowPrec, none);
  const Value v = e.eval(n);
  if (v.kind == Value::Undefined) return "";
  if (v.kind == Value::Exact) {
    if (bits(v.q) > 256) {
      Real m(64);
      mpfr_set_q(m.get(), v.q.get_mpq_t(), MPFR_RNDN);
      char buf[64];
      mpfr_snprintf(buf, sizeof buf, "%.12Rg (exact rational)", m.get());
      return buf;
    }
    return v.q.get_str();
  }
  Real m(kLowPrec);
  mpfi_mid(m.get(), v.iv->get());
  char buf[96];
  mpfr_snprintf(buf, sizeof buf, "~%.12Rg", m.get());
  return buf;
}

}  // namespace reasonrl::rewards
