// The binary's bad-input paths: one clear line, the documented exit code, no secret in sight.
// These need neither PostgreSQL nor the simulator (nothing listens on 127.0.0.1:1).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/run_binary.h"

namespace dr::test {
namespace {

const std::string kSecretKey = "sk_live_SUPERSECRET_key_0123456789";
const std::string kSecretHmac = "hmac_SUPERSECRET_0123456789";

EnvChanges base_env() {
  return {{"GATEWAY_API_KEY", kSecretKey},
          {"GATEWAY_HMAC_SECRET", kSecretHmac},
          {"GATEWAY_BASE_URL", "http://127.0.0.1:1"},
          {"DATABASE_URL", "postgresql://dr:SUPERSECRETPW@127.0.0.1:1/nowhere?connect_timeout=2"},
          {"GATEWAY_API_KEY_FILE", ""},
          {"GATEWAY_HMAC_SECRET_FILE", ""},
          {"DATABASE_URL_FILE", ""}};
}

void expect_no_secret(const ProcessResult& r) {
  for (const auto& s : {kSecretKey, kSecretHmac, std::string("SUPERSECRETPW")}) {
    EXPECT_EQ(r.out.find(s), std::string::npos) << "secret on stdout: " << r.out;
    EXPECT_EQ(r.err.find(s), std::string::npos) << "secret on stderr: " << r.err;
  }
}

void expect_failure(const std::vector<std::string>& args, int code, const std::string& needle,
                    EnvChanges env = base_env()) {
  auto r = run_reconciler(args, env);
  EXPECT_EQ(r.exit_code, code) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
  expect_no_secret(r);
}

TEST(Cli, VersionNamesTheRevision) {
  auto r = run_reconciler({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.out.rfind("deposit-reconciler ", 0), 0u) << r.out;
  EXPECT_NE(r.out.find("(git "), std::string::npos);
}

TEST(Cli, EveryCommandHasHelp) {
  for (auto cmd : {"run", "migrate", "create-session", "status", "report", "follow-up"}) {
    auto r = run_reconciler({cmd, "--help"});
    EXPECT_EQ(r.exit_code, 0) << cmd;
    EXPECT_NE(r.out.find("usage: deposit-reconciler"), std::string::npos) << cmd;
  }
  auto r = run_reconciler({});
  EXPECT_EQ(r.exit_code, 2);
}

TEST(Cli, UsageErrorsExitTwoAndNameTheProblem) {
  expect_failure({"frobnicate"}, 2, "unknown command");
  expect_failure({"run", "--bogus"}, 2, "--bogus");
  expect_failure({"run", "--min-age", "5x"}, 2, "\"5x\"");
  expect_failure({"run", "--batch-size", "0"}, 2, "--batch-size");
  expect_failure({"run", "--concurrency", "-3"}, 2, "--concurrency");
  expect_failure({"run", "--min-age", "3d", "--stale-after", "2d"}, 2, "--min-age");
  expect_failure({"run", "--created-after", "yesterday"}, 2, "--created-after");
  expect_failure({"run", "--report-formats", "pdf"}, 2, "pdf");
  expect_failure({"run", "--progress", "maybe"}, 2, "--progress");
  expect_failure({"status"}, 2, "token");
  expect_failure({"report"}, 2, "--run");
}

TEST(Cli, GatewayUrlMustBeHttpsUnlessLoopback) {
  auto env = base_env();
  env["GATEWAY_BASE_URL"] = "http://gateway.example.com";
  expect_failure({"run"}, 2, "gateway URL", env);
  env["GATEWAY_BASE_URL"] = "not a url";
  expect_failure({"status", "tok"}, 2, "gateway URL", env);
  env["GATEWAY_BASE_URL"] = "127.0.0.1:8080";
  expect_failure({"status", "tok"}, 2, "no scheme", env);
  env["GATEWAY_BASE_URL"] = "https://user:" + kSecretKey + "@gateway.example.com";
  expect_failure({"run"}, 2, "gateway URL", env);
}

TEST(Cli, MissingOrUnreadableSecretsAreNamed) {
  auto env = base_env();
  env["GATEWAY_API_KEY"] = "";
  expect_failure({"run"}, 2, "API key", env);
  env["GATEWAY_API_KEY_FILE"] = "/nonexistent/api-key";
  expect_failure({"run"}, 2, "/nonexistent/api-key", env);
  env = base_env();
  env["GATEWAY_API_KEY_FILE"] = "/etc/hostname";
  expect_failure({"run"}, 2, "set only one", env);
  env = base_env();
  env["GATEWAY_HMAC_SECRET"] = "";
  expect_failure({"create-session", "--user-id", "u", "--user-name", "n"}, 2, "HMAC secret", env);
  expect_failure({"run", "--api-key-file", "/nonexistent/key"}, 2, "/nonexistent/key");
}

TEST(Cli, SecretFilesAreReadAndTrimmed) {
  auto dir = std::filesystem::temp_directory_path() / "dr-cli-secret";
  std::filesystem::create_directories(dir);
  auto key = dir / "key";
  {
    std::ofstream(key) << kSecretKey << "\n";
  }
  std::filesystem::permissions(key, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  auto env = base_env();
  env["GATEWAY_API_KEY"] = "";
  env["GATEWAY_API_KEY_FILE"] = key.string();
  // The key is read; the run then fails on the database, not on the key.
  auto r = run_reconciler({"run", "--report-dir", (dir / "reports").string()}, env);
  EXPECT_EQ(r.exit_code, 5) << r.err;
  expect_no_secret(r);
  std::filesystem::remove_all(dir);
}

TEST(Cli, InvalidSessionFieldsAreNamedBeforeAnyRequest) {
  expect_failure({"create-session", "--user-id", "", "--user-name", "n"}, 2, "userId");
  expect_failure({"create-session", "--user-id", "u", "--user-name", "n", "--fiat-currency", "JPY"},
                 2, "sessionDefaultFiatCurrency");
  expect_failure({"create-session", "--user-id", "u", "--user-name", "n", "--min-payment-usd", "-1"},
                 2, "minPaymentAmountInUSD");
  expect_failure({"create-session", "--user-id", "u", "--user-name", "n", "--language", "eng"}, 2,
                 "sessionDefaultLanguage");
  expect_failure({"create-session", "--user-id", "u", "--user-name", "n", "--redirect-url", "nope"},
                 2, "redirectUrl");
  expect_failure({"create-session", "--user-id", "u"}, 2, "--user-name");
}

TEST(Cli, UnreachableDatabaseExitsFive) {
  auto dir = std::filesystem::temp_directory_path() / "dr-cli-db";
  expect_failure({"run", "--report-dir", dir.string()}, 5, "database");
  expect_failure({"migrate"}, 5, "database");
  expect_failure({"report", "--latest", "--report-dir", dir.string()}, 5, "database");
  std::filesystem::remove_all(dir);
}

TEST(Cli, MalformedDatabaseUrlIsAUsageError) {
  auto env = base_env();
  env["DATABASE_URL"] = "host=127.0.0.1 bogus_option=1";
  expect_failure({"migrate"}, 2, "bogus_option", env);
  env["DATABASE_URL"] = "postgresql://dr:SUPERSECRETPW@127.0.0.1:notaport/x";
  expect_failure({"run", "--report-dir", "/tmp/dr-cli-malformed"}, 2, "port", env);
  std::filesystem::remove_all("/tmp/dr-cli-malformed");
}

TEST(Cli, UnwritableReportDirIsRefusedBeforeAnyRequest) {
  expect_failure({"run", "--report-dir", "/proc/nope"}, 2, "/proc/nope");
}

TEST(Cli, UnreachableGatewayIsNamed) {
  auto r = run_reconciler({"status", "tok", "--max-attempts", "1"}, base_env());
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_FALSE(r.err.empty());
  expect_no_secret(r);
}

TEST(Cli, DatabaseUrlFlagWithPasswordDrawsAWarningButNoEcho) {
  auto dir = std::filesystem::temp_directory_path() / "dr-cli-db2";
  auto r = run_reconciler({"migrate", "--database-url",
                           "postgresql://dr:SUPERSECRETPW@127.0.0.1:1/x?connect_timeout=2"},
                          base_env());
  EXPECT_EQ(r.exit_code, 5);
  EXPECT_NE(r.err.find("process list"), std::string::npos) << r.err;
  expect_no_secret(r);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dr::test
