#include "reconcile/pipeline.h"

#include <algorithm>

#include <fmt/format.h>

#include "common/log.h"
#include "gateway/endpoints.h"
#include "reconcile/attempt.h"
#include "reconcile/fleet_share.h"

namespace dr::reconcile {
namespace {

using namespace std::chrono_literals;
constexpr domain::Duration kTick = 100ms;
constexpr domain::Duration kProgressEvery = 100ms;
constexpr int64_t kUncheckedLogLines = 10;
// Write batches per claim (see maybe_claim).
constexpr int64_t kBatchesPerClaim = 2;

pacing::RetryOptions retry_options(const RunOptions& o) {
  pacing::RetryOptions r;
  r.max_attempts = o.max_attempts;
  return r;
}

pacing::RateControllerOptions rate_options(const RunOptions& o) {
  pacing::RateControllerOptions r;
  r.mode = o.auto_rate ? pacing::RateControllerOptions::Mode::kAuto
                       : pacing::RateControllerOptions::Mode::kFixed;
  r.rate = o.rate;
  r.max_rate = o.max_rate;
  r.start_known = o.auto_start_known;
  return r;
}

}  // namespace

Pipeline::Pipeline(const RunOptions& options, http::Transport& transport, StoreWorker& store,
                   const domain::Clock& clock, pacing::Random& random, Hooks hooks)
    : options_(options),
      transport_(transport),
      store_(store),
      clock_(clock),
      rate_(rate_options(options), clock),
      bucket_({.rate_per_second = rate_.rate(), .burst = options.burst}, clock),
      retry_(retry_options(options), random),
      hooks_(std::move(hooks)) {}

size_t Pipeline::effective_capacity() const {
  size_t cap = std::min(transport_.capacity(), static_cast<size_t>(options_.concurrency));
  if (!credentials_proven_) cap = std::min(cap, static_cast<size_t>(RunOptions::kProbeConcurrency));
  return cap;
}

void Pipeline::maybe_claim() {
  if (source_exhausted_ || store_.claim_outstanding()) return;
  // Keep a full batch queued ahead of the transfers, so the window never runs dry while the
  // store thread is busy writing a batch before it can claim the next one; do not outrun the
  // writer.
  size_t queued = ready_.size() + delayed_.size();
  size_t want_ahead = static_cast<size_t>(options_.batch_size + options_.concurrency);
  if (queued >= want_ahead) return;
  if (store_.backlog() >= static_cast<size_t>(options_.batch_size) * 4) return;
  // A claim takes two write batches: its statement, planning, advisory lock, expired-claims
  // delete, claims row and commit are paid once for both (bench/README.md, "Sixth session").
  // Its sessions are leased until the batch that answers the last of them; the heartbeat
  // extends that lease, and after a crash they come back once it has passed, as before.
  int64_t rows = static_cast<int64_t>(options_.batch_size) * kBatchesPerClaim;
  if (options_.limit) {
    int64_t left = *options_.limit - claimed_total_;
    if (left <= 0) {
      source_exhausted_ = true;
      return;
    }
    rows = std::min(rows, left);
  }
  store_.request_claim(static_cast<int>(rows));
}

void Pipeline::follow_rate() {
  auto now = clock_.now();
  if (claimed_total_ > 0) {
    // Work waiting for a token or a slot: the budget (or the concurrency) limits sending, so a
    // throttle now measures the gateway; without any, demand does (the controller's rule 5).
    rate_.on_backlog(!ready_.empty());
  }
  if (hooks_.fleet) {
    const FleetLink::View v = hooks_.fleet->view();
    rate_.set_ceiling(v.ceiling);
    stats_.share = v.ceiling;
    stats_.fleet_workers = v.workers;
    bucket_.set_burst(fleet_burst(options_.burst, v.workers));
    if (v.cut_seq != fleet_cut_seq_) {
      // Another worker was throttled: the budget is shared, so everyone slows.
      rate_.external_cut(v.cut_rate);
      fleet_cut_seq_ = v.cut_seq;
    }
  }
  bucket_.set_rate(rate_.rate());
  bucket_.pause_until(rate_.paused_until());
  stats_.current_rate = bucket_.rate();
  stats_.rate_cuts = rate_.cuts();
  if (auto l = rate_.measured_limit()) stats_.measured_limit = *l;
  if (rate_.cuts() != cuts_reported_) {
    cuts_reported_ = rate_.cuts();
    log::info("the gateway asked to slow down ({} so far): rate now {:.0f}/s{}", stats_.throttles,
              bucket_.rate(),
              rate_.throttle_cuts() != throttle_cuts_reported_
                  ? (stats_.measured_limit > 0
                         ? fmt::format(" (it accepted {:.0f}/s)", stats_.measured_limit)
                         : std::string())
                  : std::string(" (another worker of the fleet was throttled)"));
  }
  if (rate_.throttle_cuts() != throttle_cuts_reported_) {
    // Only this worker's own cuts are announced: one that follows another's is not echoed back.
    throttle_cuts_reported_ = rate_.throttle_cuts();
    if (hooks_.fleet) hooks_.fleet->report_cut(bucket_.rate());
  }
  if (hooks_.fleet && now - last_rate_report_ >= kProgressEvery) {
    last_rate_report_ = now;
    while (!recent_starts_.empty() && now - recent_starts_.front() >= 1s) recent_starts_.pop_front();
    std::optional<double> settled;
    if (options_.auto_rate) settled = rate_.found_rate();
    hooks_.fleet->report_rate(static_cast<double>(recent_starts_.size()), settled);
  }
}

void Pipeline::start_ready() {
  auto now = clock_.now();
  while (!delayed_.empty() && delayed_.front().due <= now) {
    std::pop_heap(delayed_.begin(), delayed_.end(), std::greater<>());
    ready_.push_front(std::move(delayed_.back().work));  // retries go first: they are older
    delayed_.pop_back();
  }
  size_t cap = effective_capacity();
  while (!ready_.empty() && transport_.in_flight() < cap && !auth_rejected_) {
    if (!bucket_.try_acquire()) break;
    Work w = std::move(ready_.front());
    ready_.pop_front();
    http::HttpRequest req;
    req.id = next_request_id_++;
    req.method = http::HttpRequest::Method::kGet;
    req.url = gateway::session_status_url(options_.gateway_url, w.session.token);
    ++w.attempt;
    w.sent_at = now;
    rate_.on_sent();
    ++stats_.requests;
    if (options_.rate > 0) {
      recent_starts_.push_back(now);
      while (now - recent_starts_.front() >= 1s) recent_starts_.pop_front();
      stats_.max_starts_per_second =
          std::max(stats_.max_starts_per_second, static_cast<int64_t>(recent_starts_.size()));
    }
    if (w.attempt > 1) ++stats_.retries;
    in_flight_.emplace(req.id, std::move(w));
    transport_.start(std::move(req));
  }
}

void Pipeline::finish_session(Work& work, AttemptReading& reading) {
  domain::CheckResult r;
  r.token = std::move(work.session.token);
  r.kind = reading.kind;
  r.gateway_state = reading.state;
  r.http_status = reading.http_status;
  r.attempts = work.attempt;
  r.error = std::move(reading.error);
  r.raw_answer = std::move(reading.raw_answer);
  r.checked_at = clock_.wall_now();
  ++stats_.answered;
  if (r.kind != domain::CheckKind::kState) {
    ++stats_.unchecked;
    if (r.kind == domain::CheckKind::kNotFound) ++stats_.not_found;
    // The first few are worth a line each; the rest are in the report, not the log.
    if (stats_.unchecked <= kUncheckedLogLines) {
      log::warn("session {} unchecked after {} attempt(s): {}{}", r.token,
                r.attempts, r.error,
                stats_.unchecked == kUncheckedLogLines ? " (further ones: see the report)" : "");
    } else {
      log::debug("session {} unchecked after {} attempt(s): {}", r.token, r.attempts, r.error);
    }
  }
  results_.push_back(std::move(r));
}

void Pipeline::handle(http::HttpResponse& response) {
  auto it = in_flight_.find(response.id);
  if (it == in_flight_.end()) return;  // cannot happen: every start is recorded
  Work work = std::move(it->second);
  in_flight_.erase(it);

  if (response.error == http::TransportError::kNone) {
    ++stats_.responses_by_status[static_cast<int>(response.status)];
  } else {
    ++stats_.transport_errors;
  }
  AttemptReading reading = read_attempt(response);
  if (reading.authenticated_answer) credentials_proven_ = true;
  auto decision =
      retry_.decide(http::classify(reading.for_policy, clock_.wall_now()), work.attempt);
  if (decision.throttled) ++stats_.throttles;
  if (response.error == http::TransportError::kNone) {
    // Any answer but a throttle counts as accepted: the limit is measured on them. A 429's
    // Retry-After holds every start; a 503's holds only the retry of its own request (the
    // gateway shedding load still cuts the rate).
    rate_.on_answer(work.sent_at, decision.throttled,
                    response.status == 429 ? decision.retry_after : std::nullopt);
  }
  switch (decision.verdict) {
    case pacing::RetryDecision::Verdict::kDone:
    case pacing::RetryDecision::Verdict::kFinal:
      if (decision.verdict == pacing::RetryDecision::Verdict::kFinal && reading.error.empty()) {
        reading.error = decision.reason;
      }
      finish_session(work, reading);
      break;
    case pacing::RetryDecision::Verdict::kRetry:
      log::debug("session {}: attempt {} failed ({}); retrying in {} ms", work.session.token,
                 work.attempt, reading.error,
                 std::chrono::duration_cast<std::chrono::milliseconds>(decision.delay).count());
      delayed_.push_back({clock_.now() + decision.delay, std::move(work)});
      std::push_heap(delayed_.begin(), delayed_.end(), std::greater<>());
      break;
    case pacing::RetryDecision::Verdict::kStopAll:
      if (!auth_rejected_) {
        auth_rejected_ = true;
        stats_.auth_error = reading.error;
        log::error("the gateway rejected the API key ({}): stopping at once", reading.error);
      }
      break;
  }
}

domain::Duration Pipeline::next_wait() const {
  domain::Duration wait = kTick;
  auto now = clock_.now();
  if (!delayed_.empty())
    wait = std::min(wait, std::max<domain::Duration>(delayed_.front().due - now, 0ns));
  if (!ready_.empty() && transport_.in_flight() < effective_capacity()) {
    wait = std::min(wait, bucket_.time_until_available());
  }
  return std::max<domain::Duration>(wait, 0ns);
}

void Pipeline::report_progress(bool force) {
  auto now = clock_.now();
  if (!force && now - last_progress_ < kProgressEvery) return;
  last_progress_ = now;
  stats_.claimed = claimed_total_;
  stats_.seconds = std::chrono::duration<double>(now - started_).count();
  if (hooks_.on_progress) hooks_.on_progress(stats_);
}

PipelineEnd Pipeline::run(const std::atomic<bool>& stop_requested) {
  started_ = clock_.now();
  std::vector<http::HttpResponse> done;
  PipelineEnd end = PipelineEnd::kCompleted;
  std::optional<domain::MonotonicTime> drain_deadline;

  for (;;) {
    if (store_.failure()) {
      end = PipelineEnd::kDatabaseLost;
      break;
    }
    if (auto batch = store_.take_claimed()) {
      if (batch->empty()) {
        source_exhausted_ = true;
      } else {
        claimed_total_ += static_cast<int64_t>(batch->size());
        for (auto& s : *batch) ready_.push_back(Work{std::move(s), 0});
      }
    }
    bool stopping = stop_requested.load() || auth_rejected_;
    if (stopping && !drain_deadline) {
      // Stop starting; give the requests in flight a grace period (none after a 401).
      drain_deadline = clock_.now() + (auth_rejected_ ? options_.timeout : options_.grace_period);
      if (!auth_rejected_) {
        log::info("stop requested: finishing {} request(s) in flight, at most {} s",
                  transport_.in_flight(),
                  std::chrono::duration_cast<std::chrono::seconds>(options_.grace_period).count());
      }
    }
    follow_rate();
    if (!stopping) {
      maybe_claim();
      start_ready();
    }
    if (!results_.empty()) {
      store_.submit(std::move(results_));
      results_.clear();
    }
    report_progress(false);

    bool idle = ready_.empty() && delayed_.empty() && in_flight_.empty();
    if (!stopping && idle && source_exhausted_ && !store_.claim_outstanding()) break;
    if (stopping && (in_flight_.empty() || clock_.now() >= *drain_deadline)) {
      end = auth_rejected_ ? PipelineEnd::kAuthRejected : PipelineEnd::kInterrupted;
      break;
    }

    done.clear();
    transport_.poll(next_wait(), done);
    for (auto& r : done) handle(r);
  }
  if (!results_.empty()) {
    store_.submit(std::move(results_));
    results_.clear();
  }
  if (!in_flight_.empty()) {
    log::warn(
        "{} request(s) still in flight were abandoned; their sessions stay NEW and the next "
        "run checks them",
        in_flight_.size());
  }
  report_progress(true);
  return end;
}

}  // namespace dr::reconcile
