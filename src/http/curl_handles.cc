#include "http/curl_handles.h"

#include <mutex>

namespace dr::http::internal {

bool ensure_curl_global_init() {
  static std::once_flag once;
  static bool ok = false;
  std::call_once(once, [] { ok = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; });
  return ok;
}

}  // namespace dr::http::internal
