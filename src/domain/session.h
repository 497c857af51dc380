#pragma once

#include <optional>
#include <string>
#include <vector>

#include "domain/clock.h"

namespace dr::domain {

// Which NEW sessions a run selects.
struct ClaimFilter {
  Duration min_age{0};  // leave sessions younger than this alone
  // ISO-8601 timestamps as the person typed them; PostgreSQL casts them (the session time zone is
  // UTC, so a value without offset means UTC). created_after is inclusive, created_before
  // exclusive. A value PostgreSQL cannot read makes a claim fail with kInvalidArgument.
  std::optional<std::string> created_after;
  std::optional<std::string> created_before;
  bool ignore_schedule = false;  // --all: also sessions whose next check is not due yet
  // Sessions checked at or after this instant (ISO-8601) count as already checked in this run;
  // unset, the run's own start. Workers of one parallel backfill share one value, so a worker
  // that starts late does not ask again about what the others checked. Never later than the
  // run's start (clamped).
  std::optional<std::string> not_checked_since;
};

// One claimed session. Small on purpose: a batch's memory is bounded by its size.
struct ClaimedSession {
  std::string token;
};

// A session created by `create-session`, stored as NEW.
struct NewSessionRow {
  std::string session_token;
  std::string user_id;
  std::string user_name;
  std::optional<std::string> user_name_surname;
  std::optional<std::string> user_email;
  std::optional<std::string> redirect_url;
  std::optional<std::string> checkout_url;
  std::optional<std::string> min_payment_usd;  // decimal text as given ("0.5"); cast by PostgreSQL
  std::optional<std::string> max_payment_usd;
  std::optional<std::string> fiat_currency;
  std::optional<std::string> language;
};

// What a run can tell about the mapped sessions table before it claims anything: an empty
// table, or one holding no NEW value but values the mapping does not know, means the job is
// probably pointed at the wrong table or values ("silent green").
struct TableHealth {
  bool has_rows = false;
  bool has_new = false;                     // a row with the mapped NEW value exists
  std::vector<std::string> unknown_values;  // up to 5, looked for only when !has_new
  bool has_created_index = false;           // claims can walk an index on created_at
};

}  // namespace dr::domain
