// The store's transaction retry (store/transaction_retry.h) without a database: the attempts
// throw what libpqxx throws, and the waits are read off a fake clock.

#include <gtest/gtest.h>

#include <pqxx/except>

#include "domain/clock.h"
#include "pacing/random.h"
#include "store/transaction_retry.h"
#include "support/fixed_random.h"

namespace dr::store {
namespace {

using namespace std::chrono_literals;

using test::FixedRandom;

struct Fixture {
  domain::FakeClock clock;
  FixedRandom random{0.5};
  TransactionRetry retry{{}, clock, random};
  const domain::MonotonicTime t0 = clock.now();
  int calls = 0;
};

TEST(TransactionRetryTest, SerializationFailuresAndDeadlocksAreTriedAgainAfterTheBackoff) {
  Fixture f;
  auto r = f.retry.run<int>("cannot store", "", [&]() -> Result<int> {
    ++f.calls;
    if (f.calls == 1) throw pqxx::serialization_failure("could not serialize access");
    if (f.calls == 2) throw pqxx::deadlock_detected("deadlock detected");
    return 7;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 7);
  EXPECT_EQ(f.calls, 3);
  // Full jitter at 0.5: half of the 5 ms and 10 ms caps.
  EXPECT_EQ(f.clock.now() - f.t0, 2500us + 5ms);
}

TEST(TransactionRetryTest, GivesUpAfterTheLastAttemptWithTheLastError) {
  Fixture f;
  auto r = f.retry.run<int>("cannot store", "", [&]() -> Result<int> {
    ++f.calls;
    throw pqxx::serialization_failure("could not serialize access, try " + std::to_string(f.calls));
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(r.error().message, "cannot store: could not serialize access, try 4");
  EXPECT_EQ(f.calls, TransactionRetry::Options::kDefaultAttempts);
  EXPECT_EQ(f.clock.now() - f.t0, 2500us + 5ms + 10ms);  // three waits, none after the last
}

TEST(TransactionRetryTest, OtherFailuresAreNotTriedAgain) {
  Fixture f;
  auto r = f.retry.run<int>("cannot store", "", [&]() -> Result<int> {
    ++f.calls;
    throw pqxx::broken_connection("server closed the connection unexpectedly");
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);  // the caller reconnects
  EXPECT_EQ(f.calls, 1);
  EXPECT_EQ(f.clock.now(), f.t0);
}

TEST(TransactionRetryTest, AnErrorValueIsReturnedAsItIs) {
  Fixture f;
  auto r = f.retry.run<int>("cannot store", "", [&]() -> Result<int> {
    ++f.calls;
    return Error::invalid("a date PostgreSQL cannot read");
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(f.calls, 1);
}

}  // namespace
}  // namespace dr::store
