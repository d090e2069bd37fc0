// logprob.cpp: log-prob / entropy under the truncated, temperature-scaled sampling distribution, and the backward.
// Written independently of the sampler chain (index lists instead of a candidate array) so the two cross-check.
#include "policy/logprob.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "rl/util/error.h"

namespace reasonrl::policy {
namespace {

// The kept set K of one row: token ids in the order they are summed, plus the scaled logits of the whole row.
struct RowScratch {
  std::vector<float> s;      // logits / T
  std::vector<int32_t> idx;  // K
  std::vector<uint8_t> in;   // membership of K, per token
  double m = 0;              // max_{K} s
  double logz = 0;           // log sum_{K} exp(s - m)
  bool added = false;        // the target was outside K and got added
};

// Sorts idx[from, k) so that idx[0, k) are the k largest of idx[0, n) by (s desc, id asc).
void extend_sorted(const std::vector<float>& s, std::vector<int32_t>& idx, size_t from, size_t k) {
  auto cmp = [&s](int32_t a, int32_t b) { return s[size_t(a)] > s[size_t(b)] || (s[size_t(a)] == s[size_t(b)] && a < b); };
  k = std::min(k, idx.size());
  if (k <= from) return;
  if (k == idx.size()) std::sort(idx.begin() + long(from), idx.end(), cmp);
  else std::partial_sort(idx.begin() + long(from), idx.begin() + long(k), idx.end(), cmp);
}

void kept_set(const float* logits, int V, const SamplingParams& sp, RowScratch& r) {
  r.s.resize(size_t(V));
  for (int i = 0; i < V; ++i) r.s[size_t(i)] = sp.temperature == 1.0f ? logits[i] : logits[i] / sp.temperature;
  r.idx.resize(size_t(V));
  for (int i = 0; i < V; ++i) r.idx[size_t(i)] = i;
  size_t sorted = 0;  // idx[0, sorted) is in final order
  // top-k
  if (sp.top_k > 0 && size_t(sp.top_k) < r.idx.size()) {
    extend_sorted(r.s, r.idx, 0, size_t(sp.top_k));
    r.idx.resize(size_t(sp.top_k));
    sorted = r.idx.size();
  }
  // top-p: the smallest sorted prefix whose mass (renormalised over the current set) reaches top_p
  if (sp.top_p < 1.0f) {
    double m = -INFINITY;
    for (int32_t j : r.idx) m = std::max(m, double(r.s[size_t(j)]));
    double z = 0;
    for (int32_t j : r.idx) z += std::exp(double(r.s[size_t(j)]) - m);
    const double target = double(sp.top_p) * z;
    double cum = 0;
    size_t chunk = 64;
    for (size_t i = 0; i < r.idx.size(); ++i) {
      if (i >= sorted) {
        chunk *= 4;
        extend_sorted(r.s, r.idx, sorted, i + chunk);
        sorted = std::min(i + chunk, r.idx.size());
      }
      cum += std::exp(double(r.s[size_t(r.idx[i])]) - m);
      if (cum >= target) {
        r.idx.resize(i + 1);
        break;
      }
    }
  }
  // min-p: exp(s_j - max) >= min_p, order kept
  if (sp.min_p > 0.0f) {
    double m = -INFINITY;
    for (int32_t j : r.idx) m = std::max(m, double(r.s[size_t(j)]));
    size_t w = 0;
    for (size_t i = 0; i < r.idx.size(); ++i)
      if (std::exp(double(r.s[size_t(r.idx[i])]) - m) >= double(sp.min_p)) r.idx[w++] = r.idx[i];
    r.idx.resize(w);
  }
  r.m = -INFINITY;
  for (int32_t j : r.idx) r.m = std::max(r.m, double(r.s[size_t(j)]));
  r.in.assign(size_t(V), 0);
  for (int32_t j : r.idx) r.in[size_t(j)] = 1;
  r.added = false;
}

void finish_row(RowScratch& r, int32_t target) {
  if (!r.in[size_t(target)]) {  // the max is always kept, so adding the target leaves m unchanged
    r.idx.push_back(target);
    r.in[size_t(target)] = 1;
    r.added = true;
  }
  double z = 0;
  for (int32_t j : r.idx) z += std::exp(double(r.s[size_t(j)]) - r.m);
  r.logz = std::log(z);
}

void check_target(int32_t t, int V, int64_t row) {
  if (t >= V) throw Error("logprob: target token " + std::to_string(t) + " at row " + std::to_string(row) +
                          " is outside the vocabulary (" + std::to_string(V) + ")");
}

bool use_threads(int64_t n, int V) { return n > 1 && n * int64_t(V) >= (int64_t(1) << 15); }

}  // namespace

double token_logprob(const float* logits, int vocab, const SamplingParams& sp, int32_t target, double* entropy) {
  check_target(target, vocab, 0);
  if (entropy) *entropy = 0.0;
  if (sp.greedy() || target < 0) return 0.0;
  RowScratch r;
  kept_set(logits, vocab, sp, r);
  finish_row(r, target);
  if (entropy) {
    double h = 0;
    for (int32_t j : r.idx) {
      const double lp = double(r.s[size_t(j)]) - r.m - r.logz;
      h -= std::exp(lp) * lp;
    }
    *entropy = h;
  }
  return double(r.s[size_t(target)]) - r.m - r.logz;
}

LogprobStats sampling_logprob(const float* logits, int64_t n_rows, int vocab, const SamplingParams& sp,
                              const int32_t* targets, float* logp, float* entropy) {
  sp.validate();
  for (int64_t i = 0; i < n_rows; ++i) check_target(targets[i], vocab, i);
  int64_t rows = 0, outside = 0;
#pragma omp parallel if (use_threads(n_rows, vocab)) reduction(+ : rows, outside)
  {
    RowScratch r;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n_rows; ++i) {
      logp[i] = 0.0f;
      if (entropy) entropy[i] = 0.0f;
      if (targets[i] < 0) continue;
      ++rows;
      if (sp.greedy()) continue;
      kept_set(logits + i * vocab, vocab, sp, r);
      finish_row(r, targets[i]);
      outside += r.added ? 1 : 0;
      logp[i] = float(double(r.s[size_t(targets[i])]) - r.m - r.logz);
      if (entropy) {
        double h = 0;
        for (int32_t j : r.idx) {
          const double lp = double(r.s[size_t(j)]) - r.m - r.logz;
          h -= std::exp(lp) * lp;
        }
        entropy[i] = float(h);
      }
    }
  }
  return {rows, outside};
}

