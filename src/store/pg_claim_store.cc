// domain::ClaimStore on PostgreSQL through libpqxx 6.4. Every libpqxx exception stops here and
// becomes an Error (pg_error.h).

#include "store/pg_claim_store.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/result>
#include <pqxx/transaction>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "store/pg_session.h"
#include "store/pg_values.h"
#include "store/statements.h"

namespace dr::store {
namespace {

// A raw gateway answer is kept for the audit trail; a proxy's multi-megabyte error page is not.
constexpr size_t kMaxRawAnswer = 8 * 1024;
constexpr size_t kMaxErrorText = 2 * 1024;

// Text for a jsonb parameter: no NUL (jsonb cannot hold \u0000), bounded, valid UTF-8 (invalid
// bytes become U+FFFD when dumped).
std::string clean_text(std::string_view s, size_t max) {
  std::string out;
  out.reserve(std::min(s.size(), max));
  for (char c : s) {
    if (c == '\0') continue;
    if (out.size() >= max) {
      out += "...(truncated)";
      break;
    }
    out.push_back(c);
  }
  return out;
}

// `s` as valid UTF-8: each byte that does not start a well-formed sequence becomes U+FFFD.
std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    bool ok = len > 0 && i + len <= s.size() && !(len == 2 && c < 0xC2);
    for (size_t k = 1; ok && k < len; ++k) {
      ok = (static_cast<unsigned char>(s[i + k]) >> 6) == 0x2;
    }
    if (ok && len == 3) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xE0 && c1 < 0xA0) && !(c == 0xED && c1 >= 0xA0);  // overlong, surrogates
    }
    if (ok && len == 4) {
      const auto c1 = static_cast<unsigned char>(s[i + 1]);
      ok = !(c == 0xF0 && c1 < 0x90) && !(c == 0xF4 && c1 >= 0x90) && c <= 0xF4;
    }
    if (ok) {
      out.append(s.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

// PostgreSQL array literals, the cheapest way to send a batch in one parameter per column:
// PostgreSQL reads them several times faster than a JSON document of the same rows.
class ArrayLiteral {
 public:
  void add(const std::optional<std::string>& text) {
    sep();
    if (!text) {
      out_ += "NULL";
      return;
    }
    out_ += '"';
    for (char c : *text) {
      if (c == '"' || c == '\\') out_ += '\\';
      out_ += c;
    }
    out_ += '"';
  }
  void add(std::optional<int64_t> n) {
    sep();
    out_ += n ? std::to_string(*n) : std::string("NULL");
  }
  std::string done() { return out_ + "}"; }

 private:
  void sep() { out_ += out_.size() > 1 ? "," : ""; }
  std::string out_ = "{";
};

// An answer as the apply stores it: a state answer without a state is a failure.
domain::CheckKind stored_kind(const domain::CheckResult& r) {
  return r.kind == domain::CheckKind::kState && !r.gateway_state ? domain::CheckKind::kFailed
                                                                 : r.kind;
}
std::string stored_error(const domain::CheckResult& r) {
  if (r.kind == domain::CheckKind::kState && !r.gateway_state && r.error.empty()) {
    return "the gateway answered without a session state";
  }
  return r.error;
}

// The batch as the apply takes it (see session_sql.h), one array per column, one element per
// token (the last result wins if a token repeats), each with the claim it was leased under (0:
// none, which apply counts as a lost lease), in two groups: the answers terminal at the gateway
// carry only what their update, audit row and (if their row was no longer NEW) finding need;
// the others what their schedule and finding need. Text is cleaned: no NUL, valid UTF-8,
// bounded.
struct BatchArrays {
  ArrayLiteral t_token, t_claim, t_state, t_raw, t_attempts, t_checked_at;
  ArrayLiteral o_token, o_claim, o_kind, o_state, o_http_status, o_attempts, o_error,
      o_checked_at;
};

BatchArrays batch_arrays(const std::vector<domain::CheckResult>& results,
                         const std::unordered_map<std::string, int64_t>& claim_of) {
  std::unordered_map<std::string_view, size_t> last;
  for (size_t i = 0; i < results.size(); ++i) last[results[i].token] = i;
  BatchArrays b;
  for (size_t i = 0; i < results.size(); ++i) {
    const domain::CheckResult& r = results[i];
    if (last[r.token] != i) continue;
    const domain::CheckKind k = stored_kind(r);
    const std::string err = stored_error(r);
    const std::string token = valid_utf8(clean_text(r.token, std::string::npos));
    auto claim = claim_of.find(r.token);
    const std::optional<int64_t> claim_id(claim == claim_of.end() ? 0 : claim->second);
    if (k == domain::CheckKind::kState && *r.gateway_state != domain::SessionState::kNew) {
      b.t_token.add(token);
      b.t_claim.add(claim_id);
      b.t_state.add(std::string(domain::to_string(*r.gateway_state)));
      b.t_raw.add(r.raw_answer.empty() ? std::nullopt
                                       : std::optional<std::string>(valid_utf8(
                                             clean_text(r.raw_answer, kMaxRawAnswer))));
      b.t_attempts.add(std::optional<int64_t>(r.attempts));
      b.t_checked_at.add(std::optional<int64_t>(micros(r.checked_at)));
      continue;
    }
    b.o_token.add(token);
    b.o_claim.add(claim_id);
    b.o_kind.add(std::string(kind_name(k)));
    b.o_state.add(k == domain::CheckKind::kState
                      ? std::optional<std::string>(domain::to_string(*r.gateway_state))
                      : std::nullopt);
    b.o_http_status.add(r.http_status > 0 ? std::optional<int64_t>(r.http_status)
                                          : std::nullopt);
    b.o_attempts.add(std::optional<int64_t>(r.attempts));
    b.o_error.add(err.empty() ? std::nullopt
                              : std::optional<std::string>(valid_utf8(clean_text(err, kMaxErrorText))));
    b.o_checked_at.add(std::optional<int64_t>(micros(r.checked_at)));
  }
  return b;
}

// The findings an apply wrote, from its result (apply.sql's final SELECT: the counts' row, whose
// first column is never NULL, and one row per finding, columns 12 on) and the batch: every value
// as the audit batch and the findings table hold it, so the report the run writes from them is
// the one `report --run` reads back. False when the result cannot say (which makes the report
// read the run's findings back).
bool findings_of_apply(const pqxx::result& rows, int64_t run_id,
                       const std::vector<domain::CheckResult>& results,
                       std::vector<domain::FindingRecord>& out) {
  if (rows.columns() < 20) return false;
  std::optional<int64_t> now_us;
  for (const auto& r : rows) {
    if (!r[0].is_null()) now_us = r[11].as<int64_t>();
  }
  if (!now_us) return false;
  // The batch's answer per token as stored (the last one wins, as in batch_arrays).
  std::unordered_map<std::string, const domain::CheckResult*> answer;
  answer.reserve(results.size());
  for (const domain::CheckResult& c : results) {
    answer[valid_utf8(clean_text(c.token, std::string::npos))] = &c;
  }
  out.reserve(rows.size());
  for (const auto& r : rows) {
    if (!r[0].is_null()) continue;  // the counts
    if (r[12].is_null() || r[15].is_null()) return false;
    auto it = answer.find(std::string(r[12].c_str(), r[12].size()));
    if (it == answer.end()) return false;
    const domain::CheckResult& c = *it->second;
    domain::FindingRecord f;
    f.run_id = run_id;
    f.session_token = it->first;
    f.user_id = r[16].is_null() ? std::string() : r[16].as<std::string>();
    f.user_name = r[17].is_null() ? std::string() : r[17].as<std::string>();
    f.user_name_surname = opt_string(r[18]);
    f.user_email = opt_string(r[19]);
    f.attempts = c.attempts;
    f.created_at = wall_from_micros(r[15].as<int64_t>());
    if (r[13].is_null()) {
      // Resolved: its audit row as reconciler_findings shows it (old state NEW, checked when the
      // batch was written).
      if (stored_kind(c) != domain::CheckKind::kState) return false;
      f.gateway_state = c.gateway_state;
      f.category = *c.gateway_state == domain::SessionState::kCompleted
                       ? domain::FindingCategory::kBackfilledCompleted
                   : *c.gateway_state == domain::SessionState::kExpired
                       ? domain::FindingCategory::kExpired
                       : domain::FindingCategory::kFailed;
      f.previous_state = domain::SessionState::kNew;
      f.checked_at = wall_from_micros(*now_us);
    } else {
      // A findings row (apply_findings.sql).
      auto category =
          domain::parse_finding_category(std::string_view(r[13].c_str(), r[13].size()));
      if (!category) return false;
      f.category = *category;
      f.previous_state =
          r[14].is_null() ? domain::SessionState::kNew
                          : domain::parse_session_state(
                                std::string_view(r[14].c_str(), r[14].size()))
                                .value_or(domain::SessionState::kNew);
      f.checked_at = wall_from_micros(micros(c.checked_at));
      if (stored_kind(c) == domain::CheckKind::kState) f.gateway_state = c.gateway_state;
      // A terminal answer carries no error into the apply (apply.sql's `held` part of `rest`);
      // the others their cleaned error (batch_arrays).
      const bool terminal = stored_kind(c) == domain::CheckKind::kState &&
                            *c.gateway_state != domain::SessionState::kNew;
      const std::string err = stored_error(c);
      if (!terminal && !err.empty()) f.error = valid_utf8(clean_text(err, kMaxErrorText));
    }
    out.push_back(std::move(f));
  }
  return true;
}

// pg_advisory_xact_lock keys: claims of one schema are serialized ("drclaims" + the schema).
constexpr int32_t kClaimLockKey = 0x64726361;

// Sessions whose state changed between the statement's snapshot and its guarded update (a
// notification won the race): read again, now that the change is committed, and counted as
// the conflict or anomaly they are. Rare, so one statement per anomaly is fine.
void classify_raced(PgSession& db, pqxx::work& tx, int64_t run_id,
                    const std::vector<domain::CheckResult>& results, const nlohmann::json& raced,
                    domain::ApplyCounts& c) {
  std::unordered_map<std::string_view, const domain::CheckResult*> by_token;
  for (const domain::CheckResult& r : results) by_token[r.token] = &r;
  const pqxx::result rows = tx.exec_params(db.sql().current, raced.dump());
  int64_t seen = 0;
  for (const auto& row : rows) {
    const std::string token = row[0].as<std::string>();
    auto it = by_token.find(token);
    if (it == by_token.end()) continue;
    ++seen;
    const domain::CheckResult& r = *it->second;
    const auto now_state = db.mapping().mapping.state_of(row[1].as<std::string>());
    if (!now_state || *now_state == domain::SessionState::kNew) {
      ++c.lease_lost;  // not applied; the next run asks again
      continue;
    }
    if (r.gateway_state && *r.gateway_state != *now_state) {
      ++c.anomalies;
      tx.exec_params(std::string(statements::apply_raced_anomaly), run_id, token,
                     opt_string(row[3]), opt_string(row[4]), opt_string(row[5]), opt_string(row[6]),
                     std::string(domain::to_string(*now_state)),
                     std::string(domain::to_string(*r.gateway_state)), row[2].as<std::string>(),
                     micros(r.checked_at), r.attempts);
    } else {
      ++c.conflicts;
    }
  }
  c.lease_lost += static_cast<int64_t>(raced.size()) - seen;  // deleted meanwhile
}

// The instant that separates "already checked in this run" from "not yet": the run's start,
// or the caller's shared cut-off, whichever is earlier (as PostgreSQL prints it).
Result<std::string> checked_cutoff(PgSession& db, PgSession::RunContext& ctx,
                                   const domain::ClaimFilter& filter) {
  if (!filter.not_checked_since) return ctx.started_at;
  if (ctx.cutoff_for == *filter.not_checked_since) return ctx.cutoff;
  auto r = db.with_tx<std::string>("cannot read --not-checked-since",
                                   [&](pqxx::work& tx) -> Result<std::string> {
                                     return tx
                                         .exec_params1(std::string(statements::claims_cutoff),
                                                       *filter.not_checked_since, ctx.started_at)[0]
                                         .as<std::string>();
                                   });
  if (!r) return r.error();
  ctx.cutoff_for = *filter.not_checked_since;
  ctx.cutoff = *r;
  return *r;
}

// The window a claim of max_rows walks (claim.sql's $14): an eighth more than max_rows where
// everything walked is due, more where the run's last window found only `due_share` of it due
// (so that the claim is full again), at most 8 times max_rows.
int64_t claim_window(int max_rows, std::optional<double> due_share) {
  const int64_t least = max_rows + max_rows / 8 + 1;
  if (!due_share || *due_share >= 1.0) return least;
  const double share = std::max(*due_share, 1.0 / 8);
  const auto sized = static_cast<int64_t>(std::ceil(max_rows * 1.125 / share)) + 1;
  return std::clamp<int64_t>(sized, least, 8LL * max_rows + 1);
}

}  // namespace

Result<std::vector<domain::ClaimedSession>> PgClaimStore::claim(int64_t run_id,
                                                                const std::string& worker_id,
                                                                const domain::ClaimFilter& filter,
                                                                int max_rows,
                                                                domain::Duration lease) {
  if (max_rows <= 0) return std::vector<domain::ClaimedSession>{};
  Result<PgSession::RunContext*> run = db_.run_context(run_id);
  if (!run) return run.error();
  PgSession::RunContext& ctx = **run;
  Result<std::string> cutoff = checked_cutoff(db_, ctx, filter);
  if (!cutoff) return cutoff.error();
  // Every run walks the selection once, in (created_at, token) order, from where its last
  // claim stopped: what it passed was checked, leased by another worker, or not due.
  const std::string& new_value = db_.mapping().mapping.state_values[0];
  // This store's live claims for the run: each moved the run's position past its last session,
  // so the claim statement need not unpack their token lists (see claim.sql).
  const std::string own_claims = ledger_->claims_of_run(run_id);
  std::optional<std::string> last_key;
  std::optional<std::string> last_token;
  int64_t claim_id = 0;
  std::optional<double> share;
  // Set when a transaction passed its share of windows without taking anything and the walk
  // goes on: the claim commits its position there and takes the lock again.
  bool walk_on = false;
  const int windows_per_lock = std::max(1, db_.options().claim_windows_per_lock);
  Result<std::vector<domain::ClaimedSession>> claimed = std::vector<domain::ClaimedSession>{};
  do {
    claimed = db_.with_tx<std::vector<domain::ClaimedSession>>(
        "cannot claim sessions",
        [&](pqxx::work& tx) -> Result<std::vector<domain::ClaimedSession>> {
          std::vector<domain::ClaimedSession> out;
          last_key = ctx.cursor_key;
          last_token = ctx.cursor_token;
          claim_id = 0;
          walk_on = false;
          if (ctx.dry_run) {
            const pqxx::result rows =
                tx.exec_params(db_.sql().claim_dry, new_value, micros(filter.min_age), *cutoff,
                               filter.ignore_schedule, filter.created_after,
                               filter.created_before, last_key, last_token, max_rows);
            out.reserve(rows.size());
            for (const auto& row : rows) {
              out.push_back(domain::ClaimedSession{row[0].as<std::string>()});
            }
            if (!rows.empty()) {
              last_key = rows.back()[1].as<std::string>();
              last_token = rows.back()[0].as<std::string>();
            }
            return out;
          }
          // One claimer at a time per schema: the anti-join against live claims then sees every
          // claim committed before. Expired claims go first: a worker that lost its lease finds
          // its claim gone when it applies.
          tx.exec_params(std::string(statements::claims_lock), kClaimLockKey);
          tx.exec0(std::string(statements::claims_expire));
          // Each statement walks a window sized from the due share of the run's last one and
          // takes the first max_rows of it that are due (see claim.sql); a window that held none
          // is passed, and the walk goes on from its end until a window holds some or the walk
          // ends. So a claim can return fewer than max_rows before the walk's end, never none.
          share = due_share_.count(run_id) ? std::optional<double>(due_share_[run_id])
                                           : std::nullopt;
          for (int windows = 1;; ++windows) {
            const int64_t window = claim_window(max_rows, share);
            const pqxx::result rows = tx.exec_params(
                db_.sql().claim, run_id, worker_id, new_value, micros(filter.min_age), *cutoff,
                filter.ignore_schedule, filter.created_after, filter.created_before, last_key,
                last_token, max_rows, micros(lease), own_claims, window);
            if (rows.empty()) return out;  // nothing after the position: the walk is at its end
            last_key = rows[0][1].as<std::string>();
            last_token = rows[0][2].as<std::string>();
            const auto walked = rows[0][4].as<int64_t>();
            if (walked > 0) share = static_cast<double>(rows[0][5].as<int64_t>()) / walked;
            if (!rows[0][0].is_null()) {
              claim_id = rows[0][3].as<int64_t>();
              out.reserve(rows.size());
              for (const auto& row : rows) {
                out.push_back(domain::ClaimedSession{row[0].as<std::string>()});
              }
              return out;
            }
            if (walked < window) return out;  // the last window
            if (windows >= windows_per_lock) {
              walk_on = true;  // commit the position passed so far; the lock is taken again
              return out;
            }
          }
        });
    if (!claimed) return claimed;
    // The position passed is committed with each transaction: what it passed held nothing this
    // run may take (not due, checked since the cut-off, or held by a live claim).
    if (share) due_share_[run_id] = *share;
    ctx.cursor_key = last_key;
    ctx.cursor_token = last_token;
  } while (walk_on);
  if (claim_id != 0) ledger_->record(run_id, claim_id, *claimed);
  return claimed;
}

Result<int64_t> PgClaimStore::count_selected(int64_t run_id, const domain::ClaimFilter& filter) {
  Result<PgSession::RunContext*> run = db_.run_context(run_id);
  if (!run) return run.error();
  Result<std::string> cutoff = checked_cutoff(db_, **run, filter);
  if (!cutoff) return cutoff.error();
  return db_.with_tx<int64_t>("cannot count sessions", [&](pqxx::work& tx) -> Result<int64_t> {
    return tx
        .exec_params1(db_.sql().count, db_.mapping().mapping.state_values[0],
                      micros(filter.min_age), *cutoff, filter.ignore_schedule, filter.created_after,
                      filter.created_before)[0]
        .as<int64_t>();
  });
}

Result<domain::ApplyCounts> PgClaimStore::apply(int64_t run_id, const std::string& worker_id,
                                                const std::vector<domain::CheckResult>& results,
                                                bool dry_run, domain::Duration stale_after) {
  if (results.empty()) return domain::ApplyCounts{};
  Result<PgSession::RunContext*> run = db_.run_context(run_id);
  if (!run) return run.error();
  // A dry run never writes session rows, whatever the caller says.
  dry_run = dry_run || (*run)->dry_run;
  // The batch's claims; those whose every session it answers are deleted in its transaction.
  const ClaimLedger::Batch held = ledger_->batch(results);
  BatchArrays b = batch_arrays(results, held.claim_of);
  const std::vector<int64_t>& done = held.answered_claims;
  const auto& v = db_.mapping().mapping.state_values;
  const std::string t_token = b.t_token.done(), t_claim = b.t_claim.done(),
                    t_state = b.t_state.done(), t_raw = b.t_raw.done(),
                    t_attempts = b.t_attempts.done(), t_checked_at = b.t_checked_at.done();
  const std::string o_token = b.o_token.done(), o_claim = b.o_claim.done(),
                    o_kind = b.o_kind.done(), o_state = b.o_state.done(),
                    o_http_status = b.o_http_status.done(), o_attempts = b.o_attempts.done(),
                    o_error = b.o_error.done(), o_checked_at = b.o_checked_at.done();
  Result<domain::ApplyCounts> counts = db_.with_tx<domain::ApplyCounts>(
      "cannot store the results", [&](pqxx::work& tx) -> Result<domain::ApplyCounts> {
        // The apply looks rows up by key (a few hundred per batch). It is a prepared statement
        // whose generic plan is made once, from statistics that can say "empty" for the job's
        // own tables on a first run (session_checks grows during it): without this, that plan
        // scans session_checks in full for every batch, O(backlog) per batch. Seq scans stay
        // possible where there is no index (the planner only prices them out).
        tx.exec0(std::string(statements::apply_key_lookups_only));
        const pqxx::result rows =
            dry_run ? tx.exec_prepared("dr_apply_dry", run_id, micros(stale_after), v[0], v[1],
                                        v[2], v[3], t_token, t_claim, t_state, t_raw, t_attempts,
                                        t_checked_at, o_token, o_claim, o_kind, o_state,
                                        o_http_status, o_attempts, o_error, o_checked_at)
                    : tx.exec_prepared("dr_apply", run_id, worker_id, micros(stale_after), v[0],
                                        v[1], v[2], v[3], t_token, t_claim, t_state, t_raw,
                                        t_attempts, t_checked_at, o_token, o_claim, o_kind,
                                        o_state, o_http_status, o_attempts, o_error,
                                        o_checked_at);
        // One row of counts (first column never NULL), then the batch's findings (apply.sql).
        auto counts_row = std::find_if(rows.begin(), rows.end(),
                                       [](const pqxx::row& row) { return !row[0].is_null(); });
        if (counts_row == rows.end()) {
          return Error::internal("the apply statement returned no counts");
        }
        const pqxx::row r = *counts_row;
        domain::ApplyCounts c;
        c.completed = r[0].as<int64_t>();
        c.expired = r[1].as<int64_t>();
        c.failed = r[2].as<int64_t>();
        c.still_new = r[3].as<int64_t>();
        c.stale = r[4].as<int64_t>();
        c.conflicts = r[5].as<int64_t>();
        c.anomalies = r[6].as<int64_t>();
        c.unchecked = r[7].as<int64_t>();
        c.lease_lost = r[8].as<int64_t>();
        const auto raced = nlohmann::json::parse(r[9].as<std::string>());
        if (!dry_run) {
          c.findings_reported = findings_of_apply(rows, run_id, results, c.findings);
        }
        if (!raced.empty()) {
          classify_raced(db_, tx, run_id, results, raced, c);
          // An anomaly found this way is written apart: the report reads the run back.
          c.findings_reported = false;
          c.findings.clear();
        }
        if (!dry_run && !done.empty()) {
          tx.exec_params(std::string(statements::claims_delete_answered),
                         nlohmann::json(done).dump(), worker_id);
        }
        return c;
      });
  if (counts) ledger_->settle(held);
  return counts;
}

Status PgClaimStore::heartbeat(int64_t run_id, const domain::RunCounts& counts,
                               const std::string& worker_id, domain::Duration lease) {
  return db_.with_tx<Ok>("cannot record the heartbeat", [&](pqxx::work& tx) -> Status {
    const pqxx::result r =
        tx.exec_params(std::string(statements::runs_heartbeat), run_id, counts_json(counts));
    if (r.affected_rows() == 0) return no_such_run(run_id);
    tx.exec_params(std::string(statements::claims_extend), worker_id, micros(lease));
    return ok_status();
  });
}

Status PgClaimStore::release_leases(const std::string& worker_id) {
  Status s = db_.with_tx<Ok>("cannot release leases", [&](pqxx::work& tx) -> Status {
    tx.exec_params(std::string(statements::claims_release), worker_id);
    return ok_status();
  });
  if (s) ledger_->clear();
  return s;
}

Status PgClaimStore::reconnect() { return db_.reconnect(); }

}  // namespace dr::store
