#include "store/transaction_retry.h"

#include <algorithm>

namespace dr::store {
pacing::RetryOptions TransactionRetry::policy_options(const Options& o) {
  pacing::RetryOptions r;
  r.max_attempts = std::max(1, o.attempts);
  r.base_delay = o.base_delay;
  r.max_delay = o.max_delay;
  return r;
}

TransactionRetry::TransactionRetry(Options options, domain::Clock& clock, pacing::Random& random)
    : clock_(clock), policy_(policy_options(options), random) {}

TransactionRetry::TransactionRetry(Options options)
    : own_random_(std::make_unique<pacing::SystemRandom>()),
      clock_(domain::system_clock()),
      policy_(policy_options(options), *own_random_) {}

}  // namespace dr::store
