#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "report/atomic_file.h"
#include "support/temp_dir.h"

namespace dr::report {
namespace {

namespace fs = std::filesystem;
using test::names_in;
using test::slurp;
using test::TempDir;

mode_t mode_of(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0);
  return st.st_mode & 07777;
}

TEST(AtomicFile, CommitPublishesContentWithMode0640) {
  TempDir dir;
  const auto target = dir.path() / "out.csv";
  const mode_t old_umask = ::umask(077);  // the mode must not depend on the umask
  auto f = AtomicFile::create(target);
  ::umask(old_umask);
  ASSERT_TRUE(f.ok()) << f.error().message;
  EXPECT_EQ(f->temp_path().parent_path(), dir.path());
  EXPECT_EQ(f->temp_path().filename().string().rfind(".out.csv.tmp-", 0), 0u);
  ASSERT_TRUE(f->write("hello ").ok());
  ASSERT_TRUE(f->write("world").ok());
  EXPECT_FALSE(fs::exists(target));  // nothing visible before commit
  ASSERT_TRUE(f->commit().ok());
  EXPECT_EQ(slurp(target), "hello world");
  EXPECT_EQ(mode_of(target), 0640u);
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"out.csv"});
  EXPECT_FALSE(f->commit().ok());
  EXPECT_FALSE(f->write("x").ok());
}

TEST(AtomicFile, DestroyedWithoutCommitLeavesNothingAndKeepsTheOldFile) {
  TempDir dir;
  const auto target = dir.path() / "out.json";
  std::ofstream(target) << "old";
  {
    auto f = AtomicFile::create(target);
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(f->write(std::string(200000, 'x')).ok());  // past the buffer: bytes on disk
    EXPECT_TRUE(fs::exists(f->temp_path()));
  }
  EXPECT_EQ(names_in(dir.path()), std::vector<std::string>{"out.json"});
  EXPECT_EQ(slurp(target), "old");
}

TEST(AtomicFile, CommitReplacesAnExistingFile) {
  TempDir dir;
  const auto target = dir.path() / "m.prom";
  std::ofstream(target) << "old";
  AtomicFile::Options o;
  o.mode = 0644;
  o.buffer_bytes = 3;  // forces a write(2) every few bytes
  auto f = AtomicFile::create(target, o);
  ASSERT_TRUE(f.ok());
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(f->write("ab").ok());
  ASSERT_TRUE(f->commit().ok());
  std::string expected;
  for (int i = 0; i < 100; ++i) expected += "ab";
  EXPECT_EQ(slurp(target), expected);
  EXPECT_EQ(mode_of(target), 0644u);
}

TEST(AtomicFile, MovedFromOwnerDoesNotRemoveTheFile) {
  TempDir dir;
  auto f = AtomicFile::create(dir.path() / "a");
  ASSERT_TRUE(f.ok());
  AtomicFile moved = std::move(f).value();
  ASSERT_TRUE(moved.write("x").ok());
  ASSERT_TRUE(moved.commit().ok());
  EXPECT_EQ(slurp(dir.path() / "a"), "x");
}

TEST(AtomicFile, UncreatableDirectoryIsAnIoErrorNamingIt) {
  auto f = AtomicFile::create("/nonexistent-dr-dir/x/out.csv");
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.error().code, ErrorCode::kIo);
  EXPECT_NE(f.error().message.find("/nonexistent-dr-dir/x"), std::string::npos);
  EXPECT_NE(f.error().message.find("No such file or directory"), std::string::npos);
}

// A write that fails half way (here: the file size limit, as a full disk would) sticks, removes
// the temporary file and never publishes a truncated file.
TEST(AtomicFile, WriteFailureSticksAndPublishesNothing) {
  TempDir dir;
  const auto target = dir.path() / "big.csv";
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit old_limit{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  rlimit small = old_limit;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);

  AtomicFile::Options o;
  o.buffer_bytes = 1024;
  auto f = AtomicFile::create(target, o);
  Status first = ok_status();
  for (int i = 0; i < 10 && first.ok(); ++i) first = f->write(std::string(1024, 'x'));
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);

  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.error().code, ErrorCode::kIo);
  EXPECT_NE(first.error().message.find("big.csv"), std::string::npos);
  EXPECT_NE(first.error().message.find("File too large"), std::string::npos);
  Status again = f->commit();
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().message, first.error().message);
  EXPECT_TRUE(names_in(dir.path()).empty());
}

}  // namespace
}  // namespace dr::report
