// SessionStore on PostgreSQL through libpqxx 6.4. Every libpqxx exception stops here and becomes
// an Error (pg_error.h).

#include "store/pg_session_store.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <map>
#include <optional>
#include <pqxx/connection>
#include <pqxx/cursor>
#include <pqxx/nontransaction>
#include <pqxx/result>
#include <pqxx/transaction>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/log.h"
#include "store/connection.h"
#include "store/conninfo.h"
#include "store/migrator.h"
#include "store/pg_error.h"
#include "store/session_sql.h"
#include "store/table_mapping.h"

namespace dr::store {
namespace {

// A raw gateway answer is kept for the audit trail; a proxy's multi-megabyte error page is not.
constexpr size_t kMaxRawAnswer = 8 * 1024;
constexpr size_t kMaxErrorText = 2 * 1024;
// Rows fetched per round trip when streaming findings.
constexpr int kFindingsFetch = 500;

int64_t micros(domain::Duration d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

int64_t micros(domain::WallTime t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

domain::WallTime wall_from_micros(int64_t us) {
  return domain::WallTime(
      std::chrono::duration_cast<domain::WallTime::duration>(std::chrono::microseconds(us)));
}

std::optional<std::string> opt_string(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return f.as<std::string>();
}

std::optional<domain::WallTime> opt_time(const pqxx::field& f) {
  if (f.is_null()) return std::nullopt;
  return wall_from_micros(f.as<int64_t>());
}

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

std::string dump_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The runs table keeps a run's counts as jsonb, one key per RunCounts field.
std::string counts_json(const domain::RunCounts& counts) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& f : domain::kRunCountFields) j[std::string(f.name)] = counts.*(f.member);
  return dump_json(j);
}

// Keys the binary does not know (an older or newer version's) are ignored; missing ones are 0.
domain::RunCounts parse_counts(const std::string& text) {
  domain::RunCounts c;
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return c;
  for (const auto& f : domain::kRunCountFields) {
    auto it = j.find(std::string(f.name));
    if (it != j.end() && it->is_number_integer()) c.*(f.member) = it->get<int64_t>();
  }
  return c;
}

std::string_view kind_name(domain::CheckKind k) {
  switch (k) {
    case domain::CheckKind::kState:
      return "state";
    case domain::CheckKind::kNotFound:
      return "not_found";
    case domain::CheckKind::kFailed:
      return "failed";
  }
  return "failed";
}

// `s` as valid UTF-8: each byte that does not start a well-formed sequence becomes U+FFFD.
std::string valid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
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

// The batch, one array per column (see session_sql.h), one element per token (the last result
// wins if a token repeats), each with the claim it was leased under (0: none, which apply
// counts as a lost lease). Text is cleaned: no NUL, valid UTF-8, bounded.
struct BatchArrays {
  std::string token, claim_id, kind, gateway_state, http_status, attempts, error, raw_answer,
      checked_at_us;
};

BatchArrays batch_arrays(const std::vector<domain::CheckResult>& results,
                         const std::unordered_map<std::string, int64_t>& claim_of) {
  std::unordered_map<std::string_view, size_t> last;
  for (size_t i = 0; i < results.size(); ++i) last[results[i].token] = i;
  ArrayLiteral token, claim_id, kind, gateway_state, http_status, attempts, error, raw_answer,
      checked_at;
  for (size_t i = 0; i < results.size(); ++i) {
    const domain::CheckResult& r = results[i];
    if (last[r.token] != i) continue;
    domain::CheckKind k = r.kind;
    std::string err = r.error;
    if (k == domain::CheckKind::kState && !r.gateway_state) {
      k = domain::CheckKind::kFailed;
      if (err.empty()) err = "the gateway answered without a session state";
    }
    token.add(valid_utf8(clean_text(r.token, std::string::npos)));
    auto claim = claim_of.find(r.token);
    claim_id.add(std::optional<int64_t>(claim == claim_of.end() ? 0 : claim->second));
    kind.add(std::string(kind_name(k)));
    gateway_state.add(k == domain::CheckKind::kState
                          ? std::optional<std::string>(domain::to_string(*r.gateway_state))
                          : std::nullopt);
    http_status.add(r.http_status > 0 ? std::optional<int64_t>(r.http_status) : std::nullopt);
    attempts.add(std::optional<int64_t>(r.attempts));
    error.add(err.empty() ? std::nullopt
                          : std::optional<std::string>(valid_utf8(clean_text(err, kMaxErrorText))));
    raw_answer.add(r.raw_answer.empty() ? std::nullopt
                                        : std::optional<std::string>(valid_utf8(
                                              clean_text(r.raw_answer, kMaxRawAnswer))));
    checked_at.add(std::optional<int64_t>(micros(r.checked_at)));
  }
  return {token.done(),      claim_id.done(),   kind.done(),
          gateway_state.done(), http_status.done(), attempts.done(),
          error.done(),      raw_answer.done(), checked_at.done()};
}

// Reports read times as microseconds since the epoch: exact, and no time zone parsing here.
std::string epoch_us(std::string_view column) {
  return fmt::format("(extract(epoch FROM {}) * 1000000)::bigint", column);
}

// The columns run_from_row() reads, in its order.
std::string run_select() {
  return fmt::format(
      "SELECT id, worker_id, {}, {}, {}, status, dry_run, options::text, counts::text "
      "FROM reconciler_runs",
      epoch_us("started_at"), epoch_us("finished_at"), epoch_us("heartbeat_at"));
}

domain::RunRecord run_from_row(const pqxx::row& r) {
  domain::RunRecord run;
  run.id = r[0].as<int64_t>();
  run.worker_id = r[1].as<std::string>();
  run.started_at = wall_from_micros(r[2].as<int64_t>());
  run.finished_at = opt_time(r[3]);
  run.heartbeat_at = wall_from_micros(r[4].as<int64_t>());
  run.status =
      domain::parse_run_status(r[5].as<std::string>()).value_or(domain::RunStatus::kFailed);
  run.dry_run = r[6].as<bool>();
  run.options = nlohmann::json::parse(r[7].as<std::string>(), nullptr, /*allow_exceptions=*/false);
  if (run.options.is_discarded()) run.options = nlohmann::json::object();
  run.counts = parse_counts(r[8].as<std::string>());
  return run;
}

// ---- The store ---------------------------------------------------------------------------------

// The apply looks rows up by key (a few hundred per batch). It is a prepared
// statement whose generic plan is made once, from statistics that can say "empty" for the job's
// own tables on a first run (session_checks grows during it): without this, that plan scans
// session_checks in full for every batch, O(backlog) per batch. Seq scans stay possible where
// there is no index (the planner only prices them out).
constexpr const char* kKeyLookupsOnly = "SET LOCAL enable_seqscan = off";

// pg_advisory_xact_lock keys: claims of one schema are serialized ("drclaims" + the schema).
constexpr int32_t kClaimLockKey = 0x64726361;

class PgSessionStore final : public domain::SessionStore {
 public:
  PgSessionStore(std::unique_ptr<pqxx::connection> conn, std::string conninfo, StoreOptions options,
                 ResolvedMapping mapping)
      : conn_(std::move(conn)),
        conninfo_(std::move(conninfo)),
        options_(std::move(options)),
        mapping_(std::move(mapping)),
        sql_(build_session_sql(mapping_)),
        notices_(std::make_unique<NoticeLogger>(*conn_, conninfo_)) {}

