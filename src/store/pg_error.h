#pragma once

#include <exception>
#include <pqxx/connection_base>
#include <pqxx/errorhandler>
#include <string>
#include <string_view>

#include "common/result.h"

namespace dr::store {

// A libpqxx (or other) exception translated into an Error for callers of the store.
struct PgFailure {
  Error error;
  // A serialization failure or deadlock: running the whole transaction again may succeed.
  bool retryable = false;
};

// Translates `e` (caught from libpqxx) into an Error whose message starts with `context` and
// never holds a password from `conninfo`:
//   lost connection, server shutting down, too many connections      -> kUnavailable
//   40001 serialization failure, 40P01 deadlock (retryable = true)   -> kUnavailable
//   missing table/column/function (schema not migrated)              -> kSchema
//   bad date/time or number from a person (22007, 22008, 22P02...)   -> kInvalidArgument
//   unique violation                                                  -> kInvalidArgument
//   anything else                                                     -> kInternal
PgFailure translate_pg_exception(std::exception_ptr e, std::string_view context,
                                 const std::string& conninfo);

// Sends the server's notices and warnings on a connection to dr::log (one line, passwords
// redacted) instead of libpqxx's default, raw stderr. Must be destroyed before the connection.
class NoticeLogger final : public pqxx::errorhandler {
 public:
  NoticeLogger(pqxx::connection_base& conn, std::string conninfo)
      : pqxx::errorhandler(conn), conninfo_(std::move(conninfo)) {}
  bool operator()(const char msg[]) noexcept override;

 private:
  std::string conninfo_;
};

// The first lines of a libpq/libpqxx message on one line, without the "ERROR:  " prefix.
std::string one_line(std::string_view message);

}  // namespace dr::store
