#include "http/curl_engine.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <utility>

#include "common/log.h"
#include "http/connection_check.h"
#include "http/curl_handles.h"

namespace dr::http {

namespace {

using internal::CurlEasy;
using internal::CurlMulti;
using internal::CurlSlist;
using internal::CurlUrl;
using SteadyClock = std::chrono::steady_clock;

std::string one_line(std::string_view s) {
  std::string out(s);
  std::replace_if(
      out.begin(), out.end(), [](char c) { return c == '\r' || c == '\n'; }, ' ');
  while (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

TransportError classify(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      return TransportError::kResolve;
    case CURLE_COULDNT_CONNECT:
      return TransportError::kConnect;
    case CURLE_OPERATION_TIMEDOUT:
      return TransportError::kTimeout;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
    case CURLE_USE_SSL_FAILED:
      return TransportError::kTls;
    case CURLE_FILESIZE_EXCEEDED:
      return TransportError::kTooLarge;
    default:
      return TransportError::kOther;
  }
}

// HTTP/2 streams one connection is counted on for (nginx's default is 128, many servers allow
// 100 to 250); the cap on connections adds one for servers that allow fewer.
constexpr size_t kStreamsPerConnection = 128;

long to_ms(domain::Duration d) {
  return static_cast<long>(std::chrono::ceil<std::chrono::milliseconds>(d).count());
}

// curl_easy_setopt is a variadic macro; checking each call keeps a rejected option from passing
// silently.
#define DR_SETOPT(easy, option, value)                          \
  do {                                                          \
    const CURLcode rc_ = curl_easy_setopt(easy, option, value); \
    if (rc_ != CURLE_OK) return rc_;                            \
  } while (0)

// One reusable transfer: an easy handle and the buffers that must outlive a request.
struct Transfer {
  CurlEasy easy;
  // The request's URL, parsed here and handed over with CURLOPT_CURLU: libcurl then copies the
  // parsed parts instead of parsing a URL string itself (about 1 us less per request, measured
  // with bench/curl-floor.sh).
  CurlUrl url;
  bool active = false;
  uint64_t id = 0;
  std::string request_body;
  CurlSlist own_headers;  // only when the request has extra headers
  std::string response_body;
  std::string retry_after;
  bool too_large = false;
  size_t max_response_bytes = 0;
  SteadyClock::time_point started;
  char error_buffer[CURL_ERROR_SIZE] = {};
};

}  // namespace

struct CurlEngine::Impl {
  EngineOptions options;
  CurlMulti multi;
  CurlSlist default_headers;
  std::vector<std::unique_ptr<Transfer>> transfers;  // every handle ever created
  std::vector<Transfer*> idle;
  size_t active = 0;
  bool multiplexing = false;  // a response came over HTTP/2: connections are capped (below)
  std::vector<HttpResponse> failed_to_start;  // returned by the next poll()

  ~Impl() {
    for (auto& t : transfers) {
      if (t->active) curl_multi_remove_handle(multi.get(), t->easy.get());
    }
  }

  static size_t on_body(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const size_t n = size * count;
    if (t->response_body.size() + n > t->max_response_bytes) {
      t->too_large = true;
      return 0;  // anything other than n aborts the transfer with CURLE_WRITE_ERROR
    }
    t->response_body.append(data, n);
    return n;
  }

  static size_t on_header(char* data, size_t size, size_t count, void* user) {
    auto* t = static_cast<Transfer*>(user);
    const size_t n = size * count;
    std::string_view line(data, n);
    if (line.substr(0, 5) == "HTTP/") {
      t->retry_after.clear();  // a new response begins (after a 1xx, or curl's own retry)
    } else if (starts_with_nocase(line, "retry-after:")) {
      std::string_view value = line.substr(12);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
      }
      while (!value.empty() &&
             (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
        value.remove_suffix(1);
      }
      constexpr size_t kMaxRetryAfterLength = 64;  // a date is 29 characters
      t->retry_after.assign(value.substr(0, kMaxRetryAfterLength));
    }
    return n;
  }