  PgSessionStore(const PgSessionStore&) = delete;
  PgSessionStore& operator=(const PgSessionStore&) = delete;

  Status check_schema() override {
    Result<SchemaStatus> s = store::check_schema(*conn_);
    if (!s) return s.error();
    return ok_status();
  }

  Result<domain::TableHealth> inspect_sessions_table() override {
    const std::string& table = mapping_.table;
    const std::string& st = mapping_.state;
    const auto& v = mapping_.mapping.state_values;
    return with_tx<domain::TableHealth>(
        "cannot read the sessions table", [&](pqxx::work& tx) -> Result<domain::TableHealth> {
          domain::TableHealth h;
          h.has_rows = tx.exec1(fmt::format("SELECT EXISTS (SELECT 1 FROM {})", table))[0].as<bool>();
          h.has_new = tx.exec_params1(fmt::format("SELECT EXISTS (SELECT 1 FROM {t} WHERE {st}::text = $1)",
                                                  fmt::arg("t", table), fmt::arg("st", st)),
                                      v[0])[0]
                          .as<bool>();
          if (h.has_rows && !h.has_new) {
            const pqxx::result r = tx.exec_params(
                fmt::format("SELECT DISTINCT {st}::text FROM {t} "
                            "WHERE {st}::text NOT IN ($1, $2, $3, $4) OR {st} IS NULL LIMIT 5",
                            fmt::arg("t", table), fmt::arg("st", st)),
                v[0], v[1], v[2], v[3]);
            for (const auto& row : r) {
              h.unknown_values.push_back(row[0].is_null() ? "NULL" : row[0].as<std::string>());
            }
          }
          h.has_created_index = mapping_.has_created_index;
          return h;
        });
  }

