#pragma once

// How a command ended, and the one place that turns that into a run status and an exit code
// (README "Exit codes"). Errors carry where they came from, because the same ErrorCode means
// different things at different places: kUnavailable from the database is exit 5, from the
// gateway it is a session left unchecked, and "Too many open files" while connecting to the
// database is this machine's limit, not the database's fault.
//
// A new way for a run to end is a field of RunEnd and one rule in decide_run(), with its case in
// tests/unit/app_outcome_test.cc and its line in README's "Exit codes" table.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/exit_codes.h"
#include "common/result.h"
#include "domain/run.h"
#include "reconcile/pipeline.h"

namespace dr::app {

enum class Origin {
  kConfiguration,       // what a person wrote: flags, files, variables, the URL -> 2
  kDatabase,            // PostgreSQL unreachable, schema missing or outdated -> 5
  kGatewayRejected,     // 401/403: the credentials -> 4
  kGatewayUnavailable,  // no usable answer after the retries -> 3
  kLocalResource,       // this machine: disk full, open-file limit, memory -> 1
  kInternal,            // a bug -> 1
};

struct Failure {
  Origin origin = Origin::kInternal;
  std::string message;
};

// An error from the database adapter, with its origin: a bad URL or mapping is configuration,
// a local limit (EMFILE, ENOSPC, ENOMEM seen in the message) or a local I/O error is local, the
// rest database.
Failure database_failure(const Error& e);
// An error while reading what a person configured (files, flags, the gateway set-up):
// configuration, unless the machine itself failed (a local limit) or it is a bug (kInternal).
Failure configuration_failure(const Error& e);
// An error while writing our own files (reports, metrics): a local resource.
Failure local_failure(const Error& e);
// True when an error's message says a local limit was hit (too many open files, no space...).
bool is_local_resource_error(std::string_view message);

// THE mapping from where a failure came from to the process exit code.
ExitCode exit_code_of(Origin origin);

// What happened in a run, as facts gathered along the way.
struct RunEnd {
  // An answer set where every one of at least this many sessions was a 404 is more likely a
  // wrong --gateway-url than that many orphan rows: reported partial.
  static constexpr int64_t kAllNotFoundMinimum = 5;

  reconcile::PipelineEnd pipeline = reconcile::PipelineEnd::kCompleted;
  int stop_signal = 0;             // SIGTERM or SIGINT when interrupted (0: unknown, SIGTERM)
  std::optional<Failure> failure;  // the first thing that broke the run or its bookkeeping
  int64_t answered = 0;            // sessions with a final answer
  int64_t unchecked = 0;           // of those, not checked (404s included)
  int64_t not_found = 0;           // of the unchecked, 404s
  std::string gateway_url;         // named when every answer was a 404
  // The sessions table looks wrong (empty, or no NEW value but values the mapping does not
  // know): what to say about it. Exit 6 when the run otherwise succeeded.
  std::optional<std::string> table_problem;
  // Anomaly findings of this run: the gateway contradicts a terminal state in the database (a
  // notification that raced the run, or one --verify-notifications checked). Exit 7.
  int64_t anomalies = 0;
};

struct RunVerdict {
  domain::RunStatus status = domain::RunStatus::kSucceeded;
  int exit_code = 0;
  std::string reason;  // one line for the log when not plainly succeeded; empty otherwise
};

// The run's status and exit code, in this order of precedence:
//   a failure, of the run or of its bookkeeping    failed      5 database, 1 local/internal,
//                                                              2 configuration
//   the gateway rejected the credentials           auth_rejected  4
//   interrupted                                    interrupted  128 + signal (130, 143)
//   every answer a 404 (at least kAllNotFoundMinimum)  partial   3
//   anomalies found (with or without the above)    partial or succeeded, as below   7
//   sessions left unchecked by errors other than 404   partial   3
//   the sessions table looks wrong                 succeeded   6 (the run did what it was told)
//   otherwise                                      succeeded   0
// Anomalies change the exit code only (someone may have been credited for money the gateway
// never saw: more urgent than a partial run), not the status: the run checked what it selected.
// 404s alone do not make a run partial: they are definite answers. Sessions another worker holds
// do not change the verdict (README "Exit codes"). Pure: no clock, no I/O.
RunVerdict decide_run(const RunEnd& end);

}  // namespace dr::app
