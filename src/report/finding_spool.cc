#include "report/finding_spool.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <numeric>
#include <queue>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace dr::report {
namespace {

// The encoding of one finding: a 4-byte length, then the body. The body starts with the sort
// key (rank, creation time, token) so that comparing two findings reads no other field.
//   u8 rank | i64 created_at ticks | u32 n | token | u8 category | i64 run_id | str user_id |
//   str user_name | opt-str surname | opt-str email | u8 previous_state | u8 gateway_state
//   (kNone: none) | opt-i64 checked_at | i32 attempts | opt-str error | opt-i64 followed_up_at |
//   opt-str followed_up_by
// where str = u32 length + bytes, opt-x = u8 present + x. Native byte order: the file never
// leaves the process.
constexpr uint8_t kNone = 0xFF;

template <typename T>
void put(std::string& out, T v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}
void put_str(std::string& out, std::string_view s) {
  put(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}
void put_opt_str(std::string& out, const std::optional<std::string>& s) {
  put(out, static_cast<uint8_t>(s ? 1 : 0));
  if (s) put_str(out, *s);
}
int64_t ticks(domain::WallTime t) { return t.time_since_epoch().count(); }
domain::WallTime from_ticks(int64_t n) {
  return domain::WallTime(domain::WallTime::duration(n));
}
void put_opt_time(std::string& out, const std::optional<domain::WallTime>& t) {
  put(out, static_cast<uint8_t>(t ? 1 : 0));
  if (t) put(out, ticks(*t));
}

void encode(const domain::FindingRecord& f, std::string& out) {
  const size_t start = out.size();
  put(out, uint32_t{0});  // the body's length, filled in below
  put(out, static_cast<uint8_t>(domain::report_rank(f.category)));
  put(out, ticks(f.created_at));
  put_str(out, f.session_token);
  put(out, static_cast<uint8_t>(f.category));
  put(out, f.run_id);
  put_str(out, f.user_id);
  put_str(out, f.user_name);
  put_opt_str(out, f.user_name_surname);
  put_opt_str(out, f.user_email);
  put(out, static_cast<uint8_t>(f.previous_state));
  put(out, f.gateway_state ? static_cast<uint8_t>(*f.gateway_state) : kNone);
  put_opt_time(out, f.checked_at);
  put(out, static_cast<int32_t>(f.attempts));
  put_opt_str(out, f.error);
  put_opt_time(out, f.followed_up_at);
  put_opt_str(out, f.followed_up_by);
  const auto body = static_cast<uint32_t>(out.size() - start - sizeof(uint32_t));
  std::memcpy(out.data() + start, &body, sizeof body);
}

class BodyReader {
 public:
  explicit BodyReader(std::string_view body) : p_(body.data()) {}
  template <typename T>
  T get() {
    T v;
    std::memcpy(&v, p_, sizeof v);
    p_ += sizeof v;
    return v;
  }
  void get_str(std::string& s) {
    const auto n = get<uint32_t>();
    s.assign(p_, n);
    p_ += n;
  }
  void get_opt_str(std::optional<std::string>& s) {
    if (get<uint8_t>() == 0) {
      s.reset();
      return;
    }
    if (!s) s.emplace();
    get_str(*s);
  }
  void get_opt_time(std::optional<domain::WallTime>& t) {
    if (get<uint8_t>() == 0) {
      t.reset();
      return;
    }
    t = from_ticks(get<int64_t>());
  }

 private:
  const char* p_;
};

// Fills `f` (its strings keep their buffers from one finding to the next).
void decode(std::string_view body, domain::FindingRecord& f) {
  BodyReader r(body);
  (void)r.get<uint8_t>();  // rank
  f.created_at = from_ticks(r.get<int64_t>());
  r.get_str(f.session_token);
  f.category = static_cast<domain::FindingCategory>(r.get<uint8_t>());
  f.run_id = r.get<int64_t>();
  r.get_str(f.user_id);
  r.get_str(f.user_name);
  r.get_opt_str(f.user_name_surname);
  r.get_opt_str(f.user_email);
  f.previous_state = static_cast<domain::SessionState>(r.get<uint8_t>());
  const auto gateway = r.get<uint8_t>();
  if (gateway == kNone) {
    f.gateway_state.reset();
  } else {
    f.gateway_state = static_cast<domain::SessionState>(gateway);
  }
  r.get_opt_time(f.checked_at);
  f.attempts = r.get<int32_t>();
  r.get_opt_str(f.error);
  r.get_opt_time(f.followed_up_at);
  r.get_opt_str(f.followed_up_by);
}

// A body's sort key, read in place.
struct Key {
  uint8_t rank;
  int64_t created;
  std::string_view token;
};

Key key_of(std::string_view body) {
  Key k{};
  const char* p = body.data();
  std::memcpy(&k.rank, p, 1);
  std::memcpy(&k.created, p + 1, 8);
  uint32_t n = 0;
  std::memcpy(&n, p + 9, 4);
  k.token = std::string_view(p + 13, n);
  return k;
}

// domain::report_order_less on encoded findings.
bool key_less(const Key& a, const Key& b) {
  if (a.rank != b.rank) return a.rank < b.rank;
  if (a.created != b.created) return a.created < b.created;
  return a.token < b.token;  // std::string_view compares bytes as unsigned char, then length
}

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

// A sorted run in the temporary file: [begin, end).
struct RunExtent {
  off_t begin = 0;
  off_t end = 0;
};

// Reads the bodies of one run, in order, through a buffer.
class RunReader {
 public:
  RunReader(int fd, RunExtent extent, size_t buffer_bytes)
      : fd_(fd), next_(extent.begin), end_(extent.end) {
    buf_.resize(std::max<size_t>(buffer_bytes, 64));
  }

  // The next body, valid until the following call; nullopt at the run's end.
  Result<std::optional<std::string_view>> next() {
    pos_ += pending_;
    pending_ = 0;
    if (auto s = fill(sizeof(uint32_t)); !s) return s.error();
    if (have() == 0) return std::optional<std::string_view>();
    if (have() < sizeof(uint32_t)) return Error::internal("finding spool: a run ends mid-record");
    uint32_t n = 0;
    std::memcpy(&n, buf_.data() + pos_, sizeof n);
    if (auto s = fill(sizeof n + n); !s) return s.error();
    if (have() < sizeof n + n) return Error::internal("finding spool: a run ends mid-record");
    pending_ = sizeof n + n;
    return std::optional<std::string_view>(std::string_view(buf_.data() + pos_ + sizeof n, n));
  }

 private:
  size_t have() const { return len_ - pos_; }

  // Makes at least `want` bytes available from pos_ (fewer only at the run's end).
  Status fill(size_t want) {
    if (have() >= want) return ok_status();
    std::memmove(buf_.data(), buf_.data() + pos_, have());
    len_ = have();
    pos_ = 0;
    if (buf_.size() < want) buf_.resize(want);
    while (len_ < want && next_ < end_) {
      const size_t room =
          std::min<size_t>(buf_.size() - len_, static_cast<size_t>(end_ - next_));
      const ssize_t got = ::pread(fd_, buf_.data() + len_, room, next_);
      if (got < 0) {
        if (errno == EINTR) continue;
        return Error::internal(fmt::format("finding spool: cannot read: {}", errno_text(errno)));
      }
      if (got == 0) return Error::internal("finding spool: the temporary file is short");
      len_ += static_cast<size_t>(got);
      next_ += got;
    }
    return ok_status();
  }

  int fd_;
  off_t next_;  // the file offset of the next byte to read
  off_t end_;
  std::string buf_;
  size_t pos_ = 0;      // start of the current body's length in buf_
  size_t len_ = 0;      // bytes in buf_
  size_t pending_ = 0;  // the record last returned, skipped on the next call
};

}  // namespace

struct FindingSpool::Impl {
  Options options;
  std::string buffer;  // encoded findings not yet spilled
  // Offsets of the bodies in `buffer` (past their length), in the order added.
  std::vector<size_t> bodies;
  int fd = -1;
  off_t file_end = 0;
  std::vector<RunExtent> runs;
  int64_t added = 0;
  int64_t runs_written = 0;
  int64_t bytes_written = 0;
  bool consumed = false;
  std::optional<Error> error;