void sampling_logprob_backward(const float* logits, int64_t n_rows, int vocab, const SamplingParams& sp,
                               const int32_t* targets, const float* dlogp, const float* dentropy, float* dlogits) {
  sp.validate();
  for (int64_t i = 0; i < n_rows; ++i) check_target(targets[i], vocab, i);
#pragma omp parallel if (use_threads(n_rows, vocab))
  {
    RowScratch r;
    std::vector<double> lp;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n_rows; ++i) {
      float* g = dlogits + i * vocab;
      std::fill(g, g + vocab, 0.0f);
      if (targets[i] < 0 || sp.greedy()) continue;
      kept_set(logits + i * vocab, vocab, sp, r);
      finish_row(r, targets[i]);
      const double inv_t = 1.0 / double(sp.temperature);
      const double gl = dlogp ? double(dlogp[i]) : 0.0;
      const double ge = dentropy ? double(dentropy[i]) : 0.0;
      double h = 0;
      lp.resize(r.idx.size());
      for (size_t k = 0; k < r.idx.size(); ++k) {
        lp[k] = double(r.s[size_t(r.idx[k])]) - r.m - r.logz;
        h -= std::exp(lp[k]) * lp[k];
      }
      for (size_t k = 0; k < r.idx.size(); ++k) {
        const int32_t j = r.idx[k];
        const double p = std::exp(lp[k]);
        double d = gl * ((j == targets[i] ? 1.0 : 0.0) - p);
        if (ge != 0.0) d -= ge * p * (lp[k] + h);
        g[j] = float(d * inv_t);
      }
    }
  }
}

}  // namespace reasonrl::policy
