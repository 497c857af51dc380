// `create-session` and `status` against the real simulator over loopback.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "sim/outcomes.h"
#include "support/run_binary.h"
#include "support/sim_process.h"
#include "support/test_database.h"

namespace dr::test {
namespace {

constexpr uint64_t kSeed = 9;

EnvChanges env_for(const SimProcess& sim) {
  return {{"GATEWAY_API_KEY", sim.options().api_key},
          {"GATEWAY_HMAC_SECRET", sim.options().hmac_secret},
          {"GATEWAY_BASE_URL", sim.base_url()},
          {"GATEWAY_API_KEY_FILE", ""},
          {"GATEWAY_HMAC_SECRET_FILE", ""},
          {"DATABASE_URL", ""},
          {"DATABASE_URL_FILE", ""},
          {"PGHOST", ""},
          {"PGDATABASE", ""},
          {"PGSERVICE", ""}};
}

SimOptions sim_with(std::vector<std::string> extra) {
  SimOptions o;
  o.args = {"--seed", std::to_string(kSeed), "--preload", "1000",
            "--outcomes", "completed=0.4,expired=0.3,failed=0.2"};
  o.args.insert(o.args.end(), extra.begin(), extra.end());
  return o;
}

std::string token_with_state(domain::SessionState want) {
  sim::OutcomeMix mix;
  mix.completed = 0.4;
  mix.expired = 0.3;
  mix.failed = 0.2;
  for (uint64_t i = 0; i < 1000; ++i) {
    auto t = sim::preload_token(kSeed, i);
    if (sim::outcome_for(t, kSeed, mix) == want) return t;
  }
  return "";
}

TEST(StatusCommand, PrintsEachStateAsJson) {
  SimProcess sim(sim_with({}));
  for (auto s : {domain::SessionState::kNew, domain::SessionState::kCompleted,
                 domain::SessionState::kExpired, domain::SessionState::kFailed}) {
    auto token = token_with_state(s);
    ASSERT_FALSE(token.empty());
    auto r = run_reconciler({"status", token}, env_for(sim));
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j["sessionToken"], token);
    EXPECT_EQ(j["sessionState"], std::string(domain::to_string(s)));
    EXPECT_FALSE(j["checkOutUrl"].get<std::string>().empty());
  }
}

TEST(StatusCommand, UnknownTokenWrongKeyAndTransientErrors) {
  SimProcess sim(sim_with({}));
  auto r = run_reconciler({"status", "no-such-token"}, env_for(sim));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("does not know"), std::string::npos) << r.err;

  auto env = env_for(sim);
  env["GATEWAY_API_KEY"] = "wrong-key-value";
  r = run_reconciler({"status", token_with_state(domain::SessionState::kNew)}, env);
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("401"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("wrong-key-value"), std::string::npos);
}

TEST(StatusCommand, RetriesA503ThenSucceeds) {
  SimProcess sim(sim_with({"--fail-first", "1"}));
  auto r =
      run_reconciler({"status", token_with_state(domain::SessionState::kExpired)}, env_for(sim));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  auto st = sim.stats();
  EXPECT_EQ(st["responses_by_status"].value("503", 0), 1);
  EXPECT_EQ(st["responses_by_status"].value("200", 0), 1);
}

TEST(StatusCommand, RetriesA429ThenSucceeds) {
  SimProcess sim(sim_with({"--rate-limit", "1"}));
  auto token = token_with_state(domain::SessionState::kFailed);
  auto first = run_reconciler({"status", token}, env_for(sim));
  auto second = run_reconciler({"status", token}, env_for(sim));
  EXPECT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(second.exit_code, 0) << second.err;
  auto st = sim.stats();
  EXPECT_GE(st["responses_by_status"].value("429", 0), 1);
  EXPECT_EQ(st["responses_by_status"].value("200", 0), 2);
}

TEST(StatusCommand, TimeoutMalformedAndOversizeAreNamed) {
  {
    SimProcess sim(sim_with({"--fault-timeout", "1", "--hold-limit", "3s"}));
    auto r = run_reconciler({"status", "sim-9-1", "--timeout", "300ms", "--max-attempts", "2"}, env_for(sim));
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find("imed out"), std::string::npos) << r.err;
    EXPECT_EQ(sim.stats()["requests_total"].get<int>(), 2);
  }
  {
    SimProcess sim(sim_with({"--fault-malformed", "1"}));
    auto r = run_reconciler({"status", "sim-9-1"}, env_for(sim));
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find("not a JSON object"), std::string::npos) << r.err;
  }
  {
    SimProcess sim(sim_with({"--fault-oversize", "1"}));
    auto r = run_reconciler({"status", "sim-9-1", "--max-attempts", "1"}, env_for(sim));
    EXPECT_EQ(r.exit_code, 3) << r.err;
    EXPECT_NE(r.err.find("byte"), std::string::npos) << r.err;
  }
}

