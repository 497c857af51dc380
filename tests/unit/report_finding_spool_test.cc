// report::FindingSpool: the run's findings in report order through sorted runs and a k-way merge,
// memory bounded by its knobs, no file left behind.
#include "report/finding_spool.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace dr::report {
namespace {

using domain::FindingCategory;
using domain::FindingRecord;

class FindingSpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("dr-spool-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  FindingSpool::Options options(size_t run_bytes, size_t fan_in = 32) const {
    return {.dir = dir_, .run_bytes = run_bytes, .fan_in = fan_in, .read_bytes = 256};
  }

  // Entries of the directory, whatever their name (a spool file would be one).
  std::vector<std::string> dir_entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      out.push_back(e.path().filename().string());
    }
    return out;
  }

  // Open descriptors of this process that point into dir_ (an O_TMPFILE shows as
  // "<dir>/#<inode> (deleted)"): the spool's file while it lives.
  int open_files_in_dir() const {
    int n = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
      std::error_code ec;
      const auto target = std::filesystem::read_symlink(e.path(), ec);
      if (!ec && target.string().rfind(dir_.string() + "/", 0) == 0) ++n;
    }
    return n;
  }

  std::filesystem::path dir_;
};

FindingRecord finding(FindingCategory c, int64_t created_us, std::string token) {
  FindingRecord f;
  f.run_id = 7;
  f.category = c;
  f.session_token = std::move(token);
  f.created_at = domain::WallTime(std::chrono::microseconds(created_us));
  f.user_id = "user-" + f.session_token;
  f.user_name = "Name \"quoted\", with\\backslash {braces} NULL";
  return f;
}

// Every field survives the file: what comes out is what went in.
void expect_same(const FindingRecord& a, const FindingRecord& b) {
  EXPECT_EQ(a.run_id, b.run_id);
  EXPECT_EQ(a.category, b.category);
  EXPECT_EQ(a.session_token, b.session_token);
  EXPECT_EQ(a.user_id, b.user_id);
  EXPECT_EQ(a.user_name, b.user_name);
  EXPECT_EQ(a.user_name_surname, b.user_name_surname);
  EXPECT_EQ(a.user_email, b.user_email);
  EXPECT_EQ(a.previous_state, b.previous_state);
  EXPECT_EQ(a.gateway_state, b.gateway_state);
  EXPECT_EQ(a.created_at, b.created_at);
  EXPECT_EQ(a.checked_at, b.checked_at);
  EXPECT_EQ(a.attempts, b.attempts);
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.followed_up_at, b.followed_up_at);
  EXPECT_EQ(a.followed_up_by, b.followed_up_by);
}

std::vector<FindingRecord> drain(FindingSpool& spool) {
  std::vector<FindingRecord> out;
  auto s = spool.for_each_sorted([&](const FindingRecord& f) -> Status {
    out.push_back(f);
    return ok_status();
  });
  EXPECT_TRUE(s.ok()) << (s ? "" : s.error().message);
  return out;
}

TEST_F(FindingSpoolTest, EmptyGivesNothingAndWritesNoFile) {
  FindingSpool spool(options(1024));
  EXPECT_TRUE(drain(spool).empty());
  EXPECT_EQ(spool.sorted_runs(), 0);
  EXPECT_EQ(open_files_in_dir(), 0);
  EXPECT_TRUE(dir_entries().empty());
}

TEST_F(FindingSpoolTest, ReportOrderIsRankThenCreationThenTokenBytes) {
  FindingSpool spool(options(1 << 20));
  // Added out of order; ties in creation time are broken by the token's bytes (a prefix first,
  // upper case before lower case, bytes above 0x7F after ASCII).
  const std::vector<FindingRecord> in = {
      finding(FindingCategory::kStale, 1, "a"),
      finding(FindingCategory::kExpired, 5, "b"),
      finding(FindingCategory::kExpired, 5, "ab"),
      finding(FindingCategory::kExpired, 5, "a"),
      finding(FindingCategory::kExpired, 5, "B"),
      finding(FindingCategory::kExpired, 5, "\xC3\xA9"),
      finding(FindingCategory::kExpired, 4, "z"),
      finding(FindingCategory::kAnomaly, 9, "q"),
      finding(FindingCategory::kBackfilledCompleted, 0, "c"),
      finding(FindingCategory::kFailed, 0, "d"),
      finding(FindingCategory::kUnchecked, -3, "e"),  // before the epoch
  };
  for (const auto& f : in) ASSERT_TRUE(spool.add(f).ok());
  const auto out = drain(spool);
  std::vector<std::string> tokens;
  for (const auto& f : out) tokens.push_back(f.session_token);
  EXPECT_EQ(tokens, (std::vector<std::string>{"q", "z", "B", "a", "ab", "b", "\xC3\xA9", "d", "c",
                                              "e", "a"}));
  EXPECT_EQ(out.front().category, FindingCategory::kAnomaly);
  EXPECT_EQ(out.back().category, FindingCategory::kStale);
  EXPECT_EQ(spool.sorted_runs(), 0);  // fitted in memory
}

