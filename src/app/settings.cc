#include "app/settings.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>

#include "common/log.h"
#include "gateway/endpoints.h"
#include "http/url_policy.h"

namespace dr::app {

EnvLookup process_env() {
  return [](std::string_view name) -> std::optional<std::string> {
    const char* v = std::getenv(std::string(name).c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

Result<std::string> read_secret_file(const std::string& path, std::string_view what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Error::invalid(
        fmt::format("cannot read the {} file {}: {}", what, path, std::strerror(errno)));
  }
  if (!S_ISREG(st.st_mode)) {
    return Error::invalid(fmt::format("the {} file {} is not a regular file", what, path));
  }
  if (st.st_size > 64 * 1024) {
    return Error::invalid(fmt::format("the {} file {} is larger than 64 KiB", what, path));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error::invalid(
        fmt::format("cannot open the {} file {}: {}", what, path, std::strerror(errno)));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  std::string value = ss.str();
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  if (value.empty()) return Error::invalid(fmt::format("the {} file {} is empty", what, path));
  if ((st.st_mode & (S_IROTH | S_IWOTH)) != 0) {
    log::warn("the {} file {} is readable by every user on this machine (chmod 600 it)", what,
              path);
  }
  return value;
}

namespace {

// One trailing line end is how files and pasted values usually end; anything else that is a
// control character cannot be sent in an HTTP header and is a mistake worth naming.
Result<std::string> clean_secret(std::string value, std::string_view setting) {
  while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  if (value.empty()) return Error::invalid(fmt::format("{} is empty", setting));
  for (unsigned char c : value) {
    if (c < 0x20 || c == 0x7f) {
      return Error::invalid(fmt::format(
          "{} contains a control character (a line break inside it?); it cannot be sent as "
          "an HTTP header",
          setting));
    }
  }
  return value;
}

}  // namespace

Result<std::optional<std::string>> load_secret(const std::optional<std::string>& file_option,
                                               std::string_view env_value,
                                               std::string_view env_file, std::string_view what,
                                               const EnvLookup& env) {
  if (file_option) {
    auto v = read_secret_file(*file_option, what);
    if (!v) return v.error();
    auto clean = clean_secret(std::move(*v), fmt::format("the {} file {}", what, *file_option));
    if (!clean) return clean.error();
    return std::optional<std::string>(std::move(*clean));
  }
  auto direct = env(env_value);
  auto file = env(env_file);
  if (direct && !direct->empty() && file && !file->empty()) {
    return Error::invalid(fmt::format("both {} and {} are set; set only one", env_value, env_file));
  }
  if (direct && !direct->empty()) {
    auto clean = clean_secret(*direct, env_value);
    if (!clean) return clean.error();
    return std::optional<std::string>(std::move(*clean));
  }
  if (file && !file->empty()) {
    auto v = read_secret_file(*file, what);
    if (!v) return v.error();
    auto clean = clean_secret(std::move(*v), fmt::format("the {} file {}", what, *file));
    if (!clean) return clean.error();
    return std::optional<std::string>(std::move(*clean));
  }
  return std::optional<std::string>();
}

bool conninfo_has_password(std::string_view conninfo) {
  static const std::regex kUrlPassword(R"(^postgres(ql)?://[^/@]*:[^/@]*@)");
  static const std::regex kKeyword(R"((^|\s)password\s*=)");
  std::string s(conninfo);
  return std::regex_search(s, kUrlPassword) || std::regex_search(s, kKeyword);
}

Result<std::string> load_database_url(const std::optional<std::string>& option,
                                      bool on_command_line, const EnvLookup& env) {
  if (const auto& v = option) {
    if (on_command_line && conninfo_has_password(*v)) {
      log::warn(
          "--database-url carries a password, which other users can see in the process list; "
          "use DATABASE_URL, DATABASE_URL_FILE or a ~/.pgpass file instead");
    }
    return *v;
  }
  auto direct = env("DATABASE_URL");
  auto file = env("DATABASE_URL_FILE");
  if (direct && !direct->empty() && file && !file->empty()) {
    return Error::invalid("both DATABASE_URL and DATABASE_URL_FILE are set; set only one");
  }
  if (direct && !direct->empty()) return *direct;
  if (file && !file->empty()) return read_secret_file(*file, "database URL");
  return std::string();
}

Result<std::string> check_gateway_url(const std::string& url) {
  if (auto s = http::check_base_url(url); !s) {
    return Error::invalid(fmt::format("bad gateway URL: {}", s.error().message));
  }
  return url;
}

}  // namespace dr::app