TEST(StatusCommand, TokensNeedingEncodingReachTheRightPath) {
  SimProcess sim(sim_with({"--accept-any-token", "--track-tokens"}));
  const std::vector<std::string> tokens = {"a/b", "x?y=1", "frag#ment", "100%", "with space",
                                           "Zoë-東京", "../../admin"};
  for (const auto& t : tokens) {
    auto r = run_reconciler({"status", t}, env_for(sim));
    EXPECT_EQ(r.exit_code, 0) << t << ": " << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out)["sessionToken"], t);
  }
  auto by_token = sim.stats()["requests_by_token"];
  for (const auto& t : tokens) EXPECT_EQ(by_token.value(t, 0), 1) << t;
  EXPECT_EQ(by_token.size(), tokens.size());
}

TEST(CreateSessionCommand, SignedPostIsAcceptedAndStoredAsNew) {
  DR_REQUIRE_TEST_DATABASE();
  auto db = TestDatabase::create();
  SimProcess sim(sim_with({"--new-for", "1h"}));
  auto env = env_for(sim);
  env["DATABASE_URL"] = db->url();
  ASSERT_EQ(run_reconciler({"migrate"}, env).exit_code, 0);
  auto r = run_reconciler({"create-session", "--user-id", "u-42", "--user-name", "Zoë \"Q\" <b>",
                           "--user-email", "zoe@example.com", "--min-payment-usd", "0.5",
                           "--max-payment-usd", "250", "--fiat-currency", "EUR", "--language", "de",
                           "--redirect-url", "https://merchant.example/done"},
                          env);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  std::string token = j["sessionToken"];
  EXPECT_TRUE(j["stored"].get<bool>());
  EXPECT_NE(j["checkOutUrl"].get<std::string>().find(token), std::string::npos);

  pqxx::connection c(db->url());
  pqxx::work w(c);
  auto row = w.exec_params1(
      "SELECT state, user_id, user_name, fiat_currency, language, min_payment_usd::text, "
      "max_payment_usd::text, checkout_url FROM deposit_sessions WHERE session_token = $1",
      token);
  EXPECT_EQ(row[0].as<std::string>(), "NEW");
  EXPECT_EQ(row[1].as<std::string>(), "u-42");
  EXPECT_EQ(row[2].as<std::string>(), "Zoë \"Q\" <b>");
  EXPECT_EQ(row[3].as<std::string>(), "EUR");
  EXPECT_EQ(row[4].as<std::string>(), "de");
  EXPECT_EQ(row[5].as<std::string>(), "0.5");
  EXPECT_EQ(row[6].as<std::string>(), "250");
  EXPECT_EQ(row[7].as<std::string>(), j["checkOutUrl"].get<std::string>());
  EXPECT_EQ(w.exec_params1("SELECT count(*) FROM session_state_changes WHERE session_token = $1 "
                           "AND source = 'creation' AND new_state = 'NEW'", token)[0].as<int>(), 1);

  // The session the gateway just created answers NEW (--new-for 1h).
  auto s = run_reconciler({"status", token}, env);
  ASSERT_EQ(s.exit_code, 0) << s.err;
  EXPECT_EQ(nlohmann::json::parse(s.out)["sessionState"], "NEW");
}

TEST(CreateSessionCommand, WithoutADatabaseItOnlyPrints) {
  SimProcess sim(sim_with({}));
  auto r = run_reconciler({"create-session", "--user-id", "u", "--user-name", "n"}, env_for(sim));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(nlohmann::json::parse(r.out)["stored"].get<bool>());
}

TEST(CreateSessionCommand, WrongSecretOrKeyIsRejected) {
  SimProcess sim(sim_with({}));
  auto env = env_for(sim);
  env["GATEWAY_HMAC_SECRET"] = "not-the-secret";
  auto r = run_reconciler({"create-session", "--user-id", "u", "--user-name", "n"}, env);
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("errorHmacDoesNotMatch"), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("not-the-secret"), std::string::npos);

  env = env_for(sim);
  env["GATEWAY_API_KEY"] = "not-the-key";
  r = run_reconciler({"create-session", "--user-id", "u", "--user-name", "n"}, env);
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_EQ(r.err.find("not-the-key"), std::string::npos);
  // Nothing was created either time.
  EXPECT_EQ(sim.stats()["responses_by_status"].value("200", 0), 0);
}

}  // namespace
}  // namespace dr::test
