#pragma once

#include <string>
#include <utility>
#include <variant>

namespace dr {

// What went wrong, as a value. Expected failures (network, bad data, database) travel as Error;
// exceptions from libraries stop at the adapter that calls them and are translated there.
enum class ErrorCode {
  kInvalidArgument,  // bad input from a person: a flag, a field, a file
  kUnavailable,      // a service (database, gateway) could not be reached
  kSchema,           // database schema missing, outdated or newer than this binary
  kAuth,             // credentials rejected
  kNotFound,
  kIo,
  kInternal,
};

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;  // one line, names the problem, never holds a secret

  static Error invalid(std::string m) { return {ErrorCode::kInvalidArgument, std::move(m)}; }
  static Error unavailable(std::string m) { return {ErrorCode::kUnavailable, std::move(m)}; }
  static Error schema(std::string m) { return {ErrorCode::kSchema, std::move(m)}; }
  static Error io(std::string m) { return {ErrorCode::kIo, std::move(m)}; }
  static Error internal(std::string m) { return {ErrorCode::kInternal, std::move(m)}; }
};

// A value or an Error. Minimal stand-in for C++23 std::expected.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result for operations that produce no value.
struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() { return Ok{}; }

}  // namespace dr
