#include "sim/preload_file.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace dr::sim {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

Status write_preload_file(const std::string& path, uint64_t seed, uint64_t count,
                          const OutcomeMix& mix) {
  std::string tmp = path + ".tmp";
  std::unique_ptr<std::FILE, FileCloser> f(std::fopen(tmp.c_str(), "wb"));
  if (!f) return Error::io(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
  fmt::memory_buffer buf;
  fmt::format_to(std::back_inserter(buf), "token,user_id,outcome\n");
  for (uint64_t i = 0; i < count; ++i) {
    std::string token = preload_token(seed, i);
    fmt::format_to(std::back_inserter(buf), "{},user-{},{}\n", token, i,
                   domain::to_string(outcome_for(token, seed, mix)));
    if (buf.size() >= (1 << 20) || i + 1 == count) {
      if (std::fwrite(buf.data(), 1, buf.size(), f.get()) != buf.size()) {
        return Error::io(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
      }
      buf.clear();
    }
  }
  if (std::fflush(f.get()) != 0 || fsync(fileno(f.get())) != 0) {
    return Error::io(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
  }
  if (std::fclose(f.release()) != 0) {
    return Error::io(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return Error::io(fmt::format("cannot rename {} to {}: {}", tmp, path, std::strerror(errno)));
  }
  return ok_status();
}

}  // namespace dr::sim