  Result<int64_t> begin_run(const domain::RunStart& start) override {
    Result<RunContext> run = with_tx<
        RunContext>("cannot record the run", [&](pqxx::work& tx) -> Result<RunContext> {
      const pqxx::result abandoned = tx.exec_params(
          "UPDATE reconciler_runs SET status = 'abandoned', finished_at = now() "
          "WHERE status = 'running' AND heartbeat_at < now() - $1::bigint * interval '1 "
          "microsecond' "
          "RETURNING id",
          micros(options_.abandon_after));
      for (const auto& row : abandoned) {
        log::warn("run {} stopped heartbeating without finishing: marked abandoned",
                  row[0].as<int64_t>());
      }
      const pqxx::row r = tx.exec_params1(
          "INSERT INTO reconciler_runs (worker_id, dry_run, options) VALUES ($1, $2, $3::jsonb) "
          "RETURNING id, started_at::text",
          start.worker_id, start.dry_run, dump_json(start.options));
      RunContext ctx;
      ctx.id = r[0].as<int64_t>();
      ctx.started_at = r[1].as<std::string>();
      ctx.dry_run = start.dry_run;
      return ctx;
    });
    if (!run) return run.error();
    runs_[run->id] = *run;
    return run->id;
  }

  Result<std::vector<domain::ClaimedSession>> claim(int64_t run_id, const std::string& worker_id,
                                                    const domain::ClaimFilter& filter, int max_rows,
                                                    domain::Duration lease) override {
    if (max_rows <= 0) return std::vector<domain::ClaimedSession>{};
    Result<RunContext*> run = run_context(run_id);
    if (!run) return run.error();
    RunContext& ctx = **run;
    Result<std::string> cutoff = checked_cutoff(ctx, filter);
    if (!cutoff) return cutoff.error();
    // Every run walks the selection once, in (created_at, token) order, from where its last
    // claim stopped: what it passed was checked, leased by another worker, or not due.
    const std::optional<std::string> after_key = ctx.cursor_key;
    const std::optional<std::string> after_token = ctx.cursor_token;
    const std::string& new_value = mapping_.mapping.state_values[0];
    std::optional<std::string> last_key;
    std::optional<std::string> last_token;
    int64_t claim_id = 0;
    auto claimed = with_tx<std::vector<domain::ClaimedSession>>(
        "cannot claim sessions",
        [&](pqxx::work& tx) -> Result<std::vector<domain::ClaimedSession>> {
          pqxx::result rows;
          if (ctx.dry_run) {
            rows = tx.exec_params(sql_.claim_dry, new_value, micros(filter.min_age), *cutoff,
                                  filter.ignore_schedule, filter.created_after,
                                  filter.created_before, after_key, after_token, max_rows);
          } else {
            // One claimer at a time per schema: the anti-join against live claims then sees
            // every claim committed before. Expired claims go first: a worker that lost its
            // lease finds its claim gone when it applies.
            tx.exec_params("SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))",
                           kClaimLockKey);
            tx.exec0("DELETE FROM claims WHERE expires_at < now()");
            rows = tx.exec_params(sql_.claim, run_id, worker_id, new_value,
                                  micros(filter.min_age), *cutoff, filter.ignore_schedule,
                                  filter.created_after, filter.created_before, after_key,
                                  after_token, max_rows, micros(lease));
          }
          std::vector<domain::ClaimedSession> out;
          out.reserve(rows.size());
          for (const auto& row : rows) {
            out.push_back(domain::ClaimedSession{row[0].as<std::string>(), row[1].as<int>()});
          }
          last_key.reset();
          last_token.reset();
          claim_id = 0;
          if (!rows.empty() && ctx.dry_run) {
            last_key = rows.back()[2].as<std::string>();
            last_token = rows.back()[0].as<std::string>();
          } else if (!rows.empty()) {
            last_key = rows[0][2].as<std::string>();
            last_token = rows[0][3].as<std::string>();
            claim_id = rows[0][4].as<int64_t>();
          }
          return out;
        });
    if (claimed && last_key) {
      ctx.cursor_key = last_key;
      ctx.cursor_token = last_token;
      if (claim_id != 0) {
        for (const domain::ClaimedSession& c : *claimed) claim_of_[c.token] = claim_id;
        claim_left_[claim_id] += static_cast<int64_t>(claimed->size());
      }
    }
    return claimed;
  }

