#include "sim/sim_config.h"

#include "common/duration.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace dr::sim {
namespace {

Result<uint64_t> parse_uint(std::string_view flag, std::string_view text, uint64_t max) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || v > max) {
    return Error::invalid(
        fmt::format("{} needs a whole number between 0 and {}, got \"{}\"", flag, max, text));
  }
  return v;
}

Result<double> parse_fraction(std::string_view flag, std::string_view text) {
  std::string s(text);
  double v = 0;
  size_t used = 0;
  bool ok = false;
  try {
    v = std::stod(s, &used);
    ok = used == s.size();
  } catch (...) {
    ok = false;
  }
  if (!ok || !std::isfinite(v) || v < 0 || v > 1) {
    return Error::invalid(
        fmt::format("{} needs a fraction between 0 and 1, got \"{}\"", flag, text));
  }
  return v;
}

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

constexpr std::string_view kValueFlags[] = {
    "--listen",
    "--port",
    "--threads",
    "--seed",
    "--api-key-file",
    "--hmac-secret-file",
    "--outcomes",
    "--new-for",
    "--latency",
    "--latency-jitter",
    "--hold-limit",
    "--preload",
    "--preload-file",
    "--fault-500",
    "--fault-503",
    "--fault-timeout",
    "--fault-malformed",
    "--fault-oversize",
    "--fault-unknown-state",
    "--fail-first",
    "--rate-limit",
    "--force-status",
};

bool takes_value(std::string_view flag) {
  for (auto f : kValueFlags) {
    if (f == flag) return true;
  }
  return false;
}

}  // namespace

std::optional<std::string> process_env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}


std::string sim_usage() {
  return R"(Usage: deposit-gateway-sim [options]

A local stand-in for the deposit-tracking gateway (POST /pgpub/session, GET /pgpub/session/{token})
for development, demos, tests and benchmarks. On start it prints one line to stdout,
"listening ADDR:PORT", then serves until SIGTERM or SIGINT. Logs go to stderr.

Network:
  --listen ADDR            address to bind (default 127.0.0.1)
  --port N                 port (default 8080; 0 = pick a free one)
  --threads N              event-loop threads sharing the port with SO_REUSEPORT (default 1)

Credentials (never on the command line, so they stay out of the process list):
  --api-key-file PATH      the x-api-key to accept; else $GATEWAY_API_KEY, else the file named by
                           $GATEWAY_API_KEY_FILE, else the demo key "sim-api-key"
  --hmac-secret-file PATH  the HMAC secret for x-payload-hash; else $GATEWAY_HMAC_SECRET, else the
                           file named by $GATEWAY_HMAC_SECRET_FILE, else "sim-hmac-secret"

Sessions:
  --seed N                 seed for tokens, outcomes and faults (default 1)
  --outcomes SPEC          eventual states, e.g. completed=0.6,expired=0.2,failed=0.1,new=0.1
                           (the default; fractions sum to at most 1, the remainder stays NEW).
                           A token's outcome is a stable hash of (seed, token).
  --new-for DUR            answer NEW until DUR after a session's creation (preloaded and
                           --accept-any-token sessions: after the simulator's start), then the
                           outcome (default 0)
  --preload N              know the N sessions sim-<seed>-0 .. sim-<seed>-<N-1> (no memory used)
  --preload-file PATH      write those sessions as CSV (token,user_id,outcome, with a header)
                           before listening
  --accept-any-token       every token is known (outcome still from the hash)

Latency and faults (fractions are per request, drawn from a generator seeded by --seed):
  --latency DUR            answer every gateway request after DUR (default 0)
  --latency-jitter DUR     plus a uniform extra in [0, DUR]
  --fault-500 F            answer 500
  --fault-503 F            answer 503 with Retry-After: 1
  --fault-timeout F        never answer; the connection is closed after --hold-limit or when the
                           client closes it
  --hold-limit DUR         how long a --fault-timeout request is held (default 30s)
  --fault-malformed F      answer 200 with broken JSON
  --fault-oversize F       answer 200 with a 2 MiB body
  --fault-unknown-state F  answer 200 with sessionState "PENDING" (GET only)
  --fail-first N           each token's first N GETs get 503 with Retry-After: 1
  --rate-limit N           at most N requests/s over all tokens: a token bucket with burst N,
                           full at start; refused requests get 429 with Retry-After: 1
  --force-status CODE      answer every gateway request with CODE (e.g. 401, 403, 500)

Statistics (GET /stats, POST /stats/reset; no key needed, not counted):
  --track-tokens           count GETs per token in /stats (at most 1,000,000 tokens)
  --exit-with-parent       stop (as on SIGTERM) when the process that started it dies, so a
                           crashed test or script never leaves a simulator behind (Linux)
  /stats has requests_total, responses_by_status, max_requests_per_second (most requests in
  any 1 s window, sliding in 100 ms steps), requests_last_second, in_flight, max_in_flight
  (delayed and held requests included), connections_total (connections that carried a gateway
  request), abandoned_total (held or delayed requests whose client left), sessions_created and
  faults; requests_by_token with --track-tokens.

Other:
  --verbose                log every request at debug level
  --help                   this text
  --version                the version

Durations: 500ms, 30s, 5m, 2h, 1d. Exit status: 0 after a clean stop, 2 for bad flags,
1 when the port cannot be bound.
)";
}