TEST_F(FindingSpoolTest, EveryFieldSurvivesSpilling) {
  FindingSpool spool(options(64));  // a spill after every finding or two
  FindingRecord full = finding(FindingCategory::kUnchecked, 42, "tok-full");
  full.user_name_surname = "";  // empty, not NULL
  full.user_email = "e@example.com";
  full.previous_state = domain::SessionState::kCompleted;
  full.gateway_state = domain::SessionState::kExpired;
  full.checked_at = domain::WallTime(std::chrono::microseconds(1'700'000'000'123'456));
  full.attempts = 6;
  full.error = std::string("HTTP 500\0with a NUL", 19);
  full.followed_up_at = domain::WallTime(std::chrono::microseconds(99));
  full.followed_up_by = "ops";
  FindingRecord bare = finding(FindingCategory::kUnchecked, 41, "tok-bare");
  bare.user_id.clear();
  bare.user_name.clear();
  ASSERT_TRUE(spool.add(full).ok());
  ASSERT_TRUE(spool.add(bare).ok());
  ASSERT_TRUE(spool.add(finding(FindingCategory::kUnchecked, 43, "tok-last")).ok());
  const auto out = drain(spool);
  ASSERT_EQ(out.size(), 3u);
  expect_same(out[0], bare);
  expect_same(out[1], full);
  EXPECT_GE(spool.sorted_runs(), 2);
}

// Many findings through a small buffer: several sorted runs, merged in passes when there are
// more than fan_in of them; the output is what sorting everything in memory gives, ties and all.
TEST_F(FindingSpoolTest, SeveralSortedRunsMergeToTheFullSort) {
  for (size_t fan_in : {size_t{2}, size_t{3}, size_t{32}}) {
    SCOPED_TRACE(fan_in);
    FindingSpool spool(options(2048, fan_in));
    std::mt19937_64 random(fan_in);
    std::vector<FindingRecord> in;
    const FindingCategory categories[] = {
        FindingCategory::kExpired,   FindingCategory::kFailed, FindingCategory::kBackfilledCompleted,
        FindingCategory::kUnchecked, FindingCategory::kStale,  FindingCategory::kAnomaly};
    for (int i = 0; i < 3000; ++i) {
      // Few distinct creation times: most order is decided by the token.
      in.push_back(finding(categories[random() % 6], static_cast<int64_t>(random() % 5),
                           "t" + std::to_string(random() % 100000) + "-" + std::to_string(i)));
    }
    for (const auto& f : in) ASSERT_TRUE(spool.add(f).ok());
    EXPECT_GT(spool.sorted_runs(), static_cast<int64_t>(fan_in));  // spilled, several runs
    const auto out = drain(spool);
    std::vector<FindingRecord> expected = in;
    std::sort(expected.begin(), expected.end(), domain::report_order_less);
    ASSERT_EQ(out.size(), expected.size());
    for (size_t i = 0; i < out.size(); ++i) {
      ASSERT_EQ(out[i].session_token, expected[i].session_token) << i;
      ASSERT_EQ(out[i].category, expected[i].category) << i;
    }
    EXPECT_TRUE(dir_entries().empty());  // the file never had a name
  }
}

// Memory: what the spool holds stays about its buffer, however many findings go through.
TEST_F(FindingSpoolTest, MemoryIsBoundedByTheBuffer) {
  FindingSpool spool(options(4096));
  for (int i = 0; i < 20000; ++i) {
    ASSERT_TRUE(spool.add(finding(FindingCategory::kExpired, 20000 - i, "tok-" + std::to_string(i)))
                    .ok());
  }
  // 20,000 findings of about 90 bytes: about 1.8 MB spilled, runs of at most 4 KiB.
  EXPECT_GT(spool.spilled_bytes(), 1'000'000);
  EXPECT_GE(spool.sorted_runs(), 20000 * 80 / 4096);
  EXPECT_EQ(open_files_in_dir(), 1);  // the spool's file, open, nameless
  EXPECT_TRUE(dir_entries().empty());
  int64_t n = 0;
  int64_t last = -1;
  ASSERT_TRUE(spool
                  .for_each_sorted([&](const FindingRecord& f) -> Status {
                    const int64_t us =
                        std::chrono::duration_cast<std::chrono::microseconds>(
                            f.created_at.time_since_epoch())
                            .count();
                    EXPECT_GT(us, last);
                    last = us;
                    ++n;
                    return ok_status();
                  })
                  .ok());
  EXPECT_EQ(n, 20000);
}

TEST_F(FindingSpoolTest, TheFileGoesWithTheSpoolAndAnErrorStopsTheMerge) {
  {
    FindingSpool spool(options(256));
    for (int i = 0; i < 100; ++i) {
      ASSERT_TRUE(spool.add(finding(FindingCategory::kFailed, i, "t" + std::to_string(i))).ok());
    }
    EXPECT_EQ(open_files_in_dir(), 1);
    int seen = 0;
    auto s = spool.for_each_sorted([&](const FindingRecord&) -> Status {
      return ++seen == 10 ? Status(Error::internal("disk full")) : ok_status();
    });
    ASSERT_FALSE(s.ok());
    EXPECT_EQ(s.error().message, "disk full");
    EXPECT_EQ(seen, 10);
    // Once only.
    EXPECT_FALSE(spool.for_each_sorted([](const FindingRecord&) { return ok_status(); }).ok());
  }
  EXPECT_EQ(open_files_in_dir(), 0);
  EXPECT_TRUE(dir_entries().empty());
}

TEST_F(FindingSpoolTest, AnUnwritableDirectoryIsAnErrorThatSticks) {
  FindingSpool spool(
      {.dir = dir_ / "missing", .run_bytes = 64, .fan_in = 4, .read_bytes = 64});
  Status s = ok_status();
  for (int i = 0; i < 10 && s.ok(); ++i) {
    s = spool.add(finding(FindingCategory::kFailed, i, "t" + std::to_string(i)));
  }
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().message.find("missing"), std::string::npos) << s.error().message;
  EXPECT_FALSE(spool.add(finding(FindingCategory::kFailed, 1, "x")).ok());
  EXPECT_FALSE(spool.for_each_sorted([](const FindingRecord&) { return ok_status(); }).ok());
}

}  // namespace
}  // namespace dr::report