  Result<int64_t> count_selected(int64_t run_id, const domain::ClaimFilter& filter) override {
    Result<RunContext*> run = run_context(run_id);
    if (!run) return run.error();
    Result<std::string> cutoff = checked_cutoff(**run, filter);
    if (!cutoff) return cutoff.error();
    return with_tx<int64_t>("cannot count sessions", [&](pqxx::work& tx) -> Result<int64_t> {
      return tx
          .exec_params1(sql_.count, mapping_.mapping.state_values[0], micros(filter.min_age),
                        *cutoff, filter.ignore_schedule, filter.created_after,
                        filter.created_before)[0]
          .as<int64_t>();
    });
  }

  Result<domain::ApplyCounts> apply(int64_t run_id, const std::string& worker_id,
                                    const std::vector<domain::CheckResult>& results, bool dry_run,
                                    domain::Duration stale_after) override {
    if (results.empty()) return domain::ApplyCounts{};
    Result<RunContext*> run = run_context(run_id);
    if (!run) return run.error();
    // A dry run never writes session rows, whatever the caller says.
    dry_run = dry_run || (*run)->dry_run;
    const BatchArrays b = batch_arrays(results, claim_of_);
    // Claims whose every session this batch answers: deleted in the same transaction.
    std::map<int64_t, int64_t> answered;
    for (const domain::CheckResult& r : results) {
      auto it = claim_of_.find(r.token);
      if (it != claim_of_.end()) ++answered[it->second];
    }
    std::vector<int64_t> done;
    for (const auto& [id, n] : answered) {
      if (claim_left_[id] <= n) done.push_back(id);
    }
    const auto& v = mapping_.mapping.state_values;
    Result<domain::ApplyCounts> counts = with_tx<domain::ApplyCounts>(
        "cannot store the results", [&](pqxx::work& tx) -> Result<domain::ApplyCounts> {
          tx.exec0(kKeyLookupsOnly);
          const pqxx::row r =
              dry_run ? tx.exec_prepared1("dr_apply_dry", run_id, b.token, micros(stale_after),
                                          v[0], v[1], v[2], v[3], b.claim_id, b.kind,
                                          b.gateway_state, b.http_status, b.attempts, b.error,
                                          b.raw_answer, b.checked_at_us)
                      : tx.exec_prepared1("dr_apply", run_id, worker_id, b.token,
                                          micros(stale_after), v[0], v[1], v[2], v[3],
                                          b.claim_id, b.kind, b.gateway_state, b.http_status,
                                          b.attempts, b.error, b.raw_answer, b.checked_at_us);
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
          if (!raced.empty()) classify_raced(tx, run_id, results, raced, c);
          if (!dry_run && !done.empty()) {
            tx.exec_params("DELETE FROM claims WHERE worker_id = $2 AND id IN "
                           "(SELECT jsonb_array_elements_text($1::jsonb)::bigint)",
                           nlohmann::json(done).dump(), worker_id);
          }
          return c;
        });
    if (counts) {
      for (const domain::CheckResult& r : results) {
        auto it = claim_of_.find(r.token);
        if (it == claim_of_.end()) continue;
        if (--claim_left_[it->second] <= 0) claim_left_.erase(it->second);
        claim_of_.erase(it);
      }
    }
    return counts;
  }

