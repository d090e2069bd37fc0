// Tests for tail repeat detection: hand cases and incremental == reference on random sequences.
#include "policy/repeat.h"

#include <gtest/gtest.h>

#include "rl/util/rng.h"

namespace reasonrl::policy {
namespace {

TEST(Repeat, HandCases) {
  RepeatParams rp{true, 8, 4, 12};
  std::vector<int32_t> a = {5, 6, 1, 2, 3, 1, 2, 3, 1, 2, 3};  // 3 copies of "1 2 3": not enough
  EXPECT_EQ(tail_repeat_period(a.data(), int(a.size()), rp), 0);
  a.insert(a.end(), {1, 2, 3});  // 4 copies, 12 tokens
  EXPECT_EQ(tail_repeat_period(a.data(), int(a.size()), rp), 3);
  std::vector<int32_t> b(11, 7);  // 11 x "7": 4 copies but only 11 tokens
  EXPECT_EQ(tail_repeat_period(b.data(), int(b.size()), rp), 0);
  b.push_back(7);
  EXPECT_EQ(tail_repeat_period(b.data(), int(b.size()), rp), 1);
  b.push_back(8);  // the tail changed: no repeat at the tail
  EXPECT_EQ(tail_repeat_period(b.data(), int(b.size()), rp), 0);
  rp.enable = false;
  b.pop_back();
  EXPECT_EQ(tail_repeat_period(b.data(), int(b.size()), rp), 0);
}

TEST(Repeat, IncrementalEqualsReference) {
  Rng r(2);
  const RepeatParams rp{true, 6, 3, 8};
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<int32_t> t;
    RepeatDetector det(rp);
    det.reset();
    for (int i = 0; i < 120; ++i) {
      // random tokens from a tiny alphabet, with bursts that copy a recent n-gram
      if (!t.empty() && r.uniform() < 0.6) {
        const int p = 1 + int(r.below(std::min<uint64_t>(t.size(), 7)));
        t.push_back(t[t.size() - size_t(p)]);
      } else {
        t.push_back(int32_t(r.below(4)));
      }
      ASSERT_EQ(det.push(t.back()), tail_repeat_period(t.data(), int(t.size()), rp)) << "trial " << trial << " i " << i;
    }
  }
}

}  // namespace
}  // namespace reasonrl::policy
