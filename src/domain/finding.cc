#include "domain/finding.h"

#include <algorithm>
#include <cstring>

namespace dr::domain {

int report_rank(FindingCategory c) {
  switch (c) {
    case FindingCategory::kAnomaly:
      return 0;
    case FindingCategory::kExpired:
      return 1;
    case FindingCategory::kFailed:
      return 2;
    case FindingCategory::kBackfilledCompleted:
      return 3;
    case FindingCategory::kUnchecked:
      return 4;
    case FindingCategory::kStale:
      return 5;
  }
  return 6;
}

bool report_order_less(const FindingRecord& a, const FindingRecord& b) {
  const int ra = report_rank(a.category);
  const int rb = report_rank(b.category);
  if (ra != rb) return ra < rb;
  if (a.created_at != b.created_at) return a.created_at < b.created_at;
  // PostgreSQL's comparison of text under a byte-order collation (varstr_cmp): memcmp over the
  // shorter length, then the shorter first.
  const size_t n = std::min(a.session_token.size(), b.session_token.size());
  const int c = n == 0 ? 0 : std::memcmp(a.session_token.data(), b.session_token.data(), n);
  if (c != 0) return c < 0;
  return a.session_token.size() < b.session_token.size();
}

}  // namespace dr::domain
