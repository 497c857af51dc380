#include "store/pg_schema_check.h"

#include <fmt/format.h>

#include <pqxx/result>
#include <pqxx/transaction>
#include <string>

#include "store/migrator.h"
#include "store/pg_session.h"
#include "store/pg_values.h"
#include "store/statements.h"

namespace dr::store {

Status PgSchemaCheck::check_schema() {
  Result<SchemaStatus> s = store::check_schema(db_.connection());
  if (!s) return s.error();
  return ok_status();
}

Result<domain::TableHealth> PgSchemaCheck::inspect_sessions_table() {
  const std::string& table = db_.mapping().table;
  const std::string& st = db_.mapping().state;
  const auto& v = db_.mapping().mapping.state_values;
  return db_.with_tx<domain::TableHealth>(
      "cannot read the sessions table", [&](pqxx::work& tx) -> Result<domain::TableHealth> {
        domain::TableHealth h;
        h.has_rows =
            tx.exec1(fmt::format(fmt::runtime(statements::table_has_rows), fmt::arg("t", table)))[0]
                .as<bool>();
        h.has_new = tx.exec_params1(fmt::format(fmt::runtime(statements::table_has_new),
                                                fmt::arg("t", table), fmt::arg("st", st)),
                                    v[0])[0]
                        .as<bool>();
        if (h.has_rows && !h.has_new) {
          const pqxx::result r =
              tx.exec_params(fmt::format(fmt::runtime(statements::table_unknown_values),
                                         fmt::arg("t", table), fmt::arg("st", st)),
                             v[0], v[1], v[2], v[3]);
          for (const auto& row : r) {
            h.unknown_values.push_back(row[0].is_null() ? "NULL" : row[0].as<std::string>());
          }
        }
        h.has_created_index = db_.mapping().has_created_index;
        return h;
      });
}

}  // namespace dr::store
