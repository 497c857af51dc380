#include "store/pg_finding_reader.h"

#include <fmt/format.h>

#include <pqxx/cursor>
#include <pqxx/result>
#include <pqxx/transaction>
#include <string>
#include <string_view>

#include "store/pg_session.h"
#include "store/pg_values.h"
#include "store/statements.h"

namespace dr::store {
namespace {

// Rows fetched per round trip when streaming findings.
constexpr int kFindingsFetch = 500;

// A text field's bytes, without copying them into a std::string first (the category and states
// are only parsed).
std::string_view text_of(const pqxx::field& f) { return {f.c_str(), f.size()}; }

// A row of for_each_finding's query: [0] is its category's rank, a sort key only.
domain::FindingRecord finding_from_row(const pqxx::row& r) {
  domain::FindingRecord f;
  f.created_at = wall_from_micros(r[1].as<int64_t>());
  f.session_token = r[2].as<std::string>();
  f.run_id = r[3].as<int64_t>();
  f.category = domain::parse_finding_category(text_of(r[4]))
                   .value_or(domain::FindingCategory::kAnomaly);
  f.user_id = r[5].as<std::string>();
  f.user_name = r[6].as<std::string>();
  f.user_name_surname = opt_string(r[7]);
  f.user_email = opt_string(r[8]);
  f.previous_state =
      domain::parse_session_state(text_of(r[9])).value_or(domain::SessionState::kNew);
  if (!r[10].is_null()) f.gateway_state = domain::parse_session_state(text_of(r[10]));
  f.checked_at = opt_time(r[11]);
  f.attempts = r[12].as<int>();
  f.error = opt_string(r[13]);
  f.followed_up_at = opt_time(r[14]);
  f.followed_up_by = opt_string(r[15]);
  return f;
}

}  // namespace

std::string findings_query(int64_t run_id, bool include_open) {
  // A run's own findings need no de-duplication (one per session and category); with
  // --include-open, the latest open one per session and category of earlier runs joins them.
  // The report's order: the summary's categories in order, then oldest first. The sort keys
  // come first in each row: PostgreSQL's sort then reads them without walking the row's text
  // columns on every comparison (that walk was a third of the query's CPU).
  return fmt::format(
      fmt::runtime(include_open ? statements::findings_with_open : statements::findings_of_run),
      fmt::arg("columns", statements::findings_columns), fmt::arg("run", run_id),
      fmt::arg("order", "1, 2, 3"));
}

Status PgFindingReader::for_each_finding(
    int64_t run_id, bool include_open,
    const std::function<void(const domain::FindingRecord&)>& fn) {
  const std::string query = findings_query(run_id, include_open);
  return db_.with_tx<Ok>("cannot read the findings", [&](pqxx::work& tx) -> Status {
    // Forward only: one pass over the findings, kFindingsFetch rows per round trip. Not
    // pqxx::stateless_cursor: its SCROLL cursor and its size() (MOVE ALL and back before the
    // first row) cost the server 5-10 % more for the same rows (bench/README.md, report-read.sh).
    pqxx::icursorstream stream(tx, query, "dr_findings", kFindingsFetch);
    pqxx::result rows;
    while (stream >> rows) {
      for (const auto& r : rows) fn(finding_from_row(r));
    }
    return ok_status();
  });
}

Result<bool> PgFindingReader::client_order_matches(int64_t run_id) {
  return db_.with_tx<bool>("cannot read the database's collation",
                           [&](pqxx::work& tx) -> Result<bool> {
                             const pqxx::row r = tx.exec_params1(
                                 std::string(statements::findings_order_check), run_id);
                             return r[0].as<bool>() && !r[1].as<bool>();
                           });
}

}  // namespace dr::store
