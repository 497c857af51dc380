// Writes the report of a synthetic run of N sessions through the real ReportWriter, for
// bench/report-browser-bench.sh: a backfill-shaped mix (mostly expired), plus open findings of an
// earlier run.
//
//   report_html_gen DIR N [FORMATS]     prints the paths written, then "seconds=<writer time>"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "report/report_writer.h"

using namespace dr::report;

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: report_html_gen DIR N [FORMATS]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const int64_t n = std::strtoll(argv[2], nullptr, 10);
  auto formats = parse_report_formats(argc > 3 ? argv[3] : "csv,html");
  if (!formats) {
    std::fprintf(stderr, "%s\n", formats.error().message.c_str());
    return 2;
  }
  // Shares of a backfill after an outage, per million: most sessions expired.
  struct Share {
    const char* category;
    int64_t per_million;
    const char* gateway;
  };
  // In report order: anomalies first.
  const Share shares[] = {{"anomaly", 1000, "COMPLETED"},    {"expired", 850000, "EXPIRED"},
                          {"failed", 50000, "FAILED"},
                          {"backfilled_completed", 80000, "COMPLETED"},
                          {"unchecked", 15000, ""},         {"stale", 4000, "NEW"}};
  RunFacts facts;
  facts.run_id = 9001;
  facts.worker_id = "backfill-0";
  facts.started_at = "2026-11-21T00:00:00Z";
  facts.finished_at = "2026-11-21T00:33:20Z";
  facts.status = "partial";
  facts.include_open = true;
  facts.options = {{"rate", 500}, {"all", true}};
  int64_t counts[6];
  for (int i = 0; i < 6; ++i) counts[i] = n * shares[i].per_million / 1000000;
  facts.counts.anomaly = counts[0];
  facts.counts.expired = counts[1];
  facts.counts.failed = counts[2];
  facts.counts.backfilled_completed = counts[3];
  facts.counts.unchecked = counts[4];
  facts.counts.stale = counts[5];
  facts.counts.checked = n - counts[4];
  facts.counts.claimed = n;
  facts.counts.requests = n + n / 50;
  facts.counts.retries = n / 50;

  const auto t0 = std::chrono::steady_clock::now();
  auto w = ReportWriter::open(dir, facts, *formats);
  if (!w) {
    std::fprintf(stderr, "%s\n", w.error().message.c_str());
    return 1;
  }
  static const char* const kNames[] = {"Ana", "Bruno", "Chloé", "Dmitri", "Eun-ji", "Farah",
                                       "Göran", "Hiro", "Ines", "Jomo"};
  int64_t serial = 0;
  for (int c = 0; c < 6; ++c) {
    const int64_t earlier = c == 1 ? 1000 : 0;  // open findings of run 9000 (expired)
    for (int64_t i = 0; i < counts[c] + earlier; ++i, ++serial) {
      FindingRow r;
      r.category = shares[c].category;
      r.session_token = "ps_" + std::to_string(7000000000 + serial * 7919 % 1000000007);
      r.user_id = std::to_string(100000 + serial * 31 % 900000);
      r.user_name = kNames[serial % 10];
      r.user_name_surname = std::string(kNames[serial % 10]) + " " + kNames[(serial / 10) % 10] + "son";
      r.user_email = "user" + std::to_string(serial) + "@example.com";
      r.previous_state = c == 0 ? "EXPIRED" : "NEW";
      r.gateway_state = shares[c].gateway;
      const int64_t sec = serial * 86400 / (n + 1000);
      char when[32];
      std::snprintf(when, sizeof when, "2026-11-20T%02d:%02d:%02dZ", static_cast<int>(sec / 3600),
                    static_cast<int>(sec / 60 % 60), static_cast<int>(sec % 60));
      r.created_at = when;
      r.checked_at = "2026-11-21T00:12:34Z";
      r.attempts = c == 4 ? 5 : 1;  // unchecked
      if (c == 4) r.error = "HTTP 503 after 5 attempts";
      r.run_id = i < earlier ? 9000 : 9001;
      if (auto s = w->add(r); !s) {
        std::fprintf(stderr, "%s\n", s.error().message.c_str());
        return 1;
      }
    }
  }
  auto paths = w->finish();
  if (!paths) {
    std::fprintf(stderr, "%s\n", paths.error().message.c_str());
    return 1;
  }
  for (const auto& p : *paths) std::printf("%s\n", p.c_str());
  std::printf("seconds=%.2f\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}
