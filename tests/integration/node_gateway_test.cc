// `create-session` against a gateway written the common Node way (tests/oracle/
// restringify-gateway.js): it checks the HMAC over JSON.stringify(JSON.parse(body)), so only a
// body byte-identical to JSON.stringify's output passes. Whole-number, tiny and huge amounts and
// awkward strings are the cases a C++ serializer gets wrong.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/child_process.h"
#include "support/nginx_process.h"
#include "support/run_binary.h"
#include "support/temp_dir.h"

namespace dr::test {
namespace {

constexpr const char* kKey = "node-gateway-key";
constexpr const char* kSecret = "node-gateway-secret";

std::string node_binary() {
  for (const char* p : {"/usr/bin/node", "/usr/bin/nodejs", "/usr/local/bin/node"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

TEST(NodeGateway, EveryAmountAndStringPassesARestringifyingGateway) {
  const std::string node = node_binary();
  if (node.empty()) GTEST_SKIP() << "node not installed (scripts/install-deps.sh installs it)";
  TempDir dir("dr-node-gw");
  const std::string log = (dir.path() / "requests.jsonl").string();
  const int port = free_loopback_port();
  ChildServer gateway({node, std::string(DR_SOURCE_DIR) + "/tests/oracle/restringify-gateway.js",
                       std::to_string(port), kKey, kSecret, log},
                      port, dir.path().string());
  const EnvChanges env = {{"GATEWAY_API_KEY", kKey},
                          {"GATEWAY_HMAC_SECRET", kSecret},
                          {"GATEWAY_BASE_URL", "http://127.0.0.1:" + std::to_string(port)},
                          {"GATEWAY_API_KEY_FILE", ""},
                          {"GATEWAY_HMAC_SECRET_FILE", ""},
                          {"DATABASE_URL", ""},
                          {"DATABASE_URL_FILE", ""},
                          {"PGHOST", ""},
                          {"PGDATABASE", ""},
                          {"PGSERVICE", ""}};
  // The examples first: 10 and 100 went out as 10.0 and 100.0. (The command line takes
  // amounts up to 1e18; exponent forms past 1e21 are in gateway_json_node_test.cc.)
  const std::vector<std::pair<std::string, std::string>> amounts = {
      {"10", "100"},
      {"0", "0"},
      {"0.5", "5000"},
      {"1e17", "9.5e17"},
      {"1.5e-7", "1"},
      {"0.1", "0.30000000000000004"},
      {"123.456", "999999999999999900"}};
  int n = 0;
  for (const auto& [min, max] : amounts) {
    auto r = run_reconciler(
        {"create-session", "--user-id", "u-" + std::to_string(++n), "--user-name",
         "Zoë \"Q\" \\ </script> \u2028 😀 \t", "--user-email", "z@example.com", "--min-payment-usd",
         min, "--max-payment-usd", max, "--fiat-currency", "TRY", "--language", "tr",
         "--redirect-url", "https://m.example/done?a=1&b=/x"},
        env);
    EXPECT_EQ(r.exit_code, 0) << min << " " << max << ": " << r.err;
  }
  // What the gateway saw: every body already was its own JSON.stringify.
  std::ifstream in(log);
  int lines = 0;
  for (std::string line; std::getline(in, line); ++lines) {
    auto j = nlohmann::json::parse(line);
    EXPECT_TRUE(j["ok"].get<bool>()) << line;
    EXPECT_EQ(j["body"], j["restringified"]);
  }
  EXPECT_EQ(lines, static_cast<int>(amounts.size()));
}

}  // namespace
}  // namespace dr::test
