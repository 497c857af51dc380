#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace dr::store {

// The parts of a libpq connection string (URL "postgresql://user:pw@host:port/db?k=v" or
// "key=value ..." form) that the store needs to describe it and to keep its password out of
// messages. Best effort: libpq stays the judge of what is valid; fields it would take from PG*
// variables or defaults are empty here.
struct ConninfoParts {
  std::string user;
  std::string host;  // the first host, as libpq reads it (an IPv6 address without brackets)
  std::string port;
  std::string dbname;
  std::string password;
  bool has_application_name = false;
};

// nullopt if `conninfo` is not even shaped like a connection string.
std::optional<ConninfoParts> parse_conninfo(std::string_view conninfo);

// What a log line may say about a database: "user@host:port/dbname". Never the password.
// Thread-safe.
std::string describe_conninfo(const std::string& conninfo);

// `message` with every trace of a password removed: the password of `conninfo` (as written and
// percent-decoded), the one in PGPASSWORD, `password=...` pairs and `scheme://user:secret@`
// user-info. libpq's error texts can echo parts of a malformed connection string; every message
// built from one goes through here before it reaches an Error or a log. Thread-safe.
std::string redact_secrets(std::string_view message, const std::string& conninfo);

}  // namespace dr::store