  Status heartbeat(int64_t run_id, const domain::RunCounts& counts, const std::string& worker_id,
                   domain::Duration lease) override {
    return with_tx<Ok>("cannot record the heartbeat", [&](pqxx::work& tx) -> Status {
      const pqxx::result r = tx.exec_params(
          "UPDATE reconciler_runs SET heartbeat_at = now(), counts = $2::jsonb WHERE id = $1",
          run_id, counts_json(counts));
      if (r.affected_rows() == 0) return no_such_run(run_id);
      tx.exec_params(
          "UPDATE claims SET expires_at = now() + $2::bigint * interval '1 microsecond' "
          "WHERE worker_id = $1",
          worker_id, micros(lease));
      return ok_status();
    });
  }

  Status release_leases(const std::string& worker_id) override {
    Status s = with_tx<Ok>("cannot release leases", [&](pqxx::work& tx) -> Status {
      tx.exec_params("DELETE FROM claims WHERE worker_id = $1", worker_id);
      return ok_status();
    });
    if (s) {
      claim_of_.clear();
      claim_left_.clear();
    }
    return s;
  }

  Status finish_run(int64_t run_id, domain::RunStatus status,
                    const domain::RunCounts& counts) override {
    Status s = with_tx<Ok>("cannot record the end of the run", [&](pqxx::work& tx) -> Status {
      const pqxx::result r = tx.exec_params(
          "UPDATE reconciler_runs "
          "SET status = $2, finished_at = now(), heartbeat_at = now(), counts = $3::jsonb "
          "WHERE id = $1",
          run_id, std::string(to_string(status)), counts_json(counts));
      if (r.affected_rows() == 0) return no_such_run(run_id);
      return ok_status();
    });
    if (s) runs_.erase(run_id);
    return s;
  }

  Result<domain::RunRecord> load_run(int64_t run_id) override {
    const std::string sql = run_select() + " WHERE id = $1";
    return with_tx<domain::RunRecord>("cannot read the run",
                                      [&](pqxx::work& tx) -> Result<domain::RunRecord> {
                                        const pqxx::result rows = tx.exec_params(sql, run_id);
                                        if (rows.empty()) return no_such_run(run_id);
                                        return run_from_row(rows[0]);
                                      });
  }

  Result<std::vector<domain::RunRecord>> recent_runs(int64_t limit,
                                                     std::optional<int64_t> up_to_run_id) override {
    const std::string sql =
        run_select() + " WHERE ($2::bigint IS NULL OR id <= $2) ORDER BY id DESC LIMIT $1";
    return with_tx<std::vector<domain::RunRecord>>(
        "cannot read the runs", [&](pqxx::work& tx) -> Result<std::vector<domain::RunRecord>> {
          std::vector<domain::RunRecord> out;
          for (const auto& row : tx.exec_params(sql, limit, up_to_run_id)) {
            out.push_back(run_from_row(row));
          }
          return out;
        });
  }

  Result<std::optional<domain::WallTime>> last_success_at() override {
    const std::string sql = fmt::format(
        "SELECT {} FROM reconciler_runs WHERE status = 'succeeded' AND NOT dry_run "
        "ORDER BY finished_at DESC NULLS LAST LIMIT 1",
        epoch_us("finished_at"));
    return with_tx<std::optional<domain::WallTime>>(
        "cannot read the runs", [&](pqxx::work& tx) -> Result<std::optional<domain::WallTime>> {
          const pqxx::result rows = tx.exec(sql);
          if (rows.empty()) return std::optional<domain::WallTime>{};
          return opt_time(rows[0][0]);
        });
  }

  Result<std::optional<int64_t>> latest_run_id() override {
    return with_tx<std::optional<int64_t>>(
        "cannot read the runs", [&](pqxx::work& tx) -> Result<std::optional<int64_t>> {
          const pqxx::row r = tx.exec1("SELECT max(id) FROM reconciler_runs");
          if (r[0].is_null()) return std::optional<int64_t>{};
          return std::optional<int64_t>{r[0].as<int64_t>()};
        });
  }

