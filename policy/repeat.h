// repeat.h: repeat detection at the tail of a generated sequence (Kimi k1.5 "repeat, early stop"): the sequence ends
// early when its last tokens are one n-gram repeated back to back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace reasonrl::policy {

struct RepeatParams {
  bool enable = true;
  int max_ngram = 32;   // longest period looked for
  int min_repeats = 4;  // consecutive copies of the n-gram at the tail
  int min_tokens = 32;  // and they must cover at least this many tokens (so "a a a a" alone does not stop)
};

// The smallest period p in [1, max_ngram] such that the last k*p tokens are one p-gram repeated k times with
// k >= min_repeats and k*p >= min_tokens; 0 if there is none. O(max_ngram * n) reference implementation.
int tail_repeat_period(const int32_t* tokens, int n, const RepeatParams& rp);

// The same test, incremental: push() each appended token, O(max_ngram) per token.
class RepeatDetector {
 public:
  explicit RepeatDetector(const RepeatParams& rp = {}) : rp_(rp) {}
  void reset() { n_ = 0; hist_.clear(); run_.assign(size_t(rp_.max_ngram) + 1, 0); }
  // Appends `tok`; returns the period of a detected tail repeat, or 0.
  int push(int32_t tok);

 private:
  RepeatParams rp_;
  int n_ = 0;
  std::vector<int32_t> hist_;  // the last max_ngram tokens, ring buffer
  std::vector<int> run_;       // run_[p]: trailing positions i with t[i] == t[i-p]
};

}  // namespace reasonrl::policy