  ~Impl() {
    if (fd >= 0) ::close(fd);
  }

  std::string_view body_at(size_t offset) const {
    uint32_t n = 0;
    std::memcpy(&n, buffer.data() + offset - sizeof n, sizeof n);
    return {buffer.data() + offset, n};
  }

  // The buffer's bodies in report order.
  std::vector<size_t> sorted_bodies() const {
    std::vector<size_t> order = bodies;
    std::sort(order.begin(), order.end(), [this](size_t a, size_t b) {
      return key_less(key_of(body_at(a)), key_of(body_at(b)));
    });
    return order;
  }

  Status open_file() {
    if (fd >= 0) return ok_status();
    const std::filesystem::path dir = options.dir.empty() ? std::filesystem::path(".") : options.dir;
    // No name: nothing to clean up, whatever ends the process.
    fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) return ok_status();
    std::string path = (dir / ".deposit-reconciler-spool-XXXXXX").string();
    fd = ::mkostemp(path.data(), O_CLOEXEC);
    if (fd < 0) {
      return Error::internal(fmt::format("finding spool: cannot create a temporary file in {}: {}",
                                         dir.string(), errno_text(errno)));
    }
    ::unlink(path.c_str());
    return ok_status();
  }

  Status write_at_end(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::pwrite(fd, bytes.data(), bytes.size(), file_end);
      if (n < 0) {
        if (errno == EINTR) continue;
        return Error::internal(fmt::format("finding spool: cannot write the temporary file: {}",
                                           errno_text(errno)));
      }
      file_end += n;
      bytes_written += n;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return ok_status();
  }

