#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>

#include "common/result.h"
#include "domain/finding.h"

namespace dr::report {

// The default memory for findings before a spill, in KiB (`run --report-buffer-kib`).
inline constexpr size_t kDefaultReportBufferKib = 1024;

// The findings of a run, collected as its batches are applied and given back in the report's
// order (domain::report_order_less) once, at the end: an external sort with bounded memory.
//
//   FindingSpool spool({.dir = report_dir});
//   spool.add(finding);                  // any order, any number
//   spool.for_each_sorted(fn);           // once: every finding, in report order
//
// Findings are kept encoded in a buffer of at most `run_bytes`; a full buffer is sorted and
// written to a temporary file as one sorted run. for_each_sorted() merges the runs (at most
// `fan_in` at a time, each read through a buffer of `read_bytes`; more runs are merged in passes
// first) with the buffer's own sorted findings. Memory: about run_bytes + fan_in * read_bytes
// plus one finding per run being merged, whatever the number of findings. Nothing spilled: no
// file at all.
//
// The temporary file has no name: it is opened with O_TMPFILE in `dir` (or created there and
// unlinked at once where the file system has no O_TMPFILE), so nothing is left behind on any
// exit — an error, an exception, a crash, kill -9. Its space is freed when the spool is
// destroyed or the process ends.
//
// An I/O error (disk full) is returned and sticks: the spool is then unusable. Move-only; not
// thread-safe (one thread adds, possibly another reads after it, with the hand-over
// synchronized by the caller).
class FindingSpool {
 public:
  struct Options {
    static constexpr size_t kDefaultRunBytes = kDefaultReportBufferKib << 10;
    static constexpr size_t kDefaultFanIn = 32;
    static constexpr size_t kDefaultReadBytes = 16 << 10;
    // Where the temporary file goes (the report directory: already checked writable).
    std::filesystem::path dir;
    size_t run_bytes = kDefaultRunBytes;  // encoded findings kept in memory before a spill
    size_t fan_in = kDefaultFanIn;        // sorted runs merged at a time (at least 2)
    size_t read_bytes = kDefaultReadBytes;
  };

  explicit FindingSpool(Options options);
  FindingSpool(FindingSpool&&) noexcept;
  FindingSpool& operator=(FindingSpool&&) noexcept;
  FindingSpool(const FindingSpool&) = delete;
  FindingSpool& operator=(const FindingSpool&) = delete;
  ~FindingSpool();

  Status add(const domain::FindingRecord& f);

  // Calls `fn` for every finding added, in report order; stops at the first error `fn` returns
  // and returns it. Once per spool (kInternal after that).
  Status for_each_sorted(const std::function<Status(const domain::FindingRecord&)>& fn);

  int64_t size() const;           // findings added
  int64_t sorted_runs() const;    // runs written to the temporary file so far (merge passes too)
  int64_t spilled_bytes() const;  // bytes written to it

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dr::report
