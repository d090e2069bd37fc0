// repeat.cpp: tail n-gram repeat detection, reference and incremental.
#include "policy/repeat.h"

#include <algorithm>

namespace reasonrl::policy {

namespace {
inline bool repeat_ok(int run, int p, const RepeatParams& rp) {
  const int span = run + p;  // the tail covered by copies of the last p-gram
  return span >= p * rp.min_repeats && span >= rp.min_tokens;
}
}  // namespace

int tail_repeat_period(const int32_t* t, int n, const RepeatParams& rp) {
  if (!rp.enable) return 0;
  for (int p = 1; p <= rp.max_ngram && p < n; ++p) {
    int run = 0;
    while (n - 1 - run - p >= 0 && t[n - 1 - run] == t[n - 1 - run - p]) ++run;
    if (repeat_ok(run, p, rp)) return p;
  }
  return 0;
}

int RepeatDetector::push(int32_t tok) {
  const int P = rp_.max_ngram;
  if (run_.size() != size_t(P) + 1) run_.assign(size_t(P) + 1, 0);
  if (hist_.size() != size_t(P)) hist_.assign(size_t(std::max(P, 1)), 0);
  int found = 0;
  for (int p = 1; p <= P; ++p) {
    if (n_ - p >= 0 && hist_[size_t((n_ - p) % P)] == tok) ++run_[size_t(p)];
    else run_[size_t(p)] = 0;
    if (!found && rp_.enable && run_[size_t(p)] > 0 && repeat_ok(run_[size_t(p)], p, rp_)) found = p;
  }
  if (P > 0) hist_[size_t(n_ % P)] = tok;
  ++n_;
  return found;
}

}  // namespace reasonrl::policy
