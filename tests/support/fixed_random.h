#pragma once

#include "pacing/random.h"

namespace dr::test {

// Randomness that always draws the same value in [0, 1): a jittered wait becomes an exact
// number a test can assert.
class FixedRandom final : public pacing::Random {
 public:
  explicit FixedRandom(double v) : v_(v) {}
  double uniform01() override { return v_; }
  void set(double v) { v_ = v; }

 private:
  double v_;
};

}  // namespace dr::test
