#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/duration.h"  // durations are parsed with dr::parse_duration
#include "common/result.h"
#include "domain/clock.h"
#include "sim/outcomes.h"
#include "sim/rate.h"

namespace dr::sim {

// Fractions of gateway requests (after the key check) answered with an injected fault instead of
// the real answer, drawn per request from a seeded generator. Their sum is at most 1.
struct FaultMix {
  double status_500 = 0;     // 500 {"errorCode":"errorInternal",...}
  double status_503 = 0;     // 503 with Retry-After: 1
  double timeout = 0;        // held unanswered until the client gives up (or hold_limit passes)
  double malformed = 0;      // 200 with a truncated JSON body
  double oversize = 0;       // 200 with a 2 MiB body
  double unknown_state = 0;  // 200 with sessionState "PENDING" (GET only)

  double sum() const {
    return status_500 + status_503 + timeout + malformed + oversize + unknown_state;
  }
};

// Everything deposit-gateway-sim can be told. Defaults are what `deposit-gateway-sim` with no
// flags does.
struct SimConfig {
  static constexpr std::string_view kDefaultListen = "127.0.0.1";
  static constexpr uint16_t kDefaultPort = 8080;
  static constexpr int kDefaultThreads = 1;
  static constexpr int kMaxThreads = 64;
  static constexpr std::string_view kDemoApiKey = "sim-api-key";
  static constexpr std::string_view kDemoHmacSecret = "sim-hmac-secret";
  static constexpr domain::Duration kDefaultHoldLimit = std::chrono::seconds(30);

  std::string listen{kDefaultListen};
  uint16_t port = kDefaultPort;
  int threads = kDefaultThreads;
  uint64_t seed = 1;
  std::string api_key{kDemoApiKey};          // never logged
  std::string hmac_secret{kDemoHmacSecret};  // never logged
  bool demo_credentials = true;              // true when either one is the built-in default

  OutcomeMix outcomes;
  // Answer NEW for this long after a session's creation (preloaded ones: the simulator's start),
  // then the seeded outcome. 0: preloaded sessions answer their outcome at once, and sessions
  // made by POST stay NEW until their checkout page moves them.
  domain::Duration new_for{0};
  uint64_t preload = 0;         // sessions sim-<seed>-<i>, i < preload
  std::string preload_file;     // CSV token,user_id,outcome written at start when set
  bool accept_any_token = false;

  domain::Duration latency{0};
  domain::Duration latency_jitter{0};  // uniform extra in [0, jitter]
  FaultMix faults;
  domain::Duration hold_limit = kDefaultHoldLimit;  // a held (--fault-timeout) request is closed
  uint32_t fail_first = 0;                          // each token's first N GETs are answered 503
  std::optional<RateSchedule> rate_limit;  // per API key; none = no limit
  int force_status = 0;  // 0 = off; otherwise every gateway request gets this status
  bool track_tokens = false;
  bool exit_with_parent = false;  // PR_SET_PDEATHSIG(SIGTERM)
  bool verbose = false;
};

// What the command line asked for: run with a configuration, or print help or the version.
struct SimCommand {
  enum class Kind { kRun, kHelp, kVersion };
  Kind kind = Kind::kRun;
  SimConfig config;
};

// Reads the environment; injectable for tests.
using EnvLookup = std::function<std::optional<std::string>(const char* name)>;
std::optional<std::string> process_env(const char* name);

// Parses the arguments after argv[0]. Both "--flag value" and "--flag=value" work. The API key and
// HMAC secret come from --api-key-file/--hmac-secret-file, else
// GATEWAY_API_KEY/GATEWAY_HMAC_SECRET, else GATEWAY_API_KEY_FILE/GATEWAY_HMAC_SECRET_FILE, else the
// demo defaults; they are refused on the command line so they never show in the process list.
// Errors name the flag and never contain a secret.
Result<SimCommand> parse_sim_command(const std::vector<std::string>& args,
                                     const EnvLookup& env = process_env);

// The --help text.
std::string sim_usage();

}  // namespace dr::sim