  // Writes the buffer as one sorted run and empties it.
  Status spill() {
    if (bodies.empty()) return ok_status();
    if (auto s = open_file(); !s) return s;
    const off_t begin = file_end;
    std::string out;
    out.reserve(std::min(buffer.size(), options.read_bytes) + 64);
    for (size_t offset : sorted_bodies()) {
      const std::string_view body = body_at(offset);
      out.append(buffer.data() + offset - sizeof(uint32_t), sizeof(uint32_t) + body.size());
      if (out.size() >= options.read_bytes) {
        if (auto s = write_at_end(out); !s) return s;
        out.clear();
      }
    }
    if (auto s = write_at_end(out); !s) return s;
    runs.push_back({begin, file_end});
    ++runs_written;
    buffer.clear();
    bodies.clear();
    return ok_status();
  }

  // Merges `sources` (file runs, plus the buffer's sorted bodies when `with_buffer`) and hands
  // each body, in order, to `emit`.
  Status merge(const std::vector<RunExtent>& sources, bool with_buffer,
               const std::function<Status(std::string_view)>& emit) {
    std::vector<RunReader> readers;
    readers.reserve(sources.size());
    for (const RunExtent& e : sources) readers.emplace_back(fd, e, options.read_bytes);
    std::vector<size_t> memory;
    size_t memory_next = 0;
    if (with_buffer) memory = sorted_bodies();
    // Source i < readers.size() is a file run; readers.size() is the buffer.
    const size_t mem_source = readers.size();
    std::vector<std::string_view> current(readers.size() + 1);
    auto advance = [&](size_t i) -> Result<bool> {
      if (i == mem_source) {
        if (memory_next >= memory.size()) return false;
        current[i] = body_at(memory[memory_next++]);
        return true;
      }
      auto b = readers[i].next();
      if (!b) return b.error();
      if (!b->has_value()) return false;
      current[i] = **b;
      return true;
    };
    auto greater = [&](size_t a, size_t b) {
      return key_less(key_of(current[b]), key_of(current[a]));
    };
    std::priority_queue<size_t, std::vector<size_t>, decltype(greater)> heap(greater);
    for (size_t i = 0; i <= mem_source; ++i) {
      if (i == mem_source && !with_buffer) break;
      auto more = advance(i);
      if (!more) return more.error();
      if (*more) heap.push(i);
    }
    while (!heap.empty()) {
      const size_t i = heap.top();
      heap.pop();
      if (auto s = emit(current[i]); !s) return s;
      auto more = advance(i);
      if (!more) return more.error();
      if (*more) heap.push(i);
    }
    return ok_status();
  }

