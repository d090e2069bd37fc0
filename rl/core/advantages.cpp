// advantages.cpp: group-relative advantages (loop reference and Eigen version), RLOO, REINFORCE++.
// GCC 12 reports false -Wmaybe-uninitialized inside Eigen's AVX-512 reductions (-march=native); silence it here only.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include "rl/core/advantages.h"

#include <Eigen/Core>
#include <cmath>
#include <string>

#include "rl/util/error.h"

namespace reasonrl::rl {

namespace {

// Tolerance of the "every reward equal" test used by the advantages (population std). Rewards are O(1); equal
// floating-point rewards give a std of O(1e-17).
constexpr double kZeroVarTol = 1e-9;

void check_groups(std::span<const double> rewards, std::span<const int> sizes, const char* who) {
  int64_t total = 0;
  for (size_t g = 0; g < sizes.size(); ++g) {
    if (sizes[g] < 1) throw FormatError(std::string(who) + ": group " + std::to_string(g) + " has size " + std::to_string(sizes[g]) + " (< 1)");
    total += sizes[g];
  }
  if (total != static_cast<int64_t>(rewards.size()))
    throw FormatError(std::string(who) + ": group sizes add up to " + std::to_string(total) + " but there are " +
                      std::to_string(rewards.size()) + " rewards");
  for (size_t i = 0; i < rewards.size(); ++i)
    if (!std::isfinite(rewards[i])) throw NumericError(std::string(who) + ": reward " + std::to_string(i) + " is not finite");
}

enum class Mode { MeanOnly, GroupStd, BatchStd, Rloo, ReinforcePp };
Mode mode_of(const RlConfig& cfg) {
  if (cfg.algorithm == Algorithm::Kimi) return Mode::MeanOnly;
  switch (cfg.advantage_estimator) {
    case AdvantageEstimator::Rloo: return Mode::Rloo;
    case AdvantageEstimator::ReinforcePp: return Mode::ReinforcePp;
    case AdvantageEstimator::Grpo: break;
  }
  switch (cfg.scale_rewards) {
    case ScaleRewards::Group: return Mode::GroupStd;
    case ScaleRewards::Batch: return Mode::BatchStd;
    case ScaleRewards::None: return Mode::MeanOnly;
  }
  return Mode::GroupStd;
}

// Unbiased std of all values (0 for fewer than 2).
double unbiased_std_loop(std::span<const double> x) {
  if (x.size() < 2) return 0.0;
  double m = 0;
  for (double v : x) m += v;
  m /= static_cast<double>(x.size());
  double ss = 0;
  for (double v : x) ss += (v - m) * (v - m);
  return std::sqrt(ss / static_cast<double>(x.size() - 1));
}

// Batch whitening of REINFORCE++ over the non-zero-variance entries (zero-variance groups stay 0).
void whiten(std::vector<double>& a, const std::vector<char>& live, double eps) {
  double n = 0, m = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (live[i]) { m += a[i]; n += 1; }
  if (n == 0) return;
  m /= n;
  double ss = 0;
  for (size_t i = 0; i < a.size(); ++i)
    if (live[i]) ss += (a[i] - m) * (a[i] - m);
  const double sd = n > 1 ? std::sqrt(ss / (n - 1)) : 0.0;
  for (size_t i = 0; i < a.size(); ++i) a[i] = live[i] ? (a[i] - m) / (sd + eps) : 0.0;
}

}  // namespace

std::vector<double> compute_advantages_skipping(const RlConfig& cfg, std::span<const double> rewards,
                                                std::span<const int> sizes, std::span<const char> keep) {
  if (keep.size() != rewards.size())
    throw FormatError("compute_advantages_skipping: " + std::to_string(keep.size()) + " keep flags for " +
                      std::to_string(rewards.size()) + " rewards");
  bool all = true;
  for (char k : keep) all &= k != 0;
  if (all) return compute_advantages(cfg, rewards, sizes);
  std::vector<double> kept;
  std::vector<int> kept_sizes;
  size_t o = 0;
  for (int n : sizes) {
    if (n < 1) throw FormatError("compute_advantages_skipping: a group has size " + std::to_string(n) + " (< 1)");
    int m = 0;
    for (int i = 0; i < n && o + size_t(i) < rewards.size(); ++i)
      if (keep[o + size_t(i)]) kept.push_back(rewards[o + size_t(i)]), ++m;
    if (m > 0) kept_sizes.push_back(m);
    o += size_t(n);
  }
  if (o != rewards.size())
    throw FormatError("compute_advantages_skipping: group sizes add up to " + std::to_string(o) + " but there are " +
                      std::to_string(rewards.size()) + " rewards");
  const std::vector<double> a = compute_advantages(cfg, kept, kept_sizes);
  std::vector<double> out(rewards.size(), 0.0);
  for (size_t i = 0, j = 0; i < rewards.size(); ++i)
    if (keep[i]) out[i] = a[j++];
  return out;
}

bool group_has_zero_variance(std::span<const double> r, double eps) {
  if (r.size() < 2) return true;
  double m = 0;
  for (double v : r) m += v;
  m /= static_cast<double>(r.size());
  double ss = 0;
  for (double v : r) ss += (v - m) * (v - m);
  return std::sqrt(ss / static_cast<double>(r.size())) <= eps;
}

std::vector<int> uniform_group_sizes(int n_groups, int group_size) { return std::vector<int>(std::max(0, n_groups), group_size); }

std::vector<double> compute_advantages_loop(const RlConfig& cfg, std::span<const double> rewards, std::span<const int> sizes) {
  check_groups(rewards, sizes, "compute_advantages_loop");
  const Mode mode = mode_of(cfg);
  std::vector<double> adv(rewards.size(), 0.0);
  std::vector<char> live(rewards.size(), 0);
  const double batch_std = mode == Mode::BatchStd ? unbiased_std_loop(rewards) : 0.0;
  size_t o = 0;
  for (int n : sizes) {
    std::span<const double> r = rewards.subspan(o, n);
    if (!group_has_zero_variance(r, kZeroVarTol)) {
      double m = 0;
      for (double v : r) m += v;
      m /= n;
      double ss = 0;
      for (double v : r) ss += (v - m) * (v - m);
      const double group_std = std::sqrt(ss / (n - 1));  // n >= 2 here
      for (int i = 0; i < n; ++i) {
        const double c = r[i] - m;
        double a = c;
        switch (mode) {
          case Mode::MeanOnly: case Mode::ReinforcePp: a = c; break;
          case Mode::GroupStd: a = c / (group_std + cfg.adv_std_eps); break;
          case Mode::BatchStd: a = c / (batch_std + cfg.adv_std_eps); break;
          case Mode::Rloo: a = c * n / (n - 1); break;
        }
        adv[o + i] = a;
        live[o + i] = 1;
      }
    }
    o += n;
  }
  if (mode == Mode::ReinforcePp) whiten(adv, live, cfg.adv_std_eps);
  return adv;
}

std::vector<double> compute_advantages(const RlConfig& cfg, std::span<const double> rewards, std::span<const int> sizes) {
  check_groups(rewards, sizes, "compute_advantages");
  const Mode mode = mode_of(cfg);
  const Eigen::Index N = static_cast<Eigen::Index>(rewards.size());
  std::vector<double> adv(rewards.size(), 0.0);
  if (N == 0) return adv;
  Eigen::Map<const Eigen::VectorXd> R(rewards.data(), N);
  Eigen::Map<Eigen::VectorXd> A(adv.data(), N);
  double batch_std = 0;
  if (mode == Mode::BatchStd && N > 1) batch_std = std::sqrt((R.array() - R.mean()).square().sum() / double(N - 1));

  // Scale factor applied to the centred rewards of a group of size n with unbiased std s.
  auto scale = [&](double n, double s) {
    switch (mode) {
      case Mode::GroupStd: return 1.0 / (s + cfg.adv_std_eps);
      case Mode::BatchStd: return 1.0 / (batch_std + cfg.adv_std_eps);
      case Mode::Rloo: return n / (n - 1);
      default: return 1.0;
    }
  };
  Eigen::Array<char, Eigen::Dynamic, 1> live = Eigen::Array<char, Eigen::Dynamic, 1>::Zero(N);

  bool uniform = !sizes.empty();
  for (int n : sizes) uniform &= (n == sizes[0]);
  if (uniform && sizes[0] >= 2) {
    const Eigen::Index G = sizes[0], ng = static_cast<Eigen::Index>(sizes.size());
    Eigen::Map<const Eigen::MatrixXd> M(rewards.data(), G, ng);  // one column per group
    const Eigen::RowVectorXd mean = M.colwise().mean();
    Eigen::MatrixXd C = M.rowwise() - mean;
    const Eigen::RowVectorXd ss = C.colwise().squaredNorm();
    const Eigen::RowVectorXd pop_std = (ss / double(G)).cwiseSqrt();
    const Eigen::RowVectorXd unb_std = (ss / double(G - 1)).cwiseSqrt();
    Eigen::Map<Eigen::MatrixXd> Aout(adv.data(), G, ng);
    for (Eigen::Index g = 0; g < ng; ++g) {
      if (pop_std(g) <= kZeroVarTol) {
        Aout.col(g).setZero();
      } else {
        Aout.col(g) = C.col(g) * scale(double(G), unb_std(g));
        live.segment(g * G, G).setOnes();
      }
    }
  } else {
    Eigen::Index o = 0;
    for (int n : sizes) {
      auto r = R.segment(o, n);
      if (n >= 2) {
        const double m = r.mean();
        const double ss = (r.array() - m).square().sum();
        if (std::sqrt(ss / n) > kZeroVarTol) {
          A.segment(o, n) = (r.array() - m).matrix() * scale(double(n), std::sqrt(ss / (n - 1)));
          live.segment(o, n).setOnes();
        }
      }
      o += n;
    }
  }
  if (mode == Mode::ReinforcePp) {
    const double cnt = live.cast<double>().sum();
    if (cnt > 0) {
      const Eigen::ArrayXd lv = live.cast<double>();
      const double m = (A.array() * lv).sum() / cnt;
      const double ss = ((A.array() - m).square() * lv).sum();
      const double sd = cnt > 1 ? std::sqrt(ss / (cnt - 1)) : 0.0;
      A = (((A.array() - m) / (sd + cfg.adv_std_eps)) * lv).matrix();
    }
  }
  return adv;
}

std::vector<float> broadcast_to_tokens(std::span<const double> per_seq, std::span<const int64_t> off) {
  if (off.size() != per_seq.size() + 1)
    throw FormatError("broadcast_to_tokens: " + std::to_string(per_seq.size()) + " sequences but " +
                      std::to_string(off.size()) + " offsets (want S+1)");
  std::vector<float> out(off.empty() ? 0 : static_cast<size_t>(off.back()), 0.0f);
  for (size_t s = 0; s < per_seq.size(); ++s) {
    if (off[s] > off[s + 1] || off[s + 1] > off.back()) throw FormatError("broadcast_to_tokens: offsets not monotone at sequence " + std::to_string(s));
    for (int64_t t = off[s]; t < off[s + 1]; ++t) out[t] = static_cast<float>(per_seq[s]);
  }
  return out;
}

std::vector<float> reinforce_pp_token_advantages(const RlConfig& cfg, std::span<const double> rewards,
                                                 std::span<const int> sizes, std::span<const float> kl,
                                                 std::span<const float> mask, std::span<const int64_t> off) {
  check_groups(rewards, sizes, "reinforce_pp_token_advantages");
  const size_t S = rewards.size();
  if (off.size() != S + 1 || off.front() != 0)
    throw FormatError("reinforce_pp_token_advantages: " + std::to_string(S) + " sequences but " + std::to_string(off.size()) + " offsets (want S+1, starting at 0)");
  const size_t T = static_cast<size_t>(off.back());
  if (kl.size() != T || mask.size() != T)
    throw FormatError("reinforce_pp_token_advantages: offsets say " + std::to_string(T) + " tokens, kl has " + std::to_string(kl.size()) +
                      ", mask has " + std::to_string(mask.size()));
  const double beta = (cfg.kl_mode == KlMode::Reward) ? cfg.beta : 0.0;
  // Group-mean baseline per sequence.
  std::vector<double> base(S);
  size_t o = 0;
  for (int n : sizes) {
    double m = 0;
    for (int i = 0; i < n; ++i) m += rewards[o + i];
    m /= n;
    for (int i = 0; i < n; ++i) base[o + i] = rewards[o + i] - m;
    o += n;
  }
  std::vector<double> a(T, 0.0);
  for (size_t s = 0; s < S; ++s) {
    double tail = 0;  // sum of masked kl from t to the end of the sequence
    for (int64_t t = off[s + 1] - 1; t >= off[s]; --t) {
      if (mask[t] != 0) tail += kl[t];
      a[t] = base[s] - beta * tail;
    }
  }
  double n = 0, m = 0;
  for (size_t t = 0; t < T; ++t)
    if (mask[t] != 0) { m += a[t]; n += 1; }
  std::vector<float> out(T, 0.0f);
  if (n == 0) return out;
  m /= n;
  double ss = 0;
  for (size_t t = 0; t < T; ++t)
    if (mask[t] != 0) ss += (a[t] - m) * (a[t] - m);
  const double sd = n > 1 ? std::sqrt(ss / (n - 1)) : 0.0;
  for (size_t t = 0; t < T; ++t) out[t] = mask[t] != 0 ? static_cast<float>((a[t] - m) / (sd + cfg.adv_std_eps)) : 0.0f;
  return out;
}

}  // namespace reasonrl::rl
