#include "sim/sim_config.h"

#include "common/command_line.h"
#include "common/duration.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace dr::sim {
namespace {

// Reads a secret from a file; one trailing newline (and \r) is not part of it. The error never
// quotes the content.
Result<std::string> read_secret_file(std::string_view what, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::invalid(fmt::format("cannot read the {} file {}", what, path));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  if (s.empty()) return Error::invalid(fmt::format("the {} file {} is empty", what, path));
  return s;
}

struct SecretSource {
  std::string_view what;       // "API key"
  std::string_view env_value;  // GATEWAY_API_KEY
  std::string_view env_file;   // GATEWAY_API_KEY_FILE
};

// Flag file > environment value > environment file > demo default.
Result<std::optional<std::string>> resolve_secret(const SecretSource& src,
                                                  const std::optional<std::string>& flag_file,
                                                  const EnvLookup& env) {
  if (flag_file) {
    auto s = read_secret_file(src.what, *flag_file);
    if (!s) return s.error();
    return std::optional<std::string>(std::move(*s));
  }
  if (auto v = env(std::string(src.env_value).c_str()); v && !v->empty()) {
    return std::optional<std::string>(*v);
  }
  if (auto f = env(std::string(src.env_file).c_str()); f && !f->empty()) {
    auto s = read_secret_file(src.what, *f);
    if (!s) return s.error();
    return std::optional<std::string>(std::move(*s));
  }
  return std::optional<std::string>();
}

}  // namespace

std::optional<std::string> process_env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}


namespace {

constexpr std::string_view kDescription =
    R"(A local stand-in for the deposit-tracking gateway (POST /pgpub/session, GET /pgpub/session/{token})
for development, demos, tests and benchmarks. On start it prints one line to stdout,
"listening ADDR:PORT", then serves until SIGTERM or SIGINT. Logs go to stderr.
Credentials are never taken on the command line (they would show in the process list).)";

constexpr std::string_view kEpilog =
    R"(Fractions (--fault-*) are per request, drawn from a generator seeded by --seed; they sum to
at most 1. A token's outcome is a stable hash of (seed, token).

Statistics: GET /stats, POST /stats/reset (no key needed, not counted). /stats has
requests_total, responses_by_status, max_requests_per_second (most requests in any 1 s window,
sliding in 100 ms steps), requests_last_second, in_flight, max_in_flight (delayed and held
requests included), connections_total (connections that carried a gateway request),
abandoned_total (held or delayed requests whose client left), sessions_created and faults;
requests_by_token and first_request_order with --track-tokens.

Durations: 500ms, 30s, 5m, 2h, 1d. Exit status: 0 after a clean stop, 2 for bad flags,
1 when the port cannot be bound.
)";

struct SimFlags {
  SimConfig config;
  std::optional<std::string> api_key_file;
  std::optional<std::string> hmac_secret_file;
  bool version = false;
};

Result<uint64_t> parse_u64(std::string_view text) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
    return Error::invalid(fmt::format("must be a whole number, got \"{}\"", text));
  }
  return v;
}

