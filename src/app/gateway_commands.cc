// `create-session` and `status`: one request each, through the same engine, signing and parsing
// code as `run`.
#include <fmt/format.h>

#include <cstdio>
#include <random>
#include <thread>

#include "app/command_lines.h"
#include "app/commands.h"
#include "app/options.h"
#include "common/duration.h"
#include "common/log.h"
#include "gateway/create_session.h"
#include "gateway/endpoints.h"
#include "gateway/session_status.h"
#include "gateway/signing.h"
#include "http/transport_factory.h"
#include "pacing/random.h"
#include "pacing/retry_policy.h"
#include "reconcile/run_options.h"
#include "store/pg_session_store.h"

namespace dr::app {
namespace {

http::HttpResponse send_one(http::Transport& t, http::HttpRequest req) {
  t.start(std::move(req));
  std::vector<http::HttpResponse> done;
  while (done.empty()) t.poll(std::chrono::milliseconds(200), done);
  return std::move(done.front());
}

struct GatewaySetup {
  std::string base_url;
  std::string api_key;
  std::unique_ptr<http::Transport> engine;  // --http-client's
};

Result<GatewaySetup> gateway_setup(const ConnectionSettings& s, const EnvLookup& env,
                                   domain::Duration timeout) {
  GatewaySetup g;
  auto url = check_gateway_url(s.gateway_url);
  if (!url) return url.error();
  g.base_url = *url;
  auto key = load_api_key(s, env);
  if (!key) return key.error();
  g.api_key = *key;
  http::EngineOptions eo = gateway_engine_options(s, g.api_key);
  eo.max_in_flight = 1;
  eo.total_timeout = timeout;
  eo.connect_timeout =
      std::min<domain::Duration>(timeout, reconcile::RunOptions::kDefaultConnectTimeout);
  const auto client = http::parse_http_client(s.http_client);
  if (!client) return Error::invalid("--http-client must be curl or native");
  http::HttpClient chosen = *client;
  auto engine =
      http::create_transport(*client, eo, g.base_url, http::process_environment(), &chosen);
  if (!engine) return engine.error();
  if (auto c = check_gateway_connection(chosen, g.base_url, eo); !c) return c.error();
  g.engine = std::move(*engine);
  return g;
}

// Where a failed exchange went wrong: the credentials, the request (a 4xx for what we sent), this
// machine, or the gateway's availability.
Failure gateway_failure(const http::HttpResponse& r, std::string_view what,
                        std::string_view credentials_hint) {
  if (r.error != http::TransportError::kNone) {
    auto msg = fmt::format("{}: {}", what, r.error_message);
    return {is_local_resource_error(msg) ? Origin::kLocalResource : Origin::kGatewayUnavailable,
            msg};
  }
  auto detail = gateway::describe_error_body(r.body);
  auto msg = detail.empty()
                 ? fmt::format("{}: the gateway answered HTTP {}", what, r.status)
                 : fmt::format("{}: the gateway answered HTTP {}: {}", what, r.status, detail);
  if (r.status == 401 || r.status == 403) {
    return {Origin::kGatewayRejected, fmt::format("{} ({})", msg, credentials_hint)};
  }
  if (r.status >= 400 && r.status < 500 && r.status != 404 && r.status != 408 && r.status != 429) {
    return {Origin::kConfiguration, msg};
  }
  return {Origin::kGatewayUnavailable, msg};
}

}  // namespace

int create_session_command(const std::vector<std::string>& argv, const EnvLookup& env) {
  CreateSessionSettings settings;
  auto cl = create_session_command_line(settings);
  if (auto done = parse_command(*cl, argv, settings.connection)) return *done;
  const gateway::CreateSessionRequest& req = settings.request;
  if (!cl->has("user-id")) return fail_with(Origin::kConfiguration, "--user-id is required");
  if (!cl->has("user-name")) return fail_with(Origin::kConfiguration, "--user-name is required");
  if (auto s = gateway::validate(req); !s) return fail_with(Origin::kConfiguration, s.error().message);

  auto secret = load_secret(settings.connection.hmac_secret_file, "GATEWAY_HMAC_SECRET",
                            "GATEWAY_HMAC_SECRET_FILE", "HMAC secret", env);
  if (!secret) return fail_with(Origin::kConfiguration, secret.error().message);
  if (!secret->has_value()) {
    return fail_with(Origin::kConfiguration,
                "no HMAC secret: set GATEWAY_HMAC_SECRET or GATEWAY_HMAC_SECRET_FILE, or pass "
                "--hmac-secret-file");
  }
  auto gw = gateway_setup(settings.connection, env, settings.timeout);
  if (!gw) return fail(configuration_failure(gw.error()));
  auto db_url = load_database_url(*cl, settings.connection, env);
  if (!db_url) return fail_with(Origin::kConfiguration, db_url.error().message);

  // Connect before the POST: a session the gateway created but we failed to store is worse
  // than no session at all.
  std::unique_ptr<store::SessionStores> store;
  bool want_db = !db_url->empty() || env("PGHOST") || env("PGDATABASE") || env("PGSERVICE");
  if (want_db && !settings.connection.mapping.is_default_table()) {
    log::warn("the new session is not stored: with --sessions-table the merchant's application "
              "stores its sessions");
    want_db = false;
  }
  if (want_db) {
    auto s = connect_store(*db_url, settings.connection);
    if (!s) return fail(database_failure(s.error()));
    if (auto st = (*s)->schema().check_schema(); !st) return fail(database_failure(st.error()));
    store = std::move(*s);
  }

  // Serialize once, sign those bytes, send the same bytes.
  std::string body = gateway::to_json_body(req);
  http::HttpRequest post;
  post.id = 1;
  post.method = http::HttpRequest::Method::kPost;
  post.url = gateway::create_session_url(gw->base_url);
  post.body = body;
  post.extra_headers = {"x-payload-hash: " + gateway::hmac_sha512_base64(**secret, body)};
  // Never retried: a POST whose answer was lost may still have created a session.
  auto r = send_one(*gw->engine, std::move(post));
  if (r.error != http::TransportError::kNone || r.status < 200 || r.status >= 300) {
    return fail(gateway_failure(r, "creating the session failed",
                                "check the API key and the HMAC secret"));
  }
  auto created = gateway::parse_created_session(r.body);
  // The gateway said 2xx but its answer cannot be read: the gateway's fault, and the session
  // may exist. Exit 1, as before: an answer we cannot parse is not "some sessions unchecked".
  if (!created) return fail_with(Origin::kInternal, created.error().message);

  if (store) {
    domain::NewSessionRow row;
    row.session_token = created->session_token;
    row.checkout_url = created->checkout_url;
    row.user_id = req.user_id;
    row.user_name = req.user_name;
    row.user_name_surname = req.user_name_surname;
    row.user_email = req.user_email;
    row.redirect_url = req.redirect_url;
    row.fiat_currency = req.fiat_currency;
    row.language = req.language;
    if (req.min_payment_usd) row.min_payment_usd = fmt::format("{}", *req.min_payment_usd);
    if (req.max_payment_usd) row.max_payment_usd = fmt::format("{}", *req.max_payment_usd);
    if (auto s = store->new_sessions().insert_new_session(row); !s) {
      // The session exists at the gateway: say so loudly, with what is needed to store it by hand.
      std::printf("%s\n%s\n", created->session_token.c_str(), created->checkout_url.c_str());
      auto f = database_failure(s.error());
      f.message = fmt::format("the gateway created session {} but storing it failed: {}",
                              created->session_token, s.error().message);
      return fail(f);
    }
  } else {
    log::info("no database configured: the session was created but not stored");
  }
  nlohmann::json out = {{"sessionToken", created->session_token},
                        {"checkOutUrl", created->checkout_url},
                        {"stored", store != nullptr}};
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}

int status_command(const std::vector<std::string>& argv, const EnvLookup& env) {
  StatusSettings settings;
  auto cl = status_command_line(settings);
  if (auto done = parse_command(*cl, argv, settings.connection)) return *done;
  if (settings.tokens.size() != 1) {
    return fail_with(Origin::kConfiguration, "status takes exactly one session token");
  }
  const std::string& token = settings.tokens[0];
  if (token.empty()) return fail_with(Origin::kConfiguration, "the session token is empty");
  const int max_attempts = settings.max_attempts;
  auto gw = gateway_setup(settings.connection, env, settings.timeout);
  if (!gw) return fail(configuration_failure(gw.error()));

  domain::Clock& clock = domain::system_clock();
  pacing::SeededRandom random(std::random_device{}());
  pacing::RetryOptions ro;
  ro.max_attempts = max_attempts;
  pacing::RetryPolicy policy(ro, random);
  http::HttpResponse r;
  for (int attempt = 1;; ++attempt) {
    http::HttpRequest get;
    get.id = static_cast<uint64_t>(attempt);
    get.url = gateway::session_status_url(gw->base_url, token);
    r = send_one(*gw->engine, std::move(get));
    auto decision = policy.decide(http::classify(http::to_attempt_result(r), clock.wall_now()), attempt);
    if (decision.verdict != pacing::RetryDecision::kRetry) break;
    log::info("attempt {} failed ({}); retrying", attempt,
              r.error != http::TransportError::kNone ? r.error_message
                                                     : fmt::format("HTTP {}", r.status));
    clock.sleep_for(decision.delay);
  }
  if (r.error != http::TransportError::kNone || r.status < 200 || r.status >= 300) {
    if (r.status == 404) {
      return fail_with(Origin::kGatewayUnavailable,
                       fmt::format("the gateway does not know session {}", token));
    }
    return fail(gateway_failure(r, "querying the session failed", "check the API key"));
  }
  auto status = gateway::parse_session_status(r.body);
  if (status.kind != gateway::SessionStatus::Kind::kOk) {
    return fail_with(Origin::kGatewayUnavailable,
                     fmt::format("the gateway's answer is unusable: {}", status.detail));
  }
  nlohmann::ordered_json out = {{"sessionToken", token},
                                {"sessionState", std::string(domain::to_string(status.state))},
                                {"checkOutUrl", status.checkout_url}};
  // Keep anything else the gateway said.
  auto raw = nlohmann::json::parse(r.body, nullptr, false);
  if (raw.is_object()) {
    for (auto& [k, v] : raw.items()) {
      if (!out.contains(k)) out[k] = v;
    }
  }
  std::printf("%s\n", out.dump(2).c_str());
  return 0;
}

}  // namespace dr::app
