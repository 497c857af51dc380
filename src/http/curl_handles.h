#pragma once

// Owners for libcurl's C handles. Internal to src/http: only .cc files include this header, so
// curl.h stays out of the public ones. Each owner is a unique_ptr with the matching cleanup call:
// movable, never copyable.

#include <curl/curl.h>

#include <memory>

namespace dr::http::internal {

struct CurlEasyDeleter {
  void operator()(CURL* h) const { curl_easy_cleanup(h); }
};
struct CurlMultiDeleter {
  void operator()(CURLM* h) const { curl_multi_cleanup(h); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct CurlUrlDeleter {
  void operator()(CURLU* h) const { curl_url_cleanup(h); }
};
struct CurlStringDeleter {
  void operator()(char* s) const { curl_free(s); }
};

using CurlEasy = std::unique_ptr<CURL, CurlEasyDeleter>;
using CurlMulti = std::unique_ptr<CURLM, CurlMultiDeleter>;
using CurlSlist = std::unique_ptr<curl_slist, CurlSlistDeleter>;
using CurlUrl = std::unique_ptr<CURLU, CurlUrlDeleter>;
using CurlString = std::unique_ptr<char, CurlStringDeleter>;

// curl_global_init once per process, before the first handle; thread-safe. Returns false if
// libcurl could not initialize. Never cleaned up: libcurl lives as long as the process.
bool ensure_curl_global_init();

}  // namespace dr::http::internal