  // Options every request shares, set once per handle.
  CURLcode configure(Transfer& t) {
    CURL* e = t.easy.get();
    DR_SETOPT(e, CURLOPT_PRIVATE, &t);
    DR_SETOPT(e, CURLOPT_NOSIGNAL, 1L);
    DR_SETOPT(e, CURLOPT_PROTOCOLS_STR, "http,https");
    DR_SETOPT(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    DR_SETOPT(e, CURLOPT_FOLLOWLOCATION, 0L);
    DR_SETOPT(e, CURLOPT_SSL_VERIFYPEER, 1L);
    DR_SETOPT(e, CURLOPT_SSL_VERIFYHOST, 2L);
    DR_SETOPT(e, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
    if (!options.ca_file.empty()) DR_SETOPT(e, CURLOPT_CAINFO, options.ca_file.c_str());
    // HTTP/2 needs libcurl built with nghttp2; without it, HTTP/1.1 over TLS is fine too.
    if (curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS)) !=
        CURLE_OK) {
      log::debug("libcurl without HTTP/2: using HTTP/1.1");
    }
    DR_SETOPT(e, CURLOPT_USERAGENT, options.user_agent.c_str());
    DR_SETOPT(e, CURLOPT_TIMEOUT_MS, to_ms(options.total_timeout));
    DR_SETOPT(e, CURLOPT_CONNECTTIMEOUT_MS, to_ms(options.connect_timeout));
    DR_SETOPT(e, CURLOPT_TCP_KEEPALIVE, 1L);
    DR_SETOPT(e, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_response_bytes));
    DR_SETOPT(e, CURLOPT_WRITEFUNCTION, &Impl::on_body);
    DR_SETOPT(e, CURLOPT_WRITEDATA, &t);
    DR_SETOPT(e, CURLOPT_HEADERFUNCTION, &Impl::on_header);
    DR_SETOPT(e, CURLOPT_HEADERDATA, &t);
    DR_SETOPT(e, CURLOPT_ERRORBUFFER, t.error_buffer);
    DR_SETOPT(e, CURLOPT_HTTPHEADER, default_headers.get());
    t.max_response_bytes = options.max_response_bytes;
    return CURLE_OK;
  }

  // An idle transfer, or a new one while fewer than max_in_flight exist; nullptr on failure.
  Transfer* acquire(CURLcode& rc) {
    rc = CURLE_OK;
    if (!idle.empty()) {
      Transfer* t = idle.back();
      idle.pop_back();
      return t;
    }
    auto t = std::make_unique<Transfer>();
    t->easy.reset(curl_easy_init());
    t->url.reset(curl_url());
    if (!t->easy || !t->url) {
      rc = CURLE_OUT_OF_MEMORY;
      return nullptr;
    }
    rc = configure(*t);
    if (rc != CURLE_OK) return nullptr;
    transfers.push_back(std::move(t));
    return transfers.back().get();
  }

  // Per-request options over whatever the previous request on this handle left.
  CURLcode prepare(Transfer& t, HttpRequest& request) {
    CURL* e = t.easy.get();
    t.id = request.id;
    t.response_body.clear();
    t.retry_after.clear();
    t.too_large = false;
    t.error_buffer[0] = '\0';
    if (curl_url_set(t.url.get(), CURLUPART_URL, request.url.c_str(), 0) != CURLUE_OK) {
      return CURLE_URL_MALFORMAT;
    }
    DR_SETOPT(e, CURLOPT_CURLU, t.url.get());
    if (request.method == HttpRequest::Method::kPost) {
      t.request_body = std::move(request.body);
      DR_SETOPT(e, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t.request_body.size()));
      DR_SETOPT(e, CURLOPT_POSTFIELDS, t.request_body.data());
    } else {
      t.request_body.clear();
      DR_SETOPT(e, CURLOPT_HTTPGET, 1L);
    }
    if (request.extra_headers.empty()) {
      t.own_headers.reset();
      DR_SETOPT(e, CURLOPT_HTTPHEADER, default_headers.get());
    } else {
      curl_slist* list = nullptr;
      CurlSlist owner;
      for (const curl_slist* h = default_headers.get(); h != nullptr; h = h->next) {
        if ((list = curl_slist_append(owner.get(), h->data)) == nullptr) return CURLE_OUT_OF_MEMORY;
        owner.release();
        owner.reset(list);
      }
      for (const std::string& h : request.extra_headers) {
        if (!is_header_line(h)) return CURLE_BAD_FUNCTION_ARGUMENT;
        if ((list = curl_slist_append(owner.get(), h.c_str())) == nullptr) {
          return CURLE_OUT_OF_MEMORY;
        }
        owner.release();
        owner.reset(list);
      }
      t.own_headers = std::move(owner);
      DR_SETOPT(e, CURLOPT_HTTPHEADER, t.own_headers.get());
    }
    // Over TLS, wait for a connection that may multiplex (HTTP/2) rather than open another one.
    // Over plain HTTP (loopback only) there is no HTTP/2, and waiting would serialize connects.
    DR_SETOPT(e, CURLOPT_PIPEWAIT, starts_with_nocase(request.url, "https:") ? 1L : 0L);
    return CURLE_OK;
  }