// The one place where the simulator's options are declared.
std::unique_ptr<cli::CommandLine> sim_command_line(SimFlags& f) {
  auto cl = std::make_unique<cli::CommandLine>(cli::CommandLine::Spec{
      "", "deposit-gateway-sim [OPTIONS]", std::string(kDescription), "", std::string(kEpilog)});
  SimConfig& c = f.config;
  auto whole = [&](const std::string& name, long long min, long long max, std::string help,
                   auto& field) {
    using Field = std::remove_reference_t<decltype(field)>;
    return cl->value<long long>(
        name, "N", std::move(help),
        [min, max](std::string_view t) { return cli::parse_integer(t, min, max); },
        [&field](long long v) { field = static_cast<Field>(v); }, std::to_string(field));
  };
  cl->text("listen", c.listen, "address to bind", "ADDR");
  whole("port", 0, 65535, "port; 0 = pick a free one", c.port);
  whole("threads", 1, SimConfig::kMaxThreads,
        "event-loop threads sharing the port with SO_REUSEPORT", c.threads);
  cl->text("api-key-file", f.api_key_file,
           fmt::format("the x-api-key to accept; else $GATEWAY_API_KEY, else the file named by "
                       "$GATEWAY_API_KEY_FILE, else the demo key \"{}\"",
                       SimConfig::kDemoApiKey),
           "PATH");
  cl->text("hmac-secret-file", f.hmac_secret_file,
           fmt::format("the HMAC secret for x-payload-hash; else $GATEWAY_HMAC_SECRET, else the "
                       "file named by $GATEWAY_HMAC_SECRET_FILE, else \"{}\"",
                       SimConfig::kDemoHmacSecret),
           "PATH");
  cl->value<uint64_t>(
      "seed", "N", "seed for tokens, outcomes and faults", parse_u64,
      [&c](uint64_t v) { c.seed = v; }, std::to_string(c.seed));
  cl->value<OutcomeMix>(
      "outcomes", "SPEC",
      "eventual states, e.g. completed=0.6,expired=0.2,failed=0.1,new=0.1 (fractions sum to at "
      "most 1, the remainder stays NEW)",
      parse_outcome_mix, [&c](OutcomeMix m) { c.outcomes = m; },
      "completed=0.6,expired=0.2,failed=0.1,new=0.1");
  cl->duration("new-for", c.new_for,
               "answer NEW for this long after a session's creation (preloaded and "
               "--accept-any-token sessions: after the simulator's start), then the seeded "
               "outcome; 0: those answer their outcome at once, and sessions made by POST stay "
               "NEW until their checkout page moves them");
  cl->value<uint64_t>(
      "preload", "N",
      "know the N sessions sim-<seed>-0 .. sim-<seed>-<N-1> (no memory used)",
      [](std::string_view t) -> Result<uint64_t> {
        auto v = cli::parse_integer(t, 0, 1'000'000'000'000LL);
        if (!v) return v.error();
        return static_cast<uint64_t>(*v);
      },
      [&c](uint64_t v) { c.preload = v; });
  cl->text("preload-file", c.preload_file,
           "write those sessions as CSV (token,user_id,outcome, with a header) before listening",
           "PATH");
  cl->flag("accept-any-token", c.accept_any_token,
           "every token is known (outcome still from the hash)");
  cl->duration("latency", c.latency, "answer every gateway request after this long");
  cl->duration("latency-jitter", c.latency_jitter, "plus a uniform extra in [0, this]");
  auto fraction = [&](const std::string& name, std::string help, double& field) {
    cl->value<double>(
        name, "F", std::move(help), [](std::string_view t) { return cli::parse_number(t, 0, 1); },
        [&field](double v) { field = v; });
  };
  fraction("fault-500", "answer this fraction with 500", c.faults.status_500);
  fraction("fault-503", "answer 503 with Retry-After: 1", c.faults.status_503);
  fraction("fault-timeout",
           "never answer; the connection is closed after --hold-limit or when the client "
           "closes it",
           c.faults.timeout);
  cl->duration("hold-limit", c.hold_limit, "how long a --fault-timeout request is held");
  fraction("fault-malformed", "answer 200 with broken JSON", c.faults.malformed);
  fraction("fault-oversize", "answer 200 with a 2 MiB body", c.faults.oversize);
  fraction("fault-unknown-state", "answer 200 with sessionState \"PENDING\" (GET only)",
           c.faults.unknown_state);
  whole("fail-first", 0, 1'000'000, "each token's first N GETs get 503 with Retry-After: 1",
        c.fail_first);
  cl->value<std::optional<RateSchedule>>(
      "rate-limit", "N[,N@T...]",
      "at most N requests/s per API key: a token bucket with burst N, full at start; refused "
      "requests get 429 with Retry-After: 1. A schedule changes it during the run: "
      "900,300@20s,900@40s is 900/s, then 300/s from 20 s after the start, 900/s again from "
      "40 s; 0 = none",
      [](std::string_view t) -> Result<std::optional<RateSchedule>> {
        if (t == "0") return std::optional<RateSchedule>();
        auto s = parse_rate_schedule(t);
        if (!s) return s.error();
        return std::optional<RateSchedule>(std::move(*s));
      },
      [&c](std::optional<RateSchedule> v) { c.rate_limit = std::move(v); }, "0");
  cl->value<long long>(
      "force-status", "CODE", "answer every gateway request with this HTTP status (e.g. 401)",
      [](std::string_view t) { return cli::parse_integer(t, 100, 599); },
      [&c](long long v) { c.force_status = static_cast<int>(v); });
  cl->flag("track-tokens", c.track_tokens,
           "count GETs per token in /stats (at most 1,000,000 tokens)");
  cl->flag("exit-with-parent", c.exit_with_parent,
           "stop (as on SIGTERM) when the process that started it dies, so a crashed test or "
           "script never leaves a simulator behind (Linux)");
  cl->app().add_flag("-v,--verbose", c.verbose, "log every request at debug level");
  cl->flag("version", f.version, "print the version");
  return cl;
}

}  // namespace

std::string sim_usage() {
  SimFlags f;
  return sim_command_line(f)->help();
}

Result<SimCommand> parse_sim_command(const std::vector<std::string>& args, const EnvLookup& env) {
  for (const auto& a : args) {
    if (a == "--") break;
    std::string flag = a.substr(0, a.find('='));
    if (flag == "--api-key" || flag == "--hmac-secret") {
      return Error::invalid(fmt::format(
          "{} is not accepted on the command line (it would show in the process list); use "
          "{}-file PATH or the {} environment variable",
          flag, flag, flag == "--api-key" ? "GATEWAY_API_KEY" : "GATEWAY_HMAC_SECRET"));
    }
  }
  SimFlags f;
  auto cl = sim_command_line(f);
  auto parsed = cl->parse(args);
  if (!parsed) return parsed.error();
  SimCommand cmd;
  if (*parsed == cli::CommandLine::Outcome::kHelp) {
    cmd.kind = SimCommand::Kind::kHelp;
    return cmd;
  }
  if (f.version) {
    cmd.kind = SimCommand::Kind::kVersion;
    return cmd;
  }
  cmd.config = std::move(f.config);
  SimConfig& c = cmd.config;
  if (!c.preload_file.empty() && c.preload == 0) {
    return Error::invalid("--preload-file needs --preload N (the number of sessions to write)");
  }
  if (c.faults.sum() > 1.0 + 1e-9) {
    return Error::invalid(
        fmt::format("the --fault-* fractions sum to {}, more than 1", c.faults.sum()));
  }

  auto key = resolve_secret({"API key", "GATEWAY_API_KEY", "GATEWAY_API_KEY_FILE"},
                            f.api_key_file, env);
  if (!key) return key.error();
  auto secret = resolve_secret({"HMAC secret", "GATEWAY_HMAC_SECRET", "GATEWAY_HMAC_SECRET_FILE"},
                               f.hmac_secret_file, env);
  if (!secret) return secret.error();
  c.demo_credentials = !key->has_value() || !secret->has_value();
  if (*key) c.api_key = std::move(**key);
  if (*secret) c.hmac_secret = std::move(**secret);
  return cmd;
}

}  // namespace dr::sim
