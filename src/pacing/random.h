#pragma once

#include <cstdint>

namespace dr::pacing {

// A source of uniformly distributed numbers, injected wherever logic needs randomness (jitter),
// so tests can substitute fixed values. Implementations are not thread-safe.
class Random {
 public:
  virtual ~Random() = default;
  // A number in [0, 1).
  virtual double uniform01() = 0;
};

// Deterministic: the same seed always yields the same sequence (splitmix64).
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(uint64_t seed) : state_(seed) {}
  double uniform01() override;
  // The next raw 64-bit value of the sequence.
  uint64_t next_u64();

 private:
  uint64_t state_;
};

// Seeded once from std::random_device; for production jitter (not for cryptography).
class SystemRandom final : public Random {
 public:
  SystemRandom();
  double uniform01() override { return generator_.uniform01(); }

 private:
  SeededRandom generator_;
};

}  // namespace dr::pacing
