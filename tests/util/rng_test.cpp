// Tests for the RNG: determinism, state round trip, distribution sanity.
#include "rl/util/rng.h"

#include <gtest/gtest.h>

#include <cmath>

namespace reasonrl {
namespace {

TEST(Rng, SameSeedSameStream) {
  Rng a(42), b(42), c(43);
  for (int i = 0; i < 100; ++i) {
    const auto x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    (void)c;
  }
  EXPECT_NE(Rng(42).next_u64(), Rng(43).next_u64());
}

TEST(Rng, StateRoundTripContinuesExactly) {
  Rng a(7);
  for (int i = 0; i < 13; ++i) a.normal();  // leaves a spare normal pending
  Rng b;
  b.from_json(a.to_json());
  for (int i = 0; i < 50; ++i) EXPECT_EQ(a.normal(), b.normal());
}

TEST(Rng, UniformAndBelowMoments) {
  Rng r(1);
  double s = 0;
  const int n = 200000;
  std::vector<int> counts(10, 0);
  for (int i = 0; i < n; ++i) {
    s += r.uniform();
    counts[r.below(10)]++;
  }
  EXPECT_NEAR(s / n, 0.5, 0.01);
  for (int c : counts) EXPECT_NEAR(c, n / 10, 600);  // ~6 sigma
}

}  // namespace
}  // namespace reasonrl
