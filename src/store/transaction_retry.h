#pragma once

#include <exception>
#include <memory>
#include <string>
#include <string_view>

#include "common/log.h"
#include "common/result.h"
#include "domain/clock.h"
#include "pacing/random.h"
#include "pacing/retry_policy.h"
#include "store/pg_error.h"

namespace dr::store {

// Runs a unit of work again after a serialization failure or deadlock, as the program's one
// retry policy (pacing::RetryPolicy) says: at most `attempts` tries in all, a full-jitter
// Backoff wait before each retry (5 ms doubling up to 100 ms by default), slept on the injected
// clock. Any other failure is not retried. libpqxx exceptions end here as Errors
// (translate_pg_exception); the last one is returned.
// Not thread-safe (one per connection, like the stores).
class TransactionRetry {
 public:
  struct Options {
    static constexpr int kDefaultAttempts = 4;
    static constexpr auto kDefaultBaseDelay = std::chrono::milliseconds(5);
    static constexpr auto kDefaultMaxDelay = std::chrono::milliseconds(100);

    int attempts = kDefaultAttempts;  // the first included, >= 1
    domain::Duration base_delay = kDefaultBaseDelay;
    domain::Duration max_delay = kDefaultMaxDelay;
  };

  // `clock` and `random` must outlive this object.
  TransactionRetry(Options options, domain::Clock& clock, pacing::Random& random);
  // The system clock and a randomly seeded jitter.
  explicit TransactionRetry(Options options);

  // Calls `attempt` (which begins, runs and commits one transaction, returning Result<T>) until
  // it returns, or throws something not worth another try, or the attempts are used up.
  // `context` starts every error message; `conninfo`'s password never appears in one.
  template <typename T, typename Attempt>
  Result<T> run(std::string_view context, const std::string& conninfo, Attempt&& attempt) {
    for (int n = 1;; ++n) {
      try {
        return attempt();
      } catch (...) {
        PgFailure failure = translate_pg_exception(std::current_exception(), context, conninfo);
        const pacing::RetryDecision d = policy_.decide(
            {failure.retryable ? pacing::Outcome::kTransient : pacing::Outcome::kFinal,
             failure.error.message},
            n);
        if (d.verdict != pacing::RetryDecision::kRetry) return failure.error;
        log::debug("{}; trying the transaction again ({}/{})", failure.error.message, n + 1,
                   policy_.options().max_attempts);
        clock_.sleep_for(d.delay);
      }
    }
  }

 private:
  static pacing::RetryOptions policy_options(const Options& o);

  std::unique_ptr<pacing::Random> own_random_;  // for the system-clock constructor
  domain::Clock& clock_;
  pacing::RetryPolicy policy_;
};

}  // namespace dr::store
