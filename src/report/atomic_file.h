#pragma once

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/result.h"

namespace dr::report {

// A file that appears at its final path complete or not at all. Bytes go to a hidden temporary
// file in the same directory (".<name>.tmp-XXXXXX", so globs such as *.prom or *.csv never see
// it); commit() flushes, fsyncs, renames it over the final path and fsyncs the directory. If the
// owner is destroyed without a successful commit(), the temporary file is removed and the final
// path is left as it was.
//
// Writes are buffered (bounded by Options::buffer_bytes). The first failure sticks: later writes
// and commit() return the same Error, which names the path and the system's reason.
// Move-only; not thread-safe.
class AtomicFile {
 public:
  struct Options {
    static constexpr mode_t kDefaultMode = 0640;
    static constexpr size_t kDefaultBufferBytes = 64 * 1024;
    mode_t mode = kDefaultMode;  // applied with fchmod, so the umask does not narrow it
    size_t buffer_bytes = kDefaultBufferBytes;
  };

  static Result<AtomicFile> create(const std::filesystem::path& final_path, Options options);
  static Result<AtomicFile> create(const std::filesystem::path& final_path) {
    return create(final_path, Options{});
  }

  AtomicFile(AtomicFile&& other) noexcept;
  AtomicFile& operator=(AtomicFile&& other) noexcept;
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;
  ~AtomicFile();

  Status write(std::string_view data);
  // Publishes the file. After success the object holds nothing; calling it twice is an Error.
  Status commit();

  const std::filesystem::path& final_path() const { return final_path_; }
  const std::filesystem::path& temp_path() const { return temp_path_; }

 private:
  AtomicFile(int fd, std::filesystem::path final_path, std::filesystem::path temp_path,
             size_t buffer_bytes);
  Status flush();
  Status fail(std::string_view what, int err);
  void discard();

  int fd_ = -1;
  std::filesystem::path final_path_;
  std::filesystem::path temp_path_;
  std::string buffer_;
  size_t buffer_bytes_ = Options::kDefaultBufferBytes;
  bool failed_ = false;
  Error error_;
};

// Fsyncs a directory so a rename inside it survives a crash.
Status fsync_directory(const std::filesystem::path& dir);

}  // namespace dr::report
