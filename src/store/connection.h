#pragma once

#include <memory>
#include <pqxx/connection>
#include <string>
#include <string_view>

#include "common/result.h"
#include "store/pg_error.h"

namespace dr::store {

// A new connection with the session settings every statement of the store relies on: UTC, only
// warnings from the server, and the job's schema as the only search_path entry (the merchant's
// table is always named in full). `application_name` is set unless the connection string names
// one. libpqxx remembers the variables and sets them again if it has to reconnect.
Result<std::unique_ptr<pqxx::connection>> open_connection(
    const std::string& conninfo, const std::string& schema,
    std::string_view application_name = "deposit-reconciler");

// Replaces `conn` with a new connection opened the same way, and moves `notices` (the
// connection's NoticeLogger) over to it. On failure both are left as they were.
Status reopen_connection(std::unique_ptr<pqxx::connection>& conn,
                         std::unique_ptr<NoticeLogger>& notices, const std::string& conninfo,
                         const std::string& schema);

}  // namespace dr::store
