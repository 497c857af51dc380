#include "report/atomic_file.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <utility>
#include <vector>

namespace dr::report {
namespace {

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

std::filesystem::path parent_or_dot(const std::filesystem::path& p) {
  auto parent = p.parent_path();
  return parent.empty() ? std::filesystem::path(".") : parent;
}

}  // namespace

Status fsync_directory(const std::filesystem::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return Error::io(fmt::format("opening directory {}: {}", dir.string(), errno_text(err)));
  }
  int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  // Some file systems cannot fsync a directory (EINVAL); the rename is as durable as they allow.
  if (rc != 0 && err != EINVAL) {
    return Error::io(fmt::format("syncing directory {}: {}", dir.string(), errno_text(err)));
  }
  return ok_status();
}

Result<AtomicFile> AtomicFile::create(const std::filesystem::path& final_path, Options options) {
  const auto dir = parent_or_dot(final_path);
  std::string templ = (dir / ("." + final_path.filename().string() + ".tmp-XXXXXX")).string();
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  const int fd = ::mkostemp(buf.data(), O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return Error::io(fmt::format("creating a file in {}: {}", dir.string(), errno_text(err)));
  }
  std::filesystem::path temp_path(buf.data());
  if (::fchmod(fd, options.mode) != 0) {
    const int err = errno;
    ::close(fd);
    ::unlink(temp_path.c_str());
    return Error::io(
        fmt::format("setting the mode of {}: {}", temp_path.string(), errno_text(err)));
  }
  return AtomicFile(fd, final_path, std::move(temp_path),
                    options.buffer_bytes == 0 ? 1 : options.buffer_bytes);
}

AtomicFile::AtomicFile(int fd, std::filesystem::path final_path, std::filesystem::path temp_path,
                       size_t buffer_bytes)
    : fd_(fd),
      final_path_(std::move(final_path)),
      temp_path_(std::move(temp_path)),
      buffer_bytes_(buffer_bytes) {
  buffer_.reserve(buffer_bytes_);
}

AtomicFile::AtomicFile(AtomicFile&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      final_path_(std::move(other.final_path_)),
      temp_path_(std::move(other.temp_path_)),
      buffer_(std::move(other.buffer_)),
      buffer_bytes_(other.buffer_bytes_),
      failed_(other.failed_),
      error_(std::move(other.error_)) {
  other.temp_path_.clear();
}

AtomicFile& AtomicFile::operator=(AtomicFile&& other) noexcept {
  if (this != &other) {
    discard();
    fd_ = std::exchange(other.fd_, -1);
    final_path_ = std::move(other.final_path_);
    temp_path_ = std::move(other.temp_path_);
    other.temp_path_.clear();
    buffer_ = std::move(other.buffer_);
    buffer_bytes_ = other.buffer_bytes_;
    failed_ = other.failed_;
    error_ = std::move(other.error_);
  }
  return *this;
}

AtomicFile::~AtomicFile() { discard(); }

void AtomicFile::discard() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!temp_path_.empty()) {
    ::unlink(temp_path_.c_str());
    temp_path_.clear();
  }
  buffer_.clear();
}

Status AtomicFile::fail(std::string_view what, int err) {
  failed_ = true;
  error_ = Error::io(fmt::format("{} {}: {}", what, final_path_.string(), errno_text(err)));
  discard();
  return error_;
}

Status AtomicFile::write(std::string_view data) {
  if (failed_) return error_;
  if (fd_ < 0) return Error::internal(fmt::format("{} is already committed", final_path_.string()));
  buffer_.append(data);
  if (buffer_.size() >= buffer_bytes_) return flush();
  return ok_status();
}

Status AtomicFile::flush() {
  const char* p = buffer_.data();
  size_t left = buffer_.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("writing", errno);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  buffer_.clear();
  return ok_status();
}

Status AtomicFile::commit() {
  if (failed_) return error_;
  if (fd_ < 0) return Error::internal(fmt::format("{} is already committed", final_path_.string()));
  if (auto s = flush(); !s) return s;
  if (::fsync(fd_) != 0) return fail("syncing", errno);
  const int fd = std::exchange(fd_, -1);
  if (::close(fd) != 0) return fail("closing", errno);
  if (::rename(temp_path_.c_str(), final_path_.c_str()) != 0) return fail("renaming into", errno);
  temp_path_.clear();
  return fsync_directory(parent_or_dot(final_path_));
}

}  // namespace dr::report
