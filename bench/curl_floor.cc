// libcurl's own cost per transfer, in isolation: N GET requests at concurrency C through one
// multi handle with reused easy handles, set up as src/http/curl_engine.cc sets them up (the
// same options, the same default headers, a header callback, timeouts), driven the same way
// (curl_multi_perform, curl_multi_info_read, curl_multi_poll), and nothing else: no database, no
// report, no JSON. Prints the process's user + system CPU per transfer. bench/curl-floor.sh builds
// and runs it against the static gateway; it is the floor under the job's client CPU.
//
//   curl_floor BASE_URL N CONCURRENCY [CA_FILE|-] [VARIANT...]
//
// Variants (each changes one thing, to measure what it costs):
//   curlu        hand libcurl a prepared CURLU per request (CURLOPT_CURLU) instead of a URL string
//   nohdrcb      no CURLOPT_HEADERFUNCTION
//   notimeout    no CURLOPT_TIMEOUT_MS / CURLOPT_CONNECTTIMEOUT_MS
//   buffer=B     CURLOPT_BUFFERSIZE B (libcurl's receive buffer per handle; default 16384)
//   coalesce=U   after a curl_multi_perform, let at least U microseconds pass before the next
//                one (sleeping), so each one finds more answers waiting
#include <curl/curl.h>
#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Transfer {
  CURL* easy = nullptr;
  CURLU* url = nullptr;
  std::string body;
  std::string retry_after;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  static_cast<Transfer*>(user)->body.append(data, size * count);
  return size * count;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  const size_t n = size * count;
  if (n > 12 && strncasecmp(data, "retry-after:", 12) == 0) {
    static_cast<Transfer*>(user)->retry_after.assign(data + 12, n - 12);
  }
  return n;
}

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: curl_floor BASE_URL N CONCURRENCY [CA_FILE|-] [VARIANT...]\n");
    return 2;
  }
  const std::string base = argv[1];
  const long n = std::atol(argv[2]);
  const long conc = std::atol(argv[3]);
  const std::string ca = argc > 4 && std::strcmp(argv[4], "-") != 0 ? argv[4] : "";
  bool curlu = false, hdrcb = true, timeouts = true;
  long coalesce_us = 0, buffer = 0;
  for (int i = 5; i < argc; ++i) {
    const std::string v = argv[i];
    if (v == "curlu") curlu = true;
    else if (v == "nohdrcb") hdrcb = false;
    else if (v == "notimeout") timeouts = false;
    else if (v.rfind("buffer=", 0) == 0) buffer = std::atol(v.c_str() + 7);
    else if (v.rfind("coalesce=", 0) == 0) coalesce_us = std::atol(v.c_str() + 9);
    else { std::fprintf(stderr, "unknown variant %s\n", v.c_str()); return 2; }
  }
  const bool tls = base.rfind("https:", 0) == 0;

  curl_global_init(CURL_GLOBAL_DEFAULT);
  CURLM* multi = curl_multi_init();
  curl_multi_setopt(multi, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, conc);
  curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, conc);
  curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, conc);
  curl_multi_setopt(multi, CURLMOPT_MAX_CONCURRENT_STREAMS, conc);
  curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "content-type: application/json");
  headers = curl_slist_append(headers, "x-api-key: bench-key");
  headers = curl_slist_append(headers, "Expect:");

  std::vector<Transfer> transfers(static_cast<size_t>(conc));
  std::vector<Transfer*> idle;
  for (Transfer& t : transfers) {
    CURL* e = t.easy = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
    if (!ca.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, ca.c_str());
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
    curl_easy_setopt(e, CURLOPT_USERAGENT, "deposit-reconciler/bench");
    if (timeouts) {
      curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 6000L);
      curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 3000L);
    }
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(1 << 20));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
    if (hdrcb) {
      curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &on_header);
      curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, tls ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    if (buffer > 0) curl_easy_setopt(e, CURLOPT_BUFFERSIZE, buffer);
    if (curlu) t.url = curl_url();
    idle.push_back(&t);
  }

  long started = 0, done = 0, failed = 0, polls = 0, performs = 0, visits = 0;
  auto last_perform = std::chrono::steady_clock::now();
  auto perform = [&]() {
    if (coalesce_us > 0) {
      const auto due = last_perform + std::chrono::microseconds(coalesce_us);
      const auto now = std::chrono::steady_clock::now();
      if (now < due) {
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(due - now).count();
        const timespec ts{0, static_cast<long>(ns)};
        nanosleep(&ts, nullptr);
      }
    }
    visits += started - done;
    ++performs;
    int running = 0;
    curl_multi_perform(multi, &running);
    last_perform = std::chrono::steady_clock::now();
  };
  auto collect = [&]() {
    long finished = 0;
    int queued = 0;
    while (CURLMsg* m = curl_multi_info_read(multi, &queued)) {
      if (m->msg != CURLMSG_DONE) continue;
      if (m->data.result != CURLE_OK) ++failed;
      char* priv = nullptr;
      curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
      long status = 0;
      curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
      if (status != 200) ++failed;
      curl_multi_remove_handle(multi, m->easy_handle);
      idle.push_back(reinterpret_cast<Transfer*>(priv));
      ++finished;
    }
    return finished;
  };
  char url[256];
  const auto wall0 = std::chrono::steady_clock::now();
  const double cpu0 = cpu_seconds();
  while (done < n) {
    while (started < n && !idle.empty()) {
      Transfer* t = idle.back();
      idle.pop_back();
      std::snprintf(url, sizeof url, "%s/pgpub/session/bench-%09ld", base.c_str(), started + 1);
      t->body.clear();
      t->retry_after.clear();
      if (curlu) {
        curl_url_set(t->url, CURLUPART_URL, url, 0);
        curl_easy_setopt(t->easy, CURLOPT_CURLU, t->url);
      } else {
        curl_easy_setopt(t->easy, CURLOPT_URL, url);
      }
      curl_multi_add_handle(multi, t->easy);
      ++started;
    }
    // As CurlEngine::poll: perform and collect; only when nothing finished, wait and again.
    perform();
    long finished = collect();
    if (finished == 0) {
      curl_multi_poll(multi, nullptr, 0, 100, nullptr);
      ++polls;
      perform();
      finished = collect();
    }
    done += finished;
  }
  const double cpu = cpu_seconds() - cpu0;
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  std::printf("libcurl alone: %ld transfers at concurrency %ld (%s): %.1f us CPU per transfer, "
              "%.0f transfers/s, %ld failed, %.2f waits, %.2f performs, %.1f transfers visited per "
              "transfer\n",
              n, conc, tls ? "TLS" : "HTTP", cpu * 1e6 / static_cast<double>(n),
              static_cast<double>(n) / wall, failed, static_cast<double>(polls) / n,
              static_cast<double>(performs) / n, static_cast<double>(visits) / n);
  for (Transfer& t : transfers) {
    curl_easy_cleanup(t.easy);
    if (t.url) curl_url_cleanup(t.url);
  }
  curl_multi_cleanup(multi);
  curl_slist_free_all(headers);
  curl_global_cleanup();
  return failed == 0 ? 0 : 1;
}