  void fail_to_start(uint64_t id, std::string message) {
    HttpResponse r;
    r.id = id;
    r.error = TransportError::kOther;
    r.error_message = std::move(message);
    failed_to_start.push_back(std::move(r));
  }

  // Once the server has answered over HTTP/2, a few connections carry every request: cap them.
  // Without the cap, a request started in the moment after an answer arrived but before libcurl
  // freed that answer's stream finds every connection full and opens one more, which then idles:
  // one extra TLS handshake per such race (over a hundred in a 100,000-session run). Requests
  // past the streams the server allows then wait inside libcurl for a free stream.
  void note_http_version(CURL* e) {
    long version = 0;
    if (curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &version) != CURLE_OK ||
        version != CURL_HTTP_VERSION_2_0) {
      return;
    }
    multiplexing = true;
    const size_t wanted = std::min<size_t>(
        options.max_in_flight,
        (options.max_in_flight + kStreamsPerConnection - 1) / kStreamsPerConnection + 1);
    const CURLMcode mc =
        curl_multi_setopt(multi.get(), CURLMOPT_MAX_HOST_CONNECTIONS, static_cast<long>(wanted));
    if (mc != CURLM_OK) log::debug("HTTP/2 connection cap: {}", curl_multi_strerror(mc));
    log::debug("HTTP/2: at most {} connections", wanted);
  }

  void collect(std::vector<HttpResponse>& done) {
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi.get(), &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* e = msg->easy_handle;
      const CURLcode rc = msg->data.result;  // msg is invalid after remove_handle
      char* priv = nullptr;
      curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
      auto* t = reinterpret_cast<Transfer*>(priv);

      HttpResponse r;
      r.id = t->id;
      r.elapsed = std::chrono::duration_cast<domain::Duration>(SteadyClock::now() - t->started);
      curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
      if (!multiplexing && rc == CURLE_OK) note_http_version(e);
      if (rc == CURLE_OK) {
        r.body = std::move(t->response_body);
        r.retry_after = std::move(t->retry_after);
      } else if (t->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        r.error = TransportError::kTooLarge;
        r.error_message =
            "response body larger than " + std::to_string(options.max_response_bytes) + " bytes";
      } else {
        r.error = classify(rc);
        r.error_message =
            one_line(t->error_buffer[0] != '\0' ? t->error_buffer : curl_easy_strerror(rc));
      }
      t->response_body.clear();
      t->request_body.clear();

      const CURLMcode mc = curl_multi_remove_handle(multi.get(), e);
      if (mc != CURLM_OK) log::warn("curl_multi_remove_handle: {}", curl_multi_strerror(mc));
      t->active = false;
      --active;
      idle.push_back(t);
      done.push_back(std::move(r));
    }
  }

  void perform() {
    int running = 0;
    const CURLMcode mc = curl_multi_perform(multi.get(), &running);
    if (mc != CURLM_OK) log::error("curl_multi_perform: {}", curl_multi_strerror(mc));
  }
};

CurlEngine::CurlEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CurlEngine::~CurlEngine() = default;

