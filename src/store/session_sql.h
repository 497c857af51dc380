#pragma once

#include <string>

#include "store/table_mapping.h"

namespace dr::store {

// The statements that read the merchant's sessions table, built once per connection from the
// checked mapping: identifiers are quoted (never taken as SQL), values are always parameters.
// Their text is in src/store/sql/*.sql (claim, claim_dry, count_selected, apply, apply_dry with
// the apply_* parts, current_rows, insert_session, notification_trigger), embedded at build time
// as store/statements.h; `{name}` placeholders are filled here, `$n` are bound parameters.
// The job's own tables are unqualified: every connection's search_path is the job's schema.
//
// Parameter lists (all values as text, cast in SQL):
//   claim        $1 run, $2 worker, $3 NEW value, $4 min age (µs), $5 cut-off (run start),
//                $6 ignore schedule, $7 created after, $8 created before, $9/$10 keyset
//                (created_at, token) or NULL, $11 limit (the window), $12 lease (µs), $13 the
//                store's own live claims for the run (bigint[]), $14 the window (sessions
//                walked)
//   claim_dry    $1 NEW value, $2 min age, $3 cut-off, $4 ignore schedule, $5/$6 window,
//                $7/$8 keyset, $9 limit
//   count        $1 NEW value, $2 min age, $3 cut-off, $4 ignore schedule, $5/$6 window
//   apply        $1 run, $2 worker, $3 stale after (µs), $4..$7 the mapped NEW, COMPLETED,
//                EXPIRED, FAILED values; the batch as arrays in two groups: $8..$13 the
//                answers terminal at the gateway (token, claim id, gateway state, raw answer,
//                attempts, checked at in µs since the epoch), $14..$21 the others (token,
//                claim id, kind, gateway state or NULL, HTTP status, attempts, error, checked at)
//   apply_dry    $1 run, $2 stale after, $3..$6 the mapped values, $7..$12 and $13..$20 the
//                two groups as for apply
//   current      $1 tokens (jsonb array): token, state value, created_at, person fields
//   insert       $1..$11 a NewSessionRow, $12 the NEW value (default table only)
struct SessionSql {
  std::string claim;
  std::string claim_dry;
  std::string count;
  std::string apply;
  std::string apply_dry;
  std::string current;
  std::string insert;
};

SessionSql build_session_sql(const ResolvedMapping& m);

// The opt-in notification trigger on the mapped table (`migrate --notification-trigger`):
// records every insert and every state change not made by the job into session_state_changes,
// with the mapped values translated to the gateway's state names.
std::string notification_trigger_sql(const ResolvedMapping& m);

}  // namespace dr::store