Result<SimCommand> parse_sim_command(const std::vector<std::string>& args, const EnvLookup& env) {
  SimCommand cmd;
  SimConfig& c = cmd.config;
  std::optional<std::string> api_key_file, hmac_secret_file;

  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::optional<std::string> inline_value;
    if (auto eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = flag.substr(eq + 1);
      flag.resize(eq);
    }
    if (flag == "--api-key" || flag == "--hmac-secret") {
      return Error::invalid(fmt::format(
          "{} is not accepted on the command line (it would show in the process list); use "
          "{}-file PATH or the {} environment variable",
          flag, flag, flag == "--api-key" ? "GATEWAY_API_KEY" : "GATEWAY_HMAC_SECRET"));
    }
    if (flag.empty() || flag[0] != '-') {
      // Not echoed: a stray word on the command line may well be a secret.
      return Error::invalid(fmt::format("unexpected argument #{} (options start with --)", i + 1));
    }
    std::string v;
    if (takes_value(flag)) {
      if (inline_value) {
        v = *inline_value;
      } else if (i + 1 < args.size()) {
        v = args[++i];
      } else {
        return Error::invalid(fmt::format("{} needs a value", flag));
      }
    } else if (inline_value) {
      return Error::invalid(fmt::format("{} takes no value", flag));
    }

    if (flag == "--help" || flag == "-h") {
      cmd.kind = SimCommand::Kind::kHelp;
      return cmd;
    } else if (flag == "--version") {
      cmd.kind = SimCommand::Kind::kVersion;
      return cmd;
    } else if (flag == "--listen") {
      if (v.empty()) return Error::invalid("--listen needs an address");
      c.listen = v;
    } else if (flag == "--port") {
      auto n = parse_uint(flag, v, 65535);
      if (!n) return n.error();
      c.port = static_cast<uint16_t>(*n);
    } else if (flag == "--threads") {
      auto n = parse_uint(flag, v, SimConfig::kMaxThreads);
      if (!n) return n.error();
      if (*n == 0) return Error::invalid("--threads must be at least 1");
      c.threads = static_cast<int>(*n);
    } else if (flag == "--seed") {
      auto n = parse_uint(flag, v, UINT64_MAX);
      if (!n) return n.error();
      c.seed = *n;
    } else if (flag == "--api-key-file") {
      api_key_file = v;
    } else if (flag == "--hmac-secret-file") {
      hmac_secret_file = v;
    } else if (flag == "--outcomes") {
      auto m = parse_outcome_mix(v);
      if (!m) return m.error();
      c.outcomes = *m;
    } else if (flag == "--new-for" || flag == "--latency" || flag == "--latency-jitter" ||
               flag == "--hold-limit") {
      auto d = parse_duration(v);
      if (!d) return Error::invalid(fmt::format("{}: {}", flag, d.error().message));
      if (flag == "--new-for") c.new_for = *d;
      if (flag == "--latency") c.latency = *d;
      if (flag == "--latency-jitter") c.latency_jitter = *d;
      if (flag == "--hold-limit") c.hold_limit = *d;
    } else if (flag == "--preload") {
      auto n = parse_uint(flag, v, 1'000'000'000'000ULL);
      if (!n) return n.error();
      c.preload = *n;
    } else if (flag == "--preload-file") {
      if (v.empty()) return Error::invalid("--preload-file needs a path");
      c.preload_file = v;
    } else if (flag == "--accept-any-token") {
      c.accept_any_token = true;
    } else if (flag == "--fault-500" || flag == "--fault-503" || flag == "--fault-timeout" ||
               flag == "--fault-malformed" || flag == "--fault-oversize" ||
               flag == "--fault-unknown-state") {
      auto f = parse_fraction(flag, v);
      if (!f) return f.error();
      if (flag == "--fault-500") c.faults.status_500 = *f;
      if (flag == "--fault-503") c.faults.status_503 = *f;
      if (flag == "--fault-timeout") c.faults.timeout = *f;
      if (flag == "--fault-malformed") c.faults.malformed = *f;
      if (flag == "--fault-oversize") c.faults.oversize = *f;
      if (flag == "--fault-unknown-state") c.faults.unknown_state = *f;
    } else if (flag == "--fail-first") {
      auto n = parse_uint(flag, v, 1'000'000);
      if (!n) return n.error();
      c.fail_first = static_cast<uint32_t>(*n);
    } else if (flag == "--rate-limit") {
      auto n = parse_uint(flag, v, 100'000'000);
      if (!n) return n.error();
      c.rate_limit = static_cast<uint32_t>(*n);
    } else if (flag == "--force-status") {
      auto n = parse_uint(flag, v, 599);
      if (!n) return n.error();
      if (*n < 100)
        return Error::invalid("--force-status needs an HTTP status between 100 and 599");
      c.force_status = static_cast<int>(*n);
    } else if (flag == "--track-tokens") {
      c.track_tokens = true;
    } else if (flag == "--exit-with-parent") {
      c.exit_with_parent = true;
    } else if (flag == "--verbose" || flag == "-v") {
      c.verbose = true;
    } else {
      return Error::invalid(fmt::format("unknown option \"{}\" (see --help)", flag));
    }
  }

  if (!c.preload_file.empty() && c.preload == 0) {
    return Error::invalid("--preload-file needs --preload N (the number of sessions to write)");
  }
  if (c.faults.sum() > 1.0 + 1e-9) {
    return Error::invalid(
        fmt::format("the --fault-* fractions sum to {}, more than 1", c.faults.sum()));
  }

  auto key =
      resolve_secret({"API key", "GATEWAY_API_KEY", "GATEWAY_API_KEY_FILE"}, api_key_file, env);
  if (!key) return key.error();
  auto secret = resolve_secret({"HMAC secret", "GATEWAY_HMAC_SECRET", "GATEWAY_HMAC_SECRET_FILE"},
                               hmac_secret_file, env);
  if (!secret) return secret.error();
  c.demo_credentials = !key->has_value() || !secret->has_value();
  if (*key) c.api_key = std::move(**key);
  if (*secret) c.hmac_secret = std::move(**secret);
  return cmd;
}

}  // namespace dr::sim
