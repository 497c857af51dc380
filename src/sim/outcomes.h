#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "domain/session_state.h"

namespace dr::sim {

// The share of sessions that end in each state; whatever the three leave over ends NEW.
// A mix is valid when each fraction is in [0, 1] and their sum is at most 1.
struct OutcomeMix {
  double completed = 0.6;
  double expired = 0.2;
  double failed = 0.1;
};

// Parses "completed=0.6,expired=0.2,failed=0.1,new=0.1". Keys left out count as 0; "new" is
// accepted (and counted in the sum) but NEW is always the remainder. Errors name the bad item.
Result<OutcomeMix> parse_outcome_mix(std::string_view spec);

// A stable 64-bit hash of (seed, token): the same on every platform and in every build, so tests
// and other tools can predict the simulator's answers.
uint64_t token_hash(std::string_view token, uint64_t seed);

// The state the simulator eventually reports for a token: the hash picks a point in [0, 1) and the
// mix's cumulative fractions (completed, expired, failed, then NEW) pick the state. Pure and
// thread-safe.
domain::SessionState outcome_for(std::string_view token, uint64_t seed, const OutcomeMix& mix);

// Preloaded sessions are not stored: token i of seed s is "sim-<s>-<i>" for i in [0, count).
std::string preload_token(uint64_t seed, uint64_t index);
// The user id written next to preload token i in the preload file: "user-<i>".
std::string preload_user_id(uint64_t index);

// The index i when `token` is exactly preload_token(seed, i) with i < count (canonical decimal, no
// leading zeros), otherwise nullopt. O(token length), no memory.
std::optional<uint64_t> preload_index(std::string_view token, uint64_t seed, uint64_t count);

// The token of the counter-th session created by POST: 32 lowercase hex digits that look random
// but depend only on (seed, counter).
std::string created_token(uint64_t seed, uint64_t counter);

}  // namespace dr::sim
