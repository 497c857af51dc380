#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <set>

#include "sim/outcomes.h"

namespace dr::sim {
namespace {

using domain::SessionState;

std::array<int, 4> count_states(uint64_t seed, const OutcomeMix& mix, int n) {
  std::array<int, 4> counts{};
  for (int i = 0; i < n; ++i)
    ++counts[static_cast<int>(outcome_for(preload_token(seed, i), seed, mix))];
  return counts;
}

TEST(SimOutcomes, HashIsPinnedSoOtherToolsCanRelyOnIt) {
  // Changing the hash changes every answer the simulator gives; these values catch that.
  EXPECT_EQ(token_hash("sim-1-42", 1), token_hash("sim-1-42", 1));
  EXPECT_NE(token_hash("sim-1-42", 1), token_hash("sim-1-42", 2));
  EXPECT_NE(token_hash("sim-1-42", 1), token_hash("sim-1-43", 1));
  // Pinned; a Python reimplementation of the algorithm (FNV-1a 64 seeded with splitmix64(seed),
  // then the splitmix64 finalizer) gives the same numbers.
  EXPECT_EQ(token_hash("", 0), 0x5b21f68ffa77f14cULL);
  EXPECT_EQ(token_hash("sim-1-42", 1), 0x5bda7cf6ebc8266bULL);
  OutcomeMix mix;
  const SessionState expected[] = {SessionState::kCompleted, SessionState::kCompleted,
                                   SessionState::kExpired,   SessionState::kCompleted,
                                   SessionState::kCompleted, SessionState::kFailed};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(outcome_for(preload_token(1, i), 1, mix), expected[i]) << i;
}

TEST(SimOutcomes, SameTokenAndSeedGiveTheSameState) {
  OutcomeMix mix;
  for (int i = 0; i < 1000; ++i) {
    std::string t = preload_token(9, i);
    EXPECT_EQ(outcome_for(t, 9, mix), outcome_for(t, 9, mix));
  }
}

TEST(SimOutcomes, MixFractionsHoldOver100kTokens) {
  OutcomeMix mix{0.6, 0.2, 0.1};
  constexpr int kN = 100'000;
  auto c = count_states(1, mix, kN);
  // Binomial standard deviation at p=0.6 is ~0.0015; 0.01 is over 6 of them.
  EXPECT_NEAR(c[static_cast<int>(SessionState::kCompleted)] / double(kN), 0.6, 0.01);
  EXPECT_NEAR(c[static_cast<int>(SessionState::kExpired)] / double(kN), 0.2, 0.01);
  EXPECT_NEAR(c[static_cast<int>(SessionState::kFailed)] / double(kN), 0.1, 0.01);
  EXPECT_NEAR(c[static_cast<int>(SessionState::kNew)] / double(kN), 0.1, 0.01);
}

TEST(SimOutcomes, OtherMixAndSeedAlsoHold) {
  OutcomeMix mix{0.05, 0.0, 0.5};
  constexpr int kN = 100'000;
  auto c = count_states(12345, mix, kN);
  EXPECT_NEAR(c[static_cast<int>(SessionState::kCompleted)] / double(kN), 0.05, 0.005);
  EXPECT_EQ(c[static_cast<int>(SessionState::kExpired)], 0);
  EXPECT_NEAR(c[static_cast<int>(SessionState::kFailed)] / double(kN), 0.5, 0.01);
  EXPECT_NEAR(c[static_cast<int>(SessionState::kNew)] / double(kN), 0.45, 0.01);
}

TEST(SimOutcomes, ExtremeMixes) {
  auto all_completed = count_states(1, OutcomeMix{1, 0, 0}, 1000);
  EXPECT_EQ(all_completed[static_cast<int>(SessionState::kCompleted)], 1000);
  auto all_new = count_states(1, OutcomeMix{0, 0, 0}, 1000);
  EXPECT_EQ(all_new[static_cast<int>(SessionState::kNew)], 1000);
}

TEST(SimOutcomes, SeedChangesWhichTokensGetWhichState) {
  OutcomeMix mix;
  int differ = 0;
  for (int i = 0; i < 1000; ++i) {
    std::string t = "token-" + std::to_string(i);
    differ += outcome_for(t, 1, mix) != outcome_for(t, 2, mix);
  }
  // Two independent draws from 0.6/0.2/0.1/0.1 differ with probability 0.58.
  EXPECT_GT(differ, 450);
  EXPECT_LT(differ, 700);
}

TEST(SimOutcomes, ParseMix) {
  auto m = parse_outcome_mix("completed=0.6,expired=0.2,failed=0.1,new=0.1");
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_DOUBLE_EQ(m->completed, 0.6);
  EXPECT_DOUBLE_EQ(m->expired, 0.2);
  EXPECT_DOUBLE_EQ(m->failed, 0.1);

  auto partial = parse_outcome_mix(" completed = 0.25 ");
  ASSERT_TRUE(partial.ok()) << partial.error().message;
  EXPECT_DOUBLE_EQ(partial->completed, 0.25);
  EXPECT_DOUBLE_EQ(partial->expired, 0);
  EXPECT_DOUBLE_EQ(partial->failed, 0);
}

TEST(SimOutcomes, ParseMixErrorsNameTheProblem) {
  auto over = parse_outcome_mix("completed=0.7,expired=0.4");
  ASSERT_FALSE(over.ok());
  EXPECT_NE(over.error().message.find("more than 1"), std::string::npos);
  auto unknown = parse_outcome_mix("done=0.5");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("done"), std::string::npos);
  EXPECT_FALSE(parse_outcome_mix("completed=abc").ok());
  EXPECT_FALSE(parse_outcome_mix("completed=1.5").ok());
  EXPECT_FALSE(parse_outcome_mix("completed=-0.1").ok());
  EXPECT_FALSE(parse_outcome_mix("completed").ok());
  EXPECT_FALSE(parse_outcome_mix("failed=0.1,failed=0.1").ok());
  EXPECT_FALSE(parse_outcome_mix("new=0.9,completed=0.2").ok());
}

TEST(SimPreload, RecognisesExactlyTheFirstNTokens) {
  constexpr uint64_t kCount = 1'000'000;
  EXPECT_EQ(preload_index("sim-1-0", 1, kCount), 0u);
  EXPECT_EQ(preload_index("sim-1-42", 1, kCount), 42u);
  EXPECT_EQ(preload_index("sim-1-999999", 1, kCount), 999'999u);
  EXPECT_EQ(preload_index("sim-1-1000000", 1, kCount), std::nullopt);
  EXPECT_EQ(preload_index("sim-1-5", 1, 0), std::nullopt);
  EXPECT_EQ(preload_index("sim-7-5", 7, 10), 5u);
  EXPECT_EQ(preload_index("sim-7-5", 1, 10), std::nullopt);  // another seed's token
}

TEST(SimPreload, RejectsNearMisses) {
  for (const char* t :
       {"sim-1-", "sim-1-01", "sim-1-00", "sim-1--5", "sim-1-+5", "sim-1-5x", "sim-1-5 ",
        " sim-1-5", "SIM-1-5", "sim-11-5", "sim-1-5/", "sim-1", "sim-1-99999999999999999999999"}) {
    EXPECT_EQ(preload_index(t, 1, 1'000'000), std::nullopt) << t;
  }
}

TEST(SimPreload, RoundTripsAMillionTokens) {
  constexpr uint64_t kCount = 1'000'000;
  uint64_t recognised = 0;
  for (uint64_t i = 0; i < kCount; i += 7)
    recognised += preload_index(preload_token(3, i), 3, kCount) == i;
  EXPECT_EQ(recognised, (kCount + 6) / 7);
  EXPECT_EQ(preload_user_id(17), "user-17");
}

TEST(SimCreatedToken, DeterministicDistinctAndHex) {
  EXPECT_EQ(created_token(1, 0), created_token(1, 0));
  EXPECT_NE(created_token(1, 0), created_token(2, 0));
  std::set<std::string> seen;
  for (uint64_t i = 0; i < 10'000; ++i) {
    std::string t = created_token(1, i);
    ASSERT_EQ(t.size(), 32u);
    for (char c : t) ASSERT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << t;
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 10'000u);
}

}  // namespace
}  // namespace dr::sim
