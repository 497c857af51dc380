#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"
#include "sim/outcomes.h"

namespace dr::sim {

// Writes the preloaded sessions as CSV for seeding a database: a header line
// "token,user_id,outcome", then one line per session i in [0, count):
// "sim-<seed>-<i>,user-<i>,<outcome_for(token)>" (NEW, COMPLETED, EXPIRED or FAILED; the eventual
// state, whatever --new-for says). Written to PATH.tmp, flushed, fsynced and renamed, so a
// reader never sees half a file.
Status write_preload_file(const std::string& path, uint64_t seed, uint64_t count,
                          const OutcomeMix& mix);

}  // namespace dr::sim
