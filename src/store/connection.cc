#include "store/connection.h"

#include <exception>
#include <optional>

#include "store/conninfo.h"
#include "store/pg_error.h"
#include "store/table_mapping.h"

namespace dr::store {

Result<std::unique_ptr<pqxx::connection>> open_connection(const std::string& conninfo,
                                                          const std::string& schema,
                                                          std::string_view application_name) {
  try {
    auto conn = std::make_unique<pqxx::connection>(conninfo);
    conn->set_variable("TimeZone", "'UTC'");
    conn->set_variable("client_min_messages", "warning");
    conn->set_variable("search_path", quote_identifier(schema));
    // The job's statements are short or read a run's findings once: compiling them with JIT
    // costs more than it saves (the report's read spent 20-30 ms compiling per run).
    conn->set_variable("jit", "off");
    const std::optional<ConninfoParts> parts = parse_conninfo(conninfo);
    if (!parts || !parts->has_application_name) {
      conn->set_variable("application_name", "'" + std::string(application_name) + "'");
    }
    return conn;
  } catch (...) {
    return translate_pg_exception(std::current_exception(), "cannot connect to the database",
                                  conninfo)
        .error;
  }
}

Status reopen_connection(std::unique_ptr<pqxx::connection>& conn,
                         std::unique_ptr<NoticeLogger>& notices, const std::string& conninfo,
                         const std::string& schema) {
  Result<std::unique_ptr<pqxx::connection>> fresh = open_connection(conninfo, schema);
  if (!fresh) return fresh.error();
  notices.reset();  // unregisters from the old connection before it goes
  conn = std::move(*fresh);
  notices = std::make_unique<NoticeLogger>(*conn, conninfo);
  return ok_status();
}

}  // namespace dr::store
