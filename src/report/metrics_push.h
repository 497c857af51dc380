#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace dr::report {

// Where a run's metrics go in a Prometheus Pushgateway (--metrics-push URL / METRICS_PUSH_URL).
// A CronJob's pod is gone after its run, so the textfile collector cannot scrape it; the
// Pushgateway keeps the last push of each group until the next one replaces it.
struct PushTarget {
  std::string base_url;  // "http://pushgateway:9091" (a path prefix is kept), no trailing '/'
  std::string shown;     // scheme://host[:port][/path] without credentials, for logs
};

// Checks a --metrics-push URL: http or https, a host, no query or fragment. Anything else is
// Error kInvalidArgument naming the problem (not the flag) and never echoing credentials.
Result<PushTarget> parse_push_url(std::string_view url);

// The group a push replaces: job="deposit-reconciler", instance=<worker id>, plus what people
// filter on (mode=scheduled|backfill|dry_run). Label values go into the URL base64url-encoded
// ("<name>@base64/<value>"), so any worker id (slashes, colons, spaces) is safe.
struct PushGroup {
  static constexpr std::string_view kJob = "deposit-reconciler";
  std::string instance;
  std::string mode;
};

// The URL of the group: <base>/metrics/job/deposit-reconciler/instance@base64/<..>/mode@base64/<..>
std::string push_group_url(const PushTarget& target, const PushGroup& group);

struct PushOptions {
  static constexpr auto kDefaultTimeout = std::chrono::seconds(10);
  std::chrono::milliseconds timeout = kDefaultTimeout;  // the whole request, connect included
};

// PUTs `exposition` (Prometheus text format, render_metrics()) to the group, replacing what the
// group held. Errors: kUnavailable when the Pushgateway cannot be reached or answers 5xx,
// kInvalidArgument when it refuses the push (4xx, its message included, cut short). Blocking;
// thread-safe (one libcurl easy handle per call). Never logs.
Status push_metrics(const PushTarget& target, const PushGroup& group, std::string_view exposition,
                    const PushOptions& options = {});

}  // namespace dr::report