  Status for_each_finding(int64_t run_id, bool include_open,
                          const std::function<void(const domain::FindingRecord&)>& fn) override {
    // The run id and flag are numbers, written into the text: a cursor's query takes no
    // parameters.
    // A run's own findings need no de-duplication (one per session and category); with
    // --include-open, the latest open one per session and category of earlier runs joins them.
    // The report's order: the summary's categories in order, then oldest first. The sort keys
    // come first in each row: PostgreSQL's sort then reads them without walking the row's text
    // columns on every comparison (that walk was a third of the query's CPU).
    const std::string columns = fmt::format(
        "array_position(ARRAY['anomaly', 'expired', 'failed', 'backfilled_completed', "
        "'unchecked', 'stale'], category), {}, session_token, run_id, category, user_id, "
        "user_name, user_name_surname, user_email, previous_state, gateway_state, {}, attempts, "
        "error, {}, followed_up_by",
        epoch_us("created_at"), epoch_us("checked_at"), epoch_us("followed_up_at"));
    const std::string order = "1, 2, 3";
    const std::string query =
        include_open
            ? fmt::format(R"sql(
SELECT {columns}
FROM (
  SELECT DISTINCT ON (f.session_token, f.category) f.*
  FROM reconciler_findings f
  WHERE f.run_id = {run} OR (f.run_id < {run} AND f.followed_up_at IS NULL)
  ORDER BY f.session_token, f.category, f.run_id DESC
) f
ORDER BY {order})sql",
                          fmt::arg("columns", columns), fmt::arg("run", run_id),
                          fmt::arg("order", order))
            : fmt::format(R"sql(
SELECT {columns} FROM reconciler_findings WHERE run_id = {run}
ORDER BY {order})sql",
                          fmt::arg("columns", columns), fmt::arg("run", run_id),
                          fmt::arg("order", order));
    return with_tx<Ok>("cannot read the findings", [&](pqxx::work& tx) -> Status {
      // Forward only: one pass over the findings, kFindingsFetch rows per round trip.
      pqxx::icursorstream stream(tx, query, "dr_findings", kFindingsFetch);
      pqxx::result rows;
      while (stream >> rows) {
        for (const auto& r : rows) fn(finding_from_row(r));
      }
      return ok_status();
    });
  }

  Result<int64_t> mark_followed_up(const domain::FollowUp& follow_up) override {
    if (follow_up.by.empty()) return Error::invalid("say who followed up (a name or a ticket)");
    std::optional<std::string> tokens;
    if (!follow_up.tokens.empty()) tokens = dump_json(follow_up.tokens);
    std::optional<std::string> category;
    if (follow_up.category) category = std::string(to_string(*follow_up.category));
    return with_tx<int64_t>("cannot mark findings", [&](pqxx::work& tx) -> Result<int64_t> {
      const pqxx::result r = tx.exec_params(
          "INSERT INTO follow_ups (run_id, session_token, category, followed_up_by) "
          "SELECT f.run_id, f.session_token, f.category, $2 FROM reconciler_findings f "
          "WHERE f.followed_up_at IS NULL "
          // A token is marked wherever its open finding is: this run, or an earlier one whose
          // finding this run's report listed again (--include-open).
          "  AND (f.run_id = $1 OR ($3::jsonb IS NOT NULL AND f.run_id < $1)) "
          "  AND ($3::jsonb IS NULL "
          "       OR f.session_token IN (SELECT jsonb_array_elements_text($3::jsonb))) "
          "  AND ($4::text IS NULL OR f.category = $4::text) "
          "ON CONFLICT DO NOTHING",
          follow_up.run_id, follow_up.by, tokens, category);
      return static_cast<int64_t>(r.affected_rows());
    });
  }

  Status insert_new_session(const domain::NewSessionRow& row) override {
    if (!mapping_.mapping.is_default_table()) {
      return Error::invalid(
          "create-session stores sessions only in the default table (public.deposit_sessions); "
          "with --sessions-table the merchant's application stores them");
    }
    return with_tx<Ok>("cannot store the new session", [&](pqxx::work& tx) -> Status {
      tx.exec_params(sql_.insert, row.session_token, row.user_id, row.user_name,
                     row.user_name_surname, row.user_email, row.redirect_url, row.checkout_url,
                     row.min_payment_usd, row.max_payment_usd, row.fiat_currency, row.language,
                     mapping_.mapping.state_values[0]);
      if (!mapping_.has_audit_trigger) {
        tx.exec_params(
            "INSERT INTO session_state_changes (session_token, old_state, new_state, source) "
            "VALUES ($1, NULL, 'NEW', 'creation')",
            row.session_token);
      }
      return ok_status();
    });
  }

