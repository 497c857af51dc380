#include "store/pg_follow_up_store.h"

#include <optional>
#include <pqxx/result>
#include <pqxx/transaction>
#include <string>

#include "store/pg_session.h"
#include "store/pg_values.h"

namespace dr::store {

Result<int64_t> PgFollowUpStore::mark_followed_up(const domain::FollowUp& follow_up) {
  if (follow_up.by.empty()) return Error::invalid("say who followed up (a name or a ticket)");
  std::optional<std::string> tokens;
  if (!follow_up.tokens.empty()) tokens = dump_json(follow_up.tokens);
  std::optional<std::string> category;
  if (follow_up.category) category = std::string(to_string(*follow_up.category));
  return db_.with_tx<int64_t>("cannot mark findings", [&](pqxx::work& tx) -> Result<int64_t> {
    const pqxx::result r = tx.exec_params(
        "INSERT INTO follow_ups (run_id, session_token, category, followed_up_by) "
        "SELECT f.run_id, f.session_token, f.category, $2 FROM reconciler_findings f "
        "WHERE f.followed_up_at IS NULL "
        // A token is marked wherever its open finding is: this run, or an earlier one whose
        // finding this run's report listed again (--include-open).
        "  AND (f.run_id = $1 OR ($3::jsonb IS NOT NULL AND f.run_id < $1)) "
        "  AND ($3::jsonb IS NULL "
        "       OR f.session_token IN (SELECT jsonb_array_elements_text($3::jsonb))) "
        "  AND ($4::text IS NULL OR f.category = $4::text) "
        "ON CONFLICT DO NOTHING",
        follow_up.run_id, follow_up.by, tokens, category);
    return static_cast<int64_t>(r.affected_rows());
  });
}

}  // namespace dr::store
