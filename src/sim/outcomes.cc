#include "sim/outcomes.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <vector>

namespace dr::sim {
namespace {

// splitmix64's finalizer: spreads FNV-1a's weak low bits over the whole word.
uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<OutcomeMix> parse_outcome_mix(std::string_view spec) {
  OutcomeMix mix{0, 0, 0};
  bool seen[4] = {false, false, false, false};
  double sum = 0;
  while (!spec.empty()) {
    auto comma = spec.find(',');
    std::string_view item = trim(spec.substr(0, comma));
    spec = comma == std::string_view::npos ? std::string_view{} : spec.substr(comma + 1);
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string_view::npos) {
      return Error::invalid(fmt::format("--outcomes: \"{}\" is not state=fraction", item));
    }
    std::string_view key = trim(item.substr(0, eq));
    std::string value(trim(item.substr(eq + 1)));
    double v = 0;
    size_t used = 0;
    bool parsed = false;
    try {
      v = std::stod(value, &used);
      parsed = used == value.size();
    } catch (...) {
      parsed = false;
    }
    if (!parsed || !std::isfinite(v) || v < 0 || v > 1) {
      return Error::invalid(
          fmt::format("--outcomes: {} must be a fraction between 0 and 1, got \"{}\"", key, value));
    }
    int slot;
    if (key == "completed") {
      slot = 0;
      mix.completed = v;
    } else if (key == "expired") {
      slot = 1;
      mix.expired = v;
    } else if (key == "failed") {
      slot = 2;
      mix.failed = v;
    } else if (key == "new") {
      slot = 3;  // NEW is the remainder; "new" only counts towards the sum
    } else {
      return Error::invalid(fmt::format(
          "--outcomes: unknown state \"{}\" (use completed, expired, failed, new)", key));
    }
    if (seen[slot]) return Error::invalid(fmt::format("--outcomes: {} given twice", key));
    seen[slot] = true;
    sum += v;
  }
  if (sum > 1.0 + 1e-9) {
    return Error::invalid(fmt::format("--outcomes: fractions sum to {}, more than 1", sum));
  }
  return mix;
}

uint64_t token_hash(std::string_view token, uint64_t seed) {
  uint64_t h = 0xcbf29ce484222325ULL ^ mix64(seed);
  for (unsigned char c : token) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  return mix64(h);
}

domain::SessionState outcome_for(std::string_view token, uint64_t seed, const OutcomeMix& mix) {
  // 53 bits give every double in [0, 1) the same chance.
  double u = static_cast<double>(token_hash(token, seed) >> 11) * 0x1.0p-53;
  double edge = mix.completed;
  if (u < edge) return domain::SessionState::kCompleted;
  edge += mix.expired;
  if (u < edge) return domain::SessionState::kExpired;
  edge += mix.failed;
  if (u < edge) return domain::SessionState::kFailed;
  return domain::SessionState::kNew;
}

std::string preload_token(uint64_t seed, uint64_t index) {
  return fmt::format("sim-{}-{}", seed, index);
}

std::string preload_user_id(uint64_t index) { return fmt::format("user-{}", index); }

std::optional<uint64_t> preload_index(std::string_view token, uint64_t seed, uint64_t count) {
  char prefix[32];
  auto r = fmt::format_to_n(prefix, sizeof prefix, "sim-{}-", seed);
  std::string_view p(prefix, r.size);
  if (token.size() <= p.size() || token.substr(0, p.size()) != p) return std::nullopt;
  std::string_view digits = token.substr(p.size());
  if (digits.size() > 1 && digits.front() == '0') return std::nullopt;
  uint64_t i = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), i);
  if (ec != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  if (i >= count) return std::nullopt;
  return i;
}

std::string created_token(uint64_t seed, uint64_t counter) {
  uint64_t a = mix64(mix64(seed) ^ counter);
  uint64_t b = mix64(a ^ 0x5bd1e9955bd1e995ULL);
  return fmt::format("{:016x}{:016x}", a, b);
}

}  // namespace dr::sim