  // Merges runs in passes until at most fan_in - 1 are left (the buffer is the last source).
  Status reduce_runs() {
    const size_t fan_in = std::max<size_t>(options.fan_in, 2);
    while (runs.size() > fan_in - 1) {
      std::vector<RunExtent> next;
      for (size_t i = 0; i < runs.size(); i += fan_in) {
        std::vector<RunExtent> group(runs.begin() + static_cast<long>(i),
                                     runs.begin() + static_cast<long>(std::min(i + fan_in, runs.size())));
        if (group.size() == 1) {
          next.push_back(group[0]);
          continue;
        }
        const off_t begin = file_end;
        std::string out;
        auto s = merge(group, false, [&](std::string_view body) -> Status {
          put(out, static_cast<uint32_t>(body.size()));
          out.append(body);
          if (out.size() >= options.read_bytes) {
            if (auto w = write_at_end(out); !w) return w;
            out.clear();
          }
          return ok_status();
        });
        if (!s) return s;
        if (auto w = write_at_end(out); !w) return w;
        next.push_back({begin, file_end});
        ++runs_written;
      }
      runs = std::move(next);
    }
    return ok_status();
  }
};

FindingSpool::FindingSpool(Options options) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
}
FindingSpool::FindingSpool(FindingSpool&&) noexcept = default;
FindingSpool& FindingSpool::operator=(FindingSpool&&) noexcept = default;
FindingSpool::~FindingSpool() = default;

Status FindingSpool::add(const domain::FindingRecord& f) {
  Impl& m = *impl_;
  if (m.error) return *m.error;
  if (m.consumed) return Error::internal("finding spool: add() after for_each_sorted()");
  // The buffer is taken at its full size once: grown by doubling it would hold up to twice that.
  if (m.buffer.capacity() < m.options.run_bytes) m.buffer.reserve(m.options.run_bytes + (16 << 10));
  const size_t start = m.buffer.size();
  encode(f, m.buffer);
  ++m.added;
  m.bodies.push_back(start + sizeof(uint32_t));  // the body starts past its length
  if (m.buffer.size() >= m.options.run_bytes) {
    if (auto s = m.spill(); !s) {
      m.error = s.error();
      return s;
    }
  }
  return ok_status();
}

Status FindingSpool::for_each_sorted(
    const std::function<Status(const domain::FindingRecord&)>& fn) {
  Impl& m = *impl_;
  if (m.error) return *m.error;
  if (m.consumed) return Error::internal("finding spool: for_each_sorted() called twice");
  m.consumed = true;
  if (auto s = m.reduce_runs(); !s) {
    m.error = s.error();
    return s;
  }
  domain::FindingRecord f;
  auto s = m.merge(m.runs, true, [&](std::string_view body) -> Status {
    decode(body, f);
    return fn(f);
  });
  if (!s) m.error = s.error();
  return s;
}

int64_t FindingSpool::size() const { return impl_->added; }
int64_t FindingSpool::sorted_runs() const { return impl_->runs_written; }
int64_t FindingSpool::spilled_bytes() const { return impl_->bytes_written; }

}  // namespace dr::report
