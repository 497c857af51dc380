#include "store/pg_follow_up_store.h"

#include <optional>
#include <pqxx/result>
#include <pqxx/transaction>
#include <string>

#include "store/pg_session.h"
#include "store/pg_values.h"
#include "store/statements.h"

namespace dr::store {

Result<int64_t> PgFollowUpStore::mark_followed_up(const domain::FollowUp& follow_up) {
  if (follow_up.by.empty()) return Error::invalid("say who followed up (a name or a ticket)");
  std::optional<std::string> tokens;
  if (!follow_up.tokens.empty()) tokens = dump_json(follow_up.tokens);
  std::optional<std::string> category;
  if (follow_up.category) category = std::string(to_string(*follow_up.category));
  return db_.with_tx<int64_t>("cannot mark findings", [&](pqxx::work& tx) -> Result<int64_t> {
    // A token is marked wherever its open finding is: this run, or an earlier one whose
    // finding this run's report listed again (--include-open).
    const pqxx::result r = tx.exec_params(std::string(statements::follow_ups_mark),
                                          follow_up.run_id, follow_up.by, tokens, category);
    return static_cast<int64_t>(r.affected_rows());
  });
}

}  // namespace dr::store
