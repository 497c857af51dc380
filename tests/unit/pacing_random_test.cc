#include <gtest/gtest.h>

#include "pacing/random.h"

namespace dr::pacing {
namespace {

TEST(SeededRandomTest, SameSeedSameSequence) {
  SeededRandom a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const double x = a.uniform01();
    EXPECT_EQ(x, b.uniform01());
    differs |= x != c.uniform01();
  }
  EXPECT_TRUE(differs);
}

TEST(SeededRandomTest, KnownSplitmix64Values) {
  // Reference values of splitmix64 seeded with 0.
  SeededRandom r(0);
  EXPECT_EQ(r.next_u64(), 0xe220a8397b1dcdafULL);
  EXPECT_EQ(r.next_u64(), 0x6e789e6aa1b965f4ULL);
  EXPECT_EQ(r.next_u64(), 0x06c45d188009454fULL);
}

TEST(SeededRandomTest, UniformInHalfOpenUnitIntervalAndBalanced) {
  SeededRandom r(7);
  constexpr int kSamples = 100000;
  double sum = 0;
  int below_tenth = 0;
  for (int i = 0; i < kSamples; ++i) {
    const double x = r.uniform01();
    ASSERT_GE(x, 0.0);
    ASSERT_LT(x, 1.0);
    sum += x;
    below_tenth += x < 0.1;
  }
  EXPECT_NEAR(sum / kSamples, 0.5, 0.01);
  EXPECT_NEAR(below_tenth / static_cast<double>(kSamples), 0.1, 0.01);
}

TEST(SystemRandomTest, InRange) {
  SystemRandom r;
  for (int i = 0; i < 1000; ++i) {
    const double x = r.uniform01();
    ASSERT_GE(x, 0.0);
    ASSERT_LT(x, 1.0);
  }
}

}  // namespace
}  // namespace dr::pacing
