// reward_errors.h: reward failures over a batch of scored samples: counted per component, logged (the first messages
// in full, then rate-limited summaries) and bounded by rewards.on_error / rewards.max_error_fraction.
//
// A failed component (it threw, timed out, crashed, returned NaN/Inf, or its plugin is disabled) has value nullopt
// AND an entry in RewardResult::errors; "not applicable" is nullopt without one.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "rewards/reward.h"
#include "rewards/reward_config.h"

namespace reasonrl::rewards {

// Failures over the samples scored so far (one training step: every round, kept groups or not).
struct RewardErrorCounts {
  std::vector<std::string> names;     // the components, in the manager's order
  std::vector<double> per_component;  // samples on which that component failed
  double samples = 0;                 // samples scored
  double failed_samples = 0;          // samples with at least one failed component

  explicit RewardErrorCounts(std::vector<std::string> component_names = {});
  void add(const RewardResult& r);
  double fraction() const { return samples > 0 ? failed_samples / samples : 0.0; }
  // "tidy 3, accuracy 1" (components with failures only).
  std::string describe() const;
};

// True when the sample is left out of the loss: it has a failure and on_error is skip_sample, or fail (under the bound).
bool skip_failed_sample(const RewardConfig& cfg, const RewardResult& r);

// on_error fail: throws RewardError when more than max_error_fraction of the counted samples failed. `where` starts
// the message ("step 12"); `first_error` is quoted in it.
void check_error_fraction(const RewardConfig& cfg, const RewardErrorCounts& c, const std::string& where,
                          const std::string& first_error);

// Logs reward failures without flooding: the first `per_component` messages of each component in full (with where
// they happened), then at most one summary line per `summary_every_s` seconds with the failures since the last line.
class RewardErrorLog {
 public:
  explicit RewardErrorLog(int per_component = 3, double summary_every_s = 30.0)
      : per_component_(per_component), summary_every_s_(summary_every_s) {}
  // One scored sample; `where` says which ("step 3, prompt 17").
  void note(const RewardResult& r, const std::string& where);
  // The end of a batch (a step): a summary line if failures went unlogged and the last summary is old enough.
  void flush(const std::string& where);
  long logged() const { return logged_; }

 private:
  int per_component_;
  double summary_every_s_;
  std::map<std::string, int> shown_;
  std::map<std::string, long> unlogged_;
  double last_summary_ = -1e300;
  long logged_ = 0;
};

}  // namespace reasonrl::rewards