Result<std::unique_ptr<CurlEngine>> CurlEngine::create(EngineOptions options) {
  if (auto s = check_engine_options(options); !s) return s.error();
  if (!internal::ensure_curl_global_init()) {
    return Error::internal("libcurl could not be initialized");
  }

  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->multi.reset(curl_multi_init());
  if (!impl->multi) return Error::internal("curl_multi_init failed");
  const long cap = static_cast<long>(std::min<size_t>(impl->options.max_in_flight, LONG_MAX));
  const std::pair<CURLMoption, long> multi_options[] = {
      {CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX},
      {CURLMOPT_MAX_HOST_CONNECTIONS, cap},
      {CURLMOPT_MAX_TOTAL_CONNECTIONS, cap},
      {CURLMOPT_MAXCONNECTS, cap},  // keep idle connections alive for reuse
      // As many HTTP/2 streams per connection as requests in flight (the server's
      // SETTINGS_MAX_CONCURRENT_STREAMS still caps it); libcurl's default of 100 would open a
      // new connection for every request past the 100th in flight.
      {CURLMOPT_MAX_CONCURRENT_STREAMS, cap},
  };
  for (const auto& [option, value] : multi_options) {
    const CURLMcode mc = curl_multi_setopt(impl->multi.get(), option, value);
    if (mc != CURLM_OK) {
      return Error::internal(std::string("curl_multi_setopt: ") + curl_multi_strerror(mc));
    }
  }

  std::vector<std::string> headers = impl->options.default_headers;
  headers.emplace_back("Expect:");  // no 100-continue round trip before a POST body
  for (const std::string& h : headers) {
    curl_slist* list = curl_slist_append(impl->default_headers.get(), h.c_str());
    if (list == nullptr) return Error::internal("out of memory building HTTP headers");
    impl->default_headers.release();
    impl->default_headers.reset(list);
  }

  // One handle up front, so a libcurl that rejects an option fails here rather than per request.
  CURLcode rc = CURLE_OK;
  Transfer* first = impl->acquire(rc);
  if (first == nullptr) {
    return Error::internal(std::string("libcurl rejected an option: ") + curl_easy_strerror(rc));
  }
  impl->idle.push_back(first);

  return std::unique_ptr<CurlEngine>(new CurlEngine(std::move(impl)));
}

size_t CurlEngine::in_flight() const { return impl_->active + impl_->failed_to_start.size(); }

size_t CurlEngine::capacity() const { return impl_->options.max_in_flight; }

void CurlEngine::start(HttpRequest request) {
  Impl& m = *impl_;
  if (in_flight() >= capacity()) {
    log::error("HTTP engine: start() at capacity ({} in flight)", m.active);
    m.fail_to_start(request.id, "engine at capacity");
    return;
  }
  CURLcode rc = CURLE_OK;
  Transfer* t = m.acquire(rc);
  if (t == nullptr) {
    m.fail_to_start(request.id,
                    std::string("could not create a transfer: ") + curl_easy_strerror(rc));
    return;
  }
  rc = m.prepare(*t, request);
  if (rc != CURLE_OK) {
    m.idle.push_back(t);
    m.fail_to_start(request.id,
                    rc == CURLE_BAD_FUNCTION_ARGUMENT
                        ? "malformed request header"
                        : std::string("could not prepare the request: ") + curl_easy_strerror(rc));
    return;
  }
  t->started = SteadyClock::now();
  const CURLMcode mc = curl_multi_add_handle(m.multi.get(), t->easy.get());
  if (mc != CURLM_OK) {
    m.idle.push_back(t);
    m.fail_to_start(request.id, std::string("curl_multi_add_handle: ") + curl_multi_strerror(mc));
    return;
  }
  t->active = true;
  ++m.active;
}

void CurlEngine::poll(domain::Duration max_wait, std::vector<HttpResponse>& done) {
  Impl& m = *impl_;
  const size_t before = done.size();
  for (HttpResponse& r : m.failed_to_start) done.push_back(std::move(r));
  m.failed_to_start.clear();

  m.perform();
  m.collect(done);
  if (done.size() > before || max_wait <= domain::Duration::zero()) return;

  const long ms = std::min<long>(to_ms(max_wait), INT_MAX);
  const CURLMcode mc = curl_multi_poll(m.multi.get(), nullptr, 0, static_cast<int>(ms), nullptr);
  if (mc != CURLM_OK) log::error("curl_multi_poll: {}", curl_multi_strerror(mc));
  m.perform();
  m.collect(done);
}

void CurlEngine::wakeup() {
  // Nothing useful to do on failure here (this may run in a signal handler): the next poll
  // times out on its own.
  (void)curl_multi_wakeup(impl_->multi.get());
}

}  // namespace dr::http
