#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/result>
#include <string>
#include <string_view>

#include "common/result.h"
#include "domain/check.h"
#include "domain/clock.h"
#include "domain/run_counts.h"

namespace dr::store {

// Conversions between the domain's values and what the store's statements send and read.
// Times cross as microseconds since the epoch (exact, no time zone parsing), durations as
// microseconds.
int64_t micros(domain::Duration d);
int64_t micros(domain::WallTime t);
domain::WallTime wall_from_micros(int64_t us);

// A check kind as the statements spell it: "state", "not_found", "failed".
std::string_view kind_name(domain::CheckKind k);

// NULL as nullopt.
std::optional<std::string> opt_string(const pqxx::field& f);
std::optional<domain::WallTime> opt_time(const pqxx::field& f);

// JSON text for a jsonb parameter; invalid UTF-8 becomes U+FFFD instead of throwing.
std::string dump_json(const nlohmann::json& j);

// The runs table keeps a run's counts as jsonb, one key per RunCounts field. Keys the binary
// does not know (an older or newer version's) are ignored when read; missing ones are 0.
std::string counts_json(const domain::RunCounts& counts);
domain::RunCounts parse_counts(const std::string& text);

// kNotFound naming the run.
Error no_such_run(int64_t run_id);

}  // namespace dr::store