  Status reconnect() override {
    Result<std::unique_ptr<pqxx::connection>> fresh =
        open_connection(conninfo_, mapping_.mapping.schema);
    if (!fresh) return fresh.error();
    notices_.reset();
    conn_ = std::move(*fresh);
    notices_ = std::make_unique<NoticeLogger>(*conn_, conninfo_);
    try {
      prepare_statements();
    } catch (...) {
      return translate_pg_exception(std::current_exception(), "cannot prepare statements",
                                    conninfo_)
          .error;
    }
    return ok_status();
  }

  // Prepares the statements used on every batch; libpqxx prepares them on first use (and again
  // after a reconnect).
  void prepare_statements() {
    conn_->prepare("dr_apply", sql_.apply);
    conn_->prepare("dr_apply_dry", sql_.apply_dry);
  }

 private:
  struct RunContext {
    int64_t id = 0;
    std::string started_at;  // as PostgreSQL prints it, to pass back exactly
    bool dry_run = false;
    // Keyset position of the run's last claim: (created_at as text, token).
    std::optional<std::string> cursor_key;
    std::optional<std::string> cursor_token;
    std::string cutoff_for;  // the --not-checked-since value `cutoff` was computed from
    std::string cutoff;
  };

  // Sessions whose state changed between the statement's snapshot and its guarded update (a
  // notification won the race): read again, now that the change is committed, and counted as
  // the conflict or anomaly they are. Rare, so one statement per anomaly is fine.
  void classify_raced(pqxx::work& tx, int64_t run_id,
                      const std::vector<domain::CheckResult>& results, const nlohmann::json& raced,
                      domain::ApplyCounts& c) {
    std::unordered_map<std::string_view, const domain::CheckResult*> by_token;
    for (const domain::CheckResult& r : results) by_token[r.token] = &r;
    const pqxx::result rows = tx.exec_params(sql_.current, raced.dump());
    int64_t seen = 0;
    for (const auto& row : rows) {
      const std::string token = row[0].as<std::string>();
      auto it = by_token.find(token);
      if (it == by_token.end()) continue;
      ++seen;
      const domain::CheckResult& r = *it->second;
      const auto now_state = mapping_.mapping.state_of(row[1].as<std::string>());
      if (!now_state || *now_state == domain::SessionState::kNew) {
        ++c.lease_lost;  // not applied; the next run asks again
        continue;
      }
      if (r.gateway_state && *r.gateway_state != *now_state) {
        ++c.anomalies;
        tx.exec_params(
            "INSERT INTO findings (run_id, category, session_token, user_id, user_name, "
            "  user_name_surname, user_email, previous_state, gateway_state, created_at, "
            "  checked_at, attempts) "
            "VALUES ($1, 'anomaly', $2, coalesce($3, ''), coalesce($4, ''), $5, $6, $7, $8, "
            "  $9::timestamptz, timestamptz 'epoch' + $10::bigint * interval '1 microsecond', $11) "
            "ON CONFLICT DO NOTHING",
            run_id, token, opt_string(row[3]), opt_string(row[4]), opt_string(row[5]),
            opt_string(row[6]), std::string(domain::to_string(*now_state)),
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
  Result<std::string> checked_cutoff(RunContext& ctx, const domain::ClaimFilter& filter) {
    if (!filter.not_checked_since) return ctx.started_at;
    if (ctx.cutoff_for == *filter.not_checked_since) return ctx.cutoff;
    auto r = with_tx<std::string>(
        "cannot read --not-checked-since", [&](pqxx::work& tx) -> Result<std::string> {
          return tx
              .exec_params1("SELECT least($1::timestamptz, $2::timestamptz)::text",
                            *filter.not_checked_since, ctx.started_at)[0]
              .as<std::string>();
        });
    if (!r) return r.error();
    ctx.cutoff_for = *filter.not_checked_since;
    ctx.cutoff = *r;
    return *r;
  }

  static Error no_such_run(int64_t run_id) {
    return Error{ErrorCode::kNotFound, fmt::format("there is no run {}", run_id)};
  }

  Result<RunContext*> run_context(int64_t run_id) {
    auto it = runs_.find(run_id);
    if (it != runs_.end()) return &it->second;
    Result<RunContext> loaded =
        with_tx<RunContext>("cannot read the run", [&](pqxx::work& tx) -> Result<RunContext> {
          const pqxx::result r = tx.exec_params(
              "SELECT started_at::text, dry_run FROM reconciler_runs WHERE id = $1", run_id);
          if (r.empty()) return no_such_run(run_id);
          RunContext ctx;
          ctx.id = run_id;
          ctx.started_at = r[0][0].as<std::string>();
          ctx.dry_run = r[0][1].as<bool>();
          return ctx;
        });
    if (!loaded) return loaded.error();
    return &(runs_[run_id] = *loaded);
  }

  // A row of for_each_finding's query: [0] is its category's rank, a sort key only.
  static domain::FindingRecord finding_from_row(const pqxx::row& r) {
    domain::FindingRecord f;
    f.created_at = wall_from_micros(r[1].as<int64_t>());
    f.session_token = r[2].as<std::string>();
    f.run_id = r[3].as<int64_t>();
    f.category = domain::parse_finding_category(r[4].as<std::string>())
                     .value_or(domain::FindingCategory::kAnomaly);
    f.user_id = r[5].as<std::string>();
    f.user_name = r[6].as<std::string>();
    f.user_name_surname = opt_string(r[7]);
    f.user_email = opt_string(r[8]);
    f.previous_state =
        domain::parse_session_state(r[9].as<std::string>()).value_or(domain::SessionState::kNew);
    if (!r[10].is_null()) f.gateway_state = domain::parse_session_state(r[10].as<std::string>());
    f.checked_at = opt_time(r[11]);
    f.attempts = r[12].as<int>();
    f.error = opt_string(r[13]);
    f.followed_up_at = opt_time(r[14]);
    f.followed_up_by = opt_string(r[15]);
    return f;
  }

  // Runs `body` in one READ COMMITTED transaction, committed if it returns a value and rolled
  // back if it returns an Error. Serialization failures and deadlocks run it again, up to
  // options_.transaction_attempts times; libpqxx exceptions become Errors.
  template <typename T>
  Result<T> with_tx(std::string_view context, const std::function<Result<T>(pqxx::work&)>& body) {
    for (int attempt = 1;; ++attempt) {
      try {
        pqxx::work tx(*conn_);
        Result<T> value = body(tx);
        if (value) tx.commit();
        return value;
      } catch (...) {
        PgFailure failure = translate_pg_exception(std::current_exception(), context, conninfo_);
        if (failure.retryable && attempt < options_.transaction_attempts) {
          log::debug("{}; trying the transaction again ({}/{})", failure.error.message, attempt + 1,
                     options_.transaction_attempts);
          continue;
        }
        return failure.error;
      }
    }
  }

  std::unique_ptr<pqxx::connection> conn_;
  std::string conninfo_;  // kept only to redact its password from error messages
  StoreOptions options_;
  ResolvedMapping mapping_;
  SessionSql sql_;
  std::map<int64_t, RunContext> runs_;
  // Sessions claimed and not yet applied: the claim each came from, and how many of each claim
  // are still out (a claim is deleted with the apply that answers its last session).
  std::unordered_map<std::string, int64_t> claim_of_;
  std::unordered_map<int64_t, int64_t> claim_left_;
  std::unique_ptr<NoticeLogger> notices_;  // after conn_: unregisters before the connection goes
};

}  // namespace

Result<std::unique_ptr<domain::SessionStore>> connect_session_store(const std::string& conninfo,
                                                                    const StoreOptions& options) {
  Result<std::unique_ptr<pqxx::connection>> conn =
      open_connection(conninfo, options.mapping.schema);
  if (!conn) return conn.error();
  Result<ResolvedMapping> mapping = resolve_mapping(**conn, options.mapping);
  if (!mapping) return mapping.error();
  try {
    auto store =
        std::make_unique<PgSessionStore>(std::move(*conn), conninfo, options, std::move(*mapping));
    store->prepare_statements();
    log::debug("connected to database {}", describe_conninfo(conninfo));
    return std::unique_ptr<domain::SessionStore>(std::move(store));
  } catch (...) {
    return translate_pg_exception(std::current_exception(), "cannot connect to the database",
                                  conninfo)
        .error;
  }
}

}  // namespace dr::store
