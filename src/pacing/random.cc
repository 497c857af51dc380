#include "pacing/random.h"

#include <random>

namespace dr::pacing {

uint64_t SeededRandom::next_u64() {
  // splitmix64 (Steele, Lea, Flood 2014): one add and a finalizer; full period 2^64.
  uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double SeededRandom::uniform01() {
  // The top 53 bits fill a double's mantissa exactly, so the result is < 1.
  return static_cast<double>(next_u64() >> 11) * 0x1.0p-53;
}

namespace {
uint64_t seed_from_device() {
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ static_cast<uint64_t>(device());
}
}  // namespace

SystemRandom::SystemRandom() : generator_(seed_from_device()) {}

}  // namespace dr::pacing
