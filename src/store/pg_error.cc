#include "store/pg_error.h"

#include <algorithm>
#include <pqxx/except>

#include "common/log.h"
#include "store/conninfo.h"

namespace dr::store {
namespace {

constexpr size_t kMaxMessage = 400;

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

Error classify_sql_error(const pqxx::sql_error& e, std::string message) {
  const std::string& state = e.sqlstate();
  if (starts_with(state, "08") || state == "57P01" || state == "57P02" || state == "57P03" ||
      state == "53300") {
    return Error::unavailable(std::move(message));
  }
  if (state == "42P01" || state == "42703" || state == "42883") {
    return Error::schema(message + " (is the schema migrated? run `deposit-reconciler migrate`)");
  }
  if (state == "22007" || state == "22008" || state == "22P02" || state == "22003" ||
      state == "22023" || state == "23505") {
    return Error::invalid(std::move(message));
  }
  return Error::internal(std::move(message));
}

// libpq's complaints about the connection string itself: a configuration error, not an outage.
bool is_conninfo_syntax_error(std::string_view what) {
  for (std::string_view marker :
       {"invalid connection option", "missing \"=\" after", "unterminated quoted string",
        "invalid URI", "invalid integer value", "invalid percent-encoded token",
        "forbidden value %00", "end of string reached when looking for matching",
        "unexpected spaces found in", "invalid sslmode value", "invalid port number"}) {
    if (what.find(marker) != std::string_view::npos) return true;
  }
  return false;
}

}  // namespace

std::string one_line(std::string_view message) {
  std::string out;
  out.reserve(std::min(message.size(), kMaxMessage));
  bool space = false;
  for (char c : message) {
    if (c == '\n' || c == '\t' || c == '\r' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
    if (out.size() >= kMaxMessage) break;
  }
  for (std::string_view prefix : {"ERROR: ", "FATAL: ", "WARNING: ", "NOTICE: "}) {
    if (starts_with(out, prefix)) out.erase(0, prefix.size());
  }
  return out;
}

bool NoticeLogger::operator()(const char msg[]) noexcept {
  try {
    log::warn("database: {}", redact_secrets(one_line(msg), conninfo_));
  } catch (...) {
    // Logging must not throw into libpq's callback; losing a notice is acceptable.
  }
  return false;
}

PgFailure translate_pg_exception(std::exception_ptr e, std::string_view context,
                                 const std::string& conninfo) {
  auto message = [&](std::string_view what) {
    return redact_secrets(std::string(context) + ": " + one_line(what), conninfo);
  };
  try {
    std::rethrow_exception(e);
  } catch (const pqxx::serialization_failure& ex) {
    return {Error::unavailable(message(ex.what())), true};
  } catch (const pqxx::deadlock_detected& ex) {
    return {Error::unavailable(message(ex.what())), true};
  } catch (const pqxx::statement_completion_unknown& ex) {
    return {Error::unavailable(message(ex.what())), false};
  } catch (const pqxx::transaction_rollback& ex) {
    return {Error::unavailable(message(ex.what())), true};
  } catch (const pqxx::in_doubt_error& ex) {
    return {Error::unavailable(message(ex.what())), false};
  } catch (const pqxx::broken_connection& ex) {
    if (is_conninfo_syntax_error(ex.what())) {
      return {Error::invalid(message(std::string("invalid database URL: ") + ex.what())), false};
    }
    return {Error::unavailable(message(ex.what())), false};
  } catch (const pqxx::sql_error& ex) {
    return {classify_sql_error(ex, message(ex.what())), false};
  } catch (const std::exception& ex) {
    return {Error::internal(message(ex.what())), false};
  } catch (...) {
    return {Error::internal(message("unknown exception")), false};
  }
}

}  // namespace dr::store
