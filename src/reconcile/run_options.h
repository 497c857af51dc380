#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "domain/clock.h"

namespace dr::reconcile {

using namespace std::chrono_literals;

// Everything `run` was asked to do. Defaults are deliberately gentle on the gateway: a merchant
// who has not measured their budget should not be the one to find it.
struct RunOptions {
  static constexpr double kDefaultRate = 10;  // requests/s, retries included
  static constexpr double kDefaultBurst = 10;
  // --rate auto starts here and never goes above --max-rate.
  static constexpr double kDefaultAutoStart = 20;
  static constexpr double kDefaultMaxRate = 1000;
  static constexpr int kDefaultConcurrency = 8;
  static constexpr domain::Duration kDefaultTimeout = 6s;  // the gateway's sample client uses 6 s
  static constexpr domain::Duration kDefaultConnectTimeout = 3s;
  static constexpr int kDefaultMaxAttempts = 5;
  static constexpr int kDefaultBatchSize = 500;
  static constexpr domain::Duration kDefaultMinAge = 15min;
  static constexpr domain::Duration kDefaultLease = 5min;
  static constexpr domain::Duration kDefaultStaleAfter = 48h;
  static constexpr domain::Duration kDefaultGracePeriod = 10s;
  // Until the first answer that proves the credentials work, at most this many requests fly:
  // a wrong key costs a handful of 401s, not `concurrency` of them.
  static constexpr int kProbeConcurrency = 2;
  // --verify-notifications: the longest window accepted (a year).
  static constexpr domain::Duration kMaxVerifyWindow = 366 * 24h;

  std::string gateway_url;
  std::string api_key;  // secret: never logged

  double rate = kDefaultRate;  // 0 = unlimited; with auto_rate: where auto starts
  // --rate auto: find the gateway's budget, never above max_rate.
  bool auto_rate = false;
  double max_rate = kDefaultMaxRate;
  // With auto_rate: `rate` is what an earlier run found (the fleet budget remembered it), so
  // auto starts there instead of doubling from kDefaultAutoStart.
  bool auto_start_known = false;
  // --no-shared-budget: pace alone instead of sharing the gateway's budget with every other run
  // against the same URL and key on this database.
  bool no_shared_budget = false;
  double burst = kDefaultBurst;
  int concurrency = kDefaultConcurrency;
  domain::Duration timeout = kDefaultTimeout;
  domain::Duration connect_timeout = kDefaultConnectTimeout;
  int max_attempts = kDefaultMaxAttempts;
  int batch_size = kDefaultBatchSize;
  domain::Duration min_age = kDefaultMinAge;
  domain::Duration stale_after = kDefaultStaleAfter;
  std::optional<std::string> created_after;   // ISO-8601, inclusive
  std::optional<std::string> created_before;  // ISO-8601, exclusive
  std::optional<std::string> not_checked_since;  // ISO-8601; default: the run's start
  std::optional<int64_t> limit;
  bool dry_run = false;
  bool all = false;  // ignore the re-check schedule
  // --verify-notifications DUR: also verify the terminal states that notifications wrote within
  // the last DUR and nobody verified yet, after the NEW sessions (unset: no verification).
  std::optional<domain::Duration> verify_notifications;
  std::string worker_id;
  domain::Duration lease = kDefaultLease;
  domain::Duration grace_period = kDefaultGracePeriod;
};

}  // namespace dr::reconcile
