#include "store/pg_run_records.h"

#include <pqxx/result>
#include <pqxx/transaction>
#include <string>
#include <vector>

#include "common/log.h"
#include "store/pg_session.h"
#include "store/pg_values.h"
#include "store/statements.h"

namespace dr::store {
namespace {

// A row of runs_load.sql or runs_recent.sql.
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

}  // namespace

Result<int64_t> PgRunRecords::begin_run(const domain::RunStart& start) {
  Result<PgSession::RunContext> run = db_.with_tx<PgSession::RunContext>(
      "cannot record the run", [&](pqxx::work& tx) -> Result<PgSession::RunContext> {
        const pqxx::result abandoned = tx.exec_params(std::string(statements::runs_abandon_stale),
                                                      micros(db_.options().abandon_after));
        for (const auto& row : abandoned) {
          log::warn("run {} stopped heartbeating without finishing: marked abandoned",
                    row[0].as<int64_t>());
        }
        const pqxx::row r = tx.exec_params1(std::string(statements::runs_insert), start.worker_id,
                                            start.dry_run, dump_json(start.options));
        PgSession::RunContext ctx;
        ctx.id = r[0].as<int64_t>();
        ctx.started_at = r[1].as<std::string>();
        ctx.dry_run = start.dry_run;
        return ctx;
      });
  if (!run) return run.error();
  db_.remember_run(*run);
  return run->id;
}

Status PgRunRecords::finish_run(int64_t run_id, domain::RunStatus status,
                                const domain::RunCounts& counts) {
  Status s = db_.with_tx<Ok>("cannot record the end of the run", [&](pqxx::work& tx) -> Status {
    const pqxx::result r = tx.exec_params(std::string(statements::runs_finish), run_id,
                                          std::string(to_string(status)), counts_json(counts));
    if (r.affected_rows() == 0) return no_such_run(run_id);
    return ok_status();
  });
  if (s) db_.forget_run(run_id);
  return s;
}

Result<domain::RunRecord> PgRunRecords::load_run(int64_t run_id) {
  const std::string sql(statements::runs_load);
  return db_.with_tx<domain::RunRecord>("cannot read the run",
                                        [&](pqxx::work& tx) -> Result<domain::RunRecord> {
                                          const pqxx::result rows = tx.exec_params(sql, run_id);
                                          if (rows.empty()) return no_such_run(run_id);
                                          return run_from_row(rows[0]);
                                        });
}

Result<std::vector<domain::RunRecord>> PgRunRecords::recent_runs(
    int64_t limit, std::optional<int64_t> up_to_run_id) {
  const std::string sql(statements::runs_recent);
  return db_.with_tx<std::vector<domain::RunRecord>>(
      "cannot read the runs", [&](pqxx::work& tx) -> Result<std::vector<domain::RunRecord>> {
        std::vector<domain::RunRecord> out;
        for (const auto& row : tx.exec_params(sql, limit, up_to_run_id)) {
          out.push_back(run_from_row(row));
        }
        return out;
      });
}

Result<std::optional<domain::WallTime>> PgRunRecords::last_success_at() {
  const std::string sql(statements::runs_last_success);
  return db_.with_tx<std::optional<domain::WallTime>>(
      "cannot read the runs", [&](pqxx::work& tx) -> Result<std::optional<domain::WallTime>> {
        const pqxx::result rows = tx.exec(sql);
        if (rows.empty()) return std::optional<domain::WallTime>{};
        return opt_time(rows[0][0]);
      });
}

Result<std::optional<int64_t>> PgRunRecords::latest_run_id() {
  return db_.with_tx<std::optional<int64_t>>(
      "cannot read the runs", [&](pqxx::work& tx) -> Result<std::optional<int64_t>> {
        const pqxx::row r = tx.exec1(std::string(statements::runs_latest_id));
        if (r[0].is_null()) return std::optional<int64_t>{};
        return std::optional<int64_t>{r[0].as<int64_t>()};
      });
}

}  // namespace dr::store
