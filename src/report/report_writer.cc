#include "report/report_writer.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <functional>
#include <map>
#include <optional>
#include <system_error>
#include <utility>

#include "common/log.h"
#include "report/atomic_file.h"
#include "report/renderer.h"

namespace dr::report {
namespace {

std::string errno_text(int err) { return std::error_code(err, std::generic_category()).message(); }

constexpr mode_t kDirMode = 0750;

}  // namespace

Status prepare_report_dir(const std::filesystem::path& dir) {
  if (dir.empty()) return Error::invalid("report directory: the path is empty");
  const std::string shown = dir.string();

  // Create missing components one by one, so each new one gets kDirMode (less the umask).
  std::filesystem::path prefix;
  for (const auto& part : dir) {
    prefix /= part;
    if (::mkdir(prefix.c_str(), kDirMode) != 0 && errno != EEXIST) {
      const int err = errno;
      struct stat st {};
      if (::stat(prefix.c_str(), &st) == 0) continue;  // e.g. EACCES on an existing parent
      return Error::invalid(fmt::format("report directory {}: cannot create {}: {}", shown,
                                        prefix.string(), errno_text(err)));
    }
  }

  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    const int err = errno;
    return Error::invalid(fmt::format("report directory {}: {}", shown, errno_text(err)));
  }
  if (!S_ISDIR(st.st_mode)) {
    return Error::invalid(fmt::format("report directory {}: {}", shown, errno_text(ENOTDIR)));
  }

  // access(2) is not enough: root passes it on a read-only mount point such as /sys. Creating a
  // file is the question we actually need answered.
  std::string probe = (dir / ".deposit-reconciler-probe-XXXXXX").string();
  const int fd = ::mkostemp(probe.data(), O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return Error::invalid(
        fmt::format("report directory {} is not writable: {}", shown, errno_text(err)));
  }
  ::close(fd);
  ::unlink(probe.c_str());
  return ok_status();
}

struct ReportWriter::Impl {
  struct Output {
    std::unique_ptr<ReportRenderer> renderer;
    AtomicFile file;
  };

  Status write_all(const std::function<void(ReportRenderer&, std::string&)>& render) {
    for (Output& o : outputs) {
      scratch.clear();
      render(*o.renderer, scratch);
      if (auto s = o.file.write(scratch); !s) {
        error = s.error();
        return s;
      }
    }
    return ok_status();
  }

  RunFacts facts;
  std::vector<Output> outputs;
  std::string scratch;  // one rendered row (or head) at a time
  std::map<std::string, int64_t> rows_by_category;
  int64_t rows = 0;
  bool finished = false;
  std::optional<Error> error;
};

ReportWriter::ReportWriter(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ReportWriter::ReportWriter(ReportWriter&&) noexcept = default;
ReportWriter& ReportWriter::operator=(ReportWriter&&) noexcept = default;
ReportWriter::~ReportWriter() = default;

Result<ReportWriter> ReportWriter::open(const std::filesystem::path& dir, RunFacts facts,
                                        const std::set<ReportFormat>& formats) {
  auto impl = std::make_unique<Impl>();
  impl->facts = std::move(facts);
  impl->facts.full_list_file.clear();
  for (ReportFormat f : {ReportFormat::kCsv, ReportFormat::kJson}) {
    if (formats.count(f) != 0 && impl->facts.full_list_file.empty()) {
      impl->facts.full_list_file = report_file_name(impl->facts.run_id, f);
    }
  }
  for (ReportFormat f : formats) {
    auto file = AtomicFile::create(dir / report_file_name(impl->facts.run_id, f));
    if (!file) return file.error();
    impl->outputs.push_back({make_renderer(f), std::move(file).value()});
  }
  const RunFacts& fr = impl->facts;
  if (auto s = impl->write_all([&fr](ReportRenderer& r, std::string& out) { r.begin(fr, out); });
      !s) {
    return s.error();
  }
  return ReportWriter(std::move(impl));
}

Status ReportWriter::add(const FindingRow& row) {
  if (!impl_) return Error::internal("report writer used after move");
  if (impl_->error) return *impl_->error;
  if (impl_->finished) return Error::internal("report row added after finish()");
  ++impl_->rows;
  // Open findings of earlier runs (--include-open) are not part of this run's counts.
  if (row.run_id == impl_->facts.run_id) ++impl_->rows_by_category[row.category];
  return impl_->write_all([&row](ReportRenderer& r, std::string& out) { r.row(row, out); });
}

Result<std::vector<std::string>> ReportWriter::finish() {
  if (!impl_) return Error::internal("report writer used after move");
  if (impl_->error) return *impl_->error;
  if (impl_->finished) return Error::internal("report finish() called twice");
  impl_->finished = true;
  if (auto s = impl_->write_all([](ReportRenderer& r, std::string& out) { r.end(out); }); !s) {
    return s.error();
  }
  std::vector<std::string> paths;
  for (auto& o : impl_->outputs) {
    std::string path = o.file.final_path().string();
    if (auto s = o.file.commit(); !s) {
      impl_->error = s.error();
      return s.error();
    }
    paths.push_back(std::move(path));
  }

  for (std::string_view category : kCategories) {
    const std::string key(category);
    const int64_t expected = domain::category_count(impl_->facts.counts, key).value_or(0);
    auto it = impl_->rows_by_category.find(key);
    const int64_t got = it == impl_->rows_by_category.end() ? 0 : it->second;
    if (got != expected) {
      log::warn("report of run {}: category {} counted {} but listed {} rows", impl_->facts.run_id,
                key, expected, got);
    }
  }
  return paths;
}

int64_t ReportWriter::rows_added() const { return impl_ ? impl_->rows : 0; }

}  // namespace dr::report
