#include "sim/server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <random>
#include <shared_mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/log.h"
#include "gateway/signing.h"
#include "sim/checkout_page.h"
#include "sim/event_handles.h"
#include "sim/outcomes.h"
#include "sim/rate.h"
#include "sim/routes.h"
#include "sim/session_body.h"
#include "sim/stats.h"

namespace dr::sim {
namespace {

using domain::SessionState;

constexpr size_t kOversizeBytes = 2 * 1024 * 1024;
constexpr ev_ssize_t kMaxBodyBytes = 1024 * 1024;
constexpr ev_ssize_t kMaxHeaderBytes = 64 * 1024;
constexpr int kListenBacklog = 1024;

using internal::EventBasePtr;
using internal::EventPtr;
using internal::EvhttpPtr;
using internal::ListenerPtr;

// Every error answer has one shape: {"errorCode": "...", "field": "..." or null, "message": "..."}.
// `field` names the body field or the header at fault.
std::string error_body(std::string_view code, std::string_view field, std::string_view message) {
  nlohmann::ordered_json j;
  j["errorCode"] = code;
  j["field"] = field.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(field);
  j["message"] = message;
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

const std::string kApiKeyInvalid =
    error_body("errorApiKeyInvalid", "x-api-key", "the x-api-key header is missing or not valid");
const std::string kHmacMismatch =
    error_body("errorHmacDoesNotMatch", "x-payload-hash",
               "x-payload-hash is not base64(HMAC-SHA512(secret, body)) of the bytes received");
const std::string kUnsupportedMediaType = error_body("errorUnsupportedMediaType", "content-type",
                                                     "content-type must be application/json");
const std::string kSessionNotFound =
    error_body("errorSessionNotFound", "sessionToken", "no session has this token");
const std::string kNotFound = error_body("errorNotFound", "", "no such endpoint");
const std::string kMethodNotAllowed =
    error_body("errorMethodNotAllowed", "", "this endpoint does not take that method");
const std::string kTooManyRequests = error_body(
    "errorTooManyRequests", "", "over the rate limit; retry after the Retry-After delay");
const std::string kInternal = error_body("errorInternal", "", "internal error (injected)");
const std::string kUnavailable =
    error_body("errorServiceUnavailable", "", "temporarily unavailable; retry later");
const std::string kForbidden = error_body("errorForbidden", "", "forbidden");
const std::string kForced = error_body("errorForcedStatus", "", "status forced by --force-status");
const std::string kBadTokenEncoding =
    error_body("errorValidation", "sessionToken", "sessionToken is not valid percent-encoding");
// Cut off in the middle of a string: no JSON parser accepts it.
constexpr std::string_view kMalformed = R"({"sessionState":"COMPLETED","checkOutUrl":"http://)";

bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// gateway::percent_encode_segment's rules, appended to a reused buffer.
void append_encoded(std::string& out, std::string_view token) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  bool dots = token == "." || token == "..";
  for (unsigned char c : token) {
    if (unreserved(c) && !(dots && c == '.')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xF]);
    }
  }
}

uint64_t mix_seed(uint64_t seed, uint64_t index) {
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL + index + 1;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

struct ParsedAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;
  bool ipv6 = false;
};

Result<ParsedAddress> parse_listen_address(const std::string& host, uint16_t port) {
  ParsedAddress a;
  if (host == "localhost") return parse_listen_address("127.0.0.1", port);
  auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
  if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    a.length = sizeof(sockaddr_in);
    return a;
  }
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
  if (inet_pton(AF_INET6, h.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    a.length = sizeof(sockaddr_in6);
    a.ipv6 = true;
    return a;
  }
  return Error::invalid(fmt::format("--listen: \"{}\" is not an IPv4 or IPv6 address", host));
}

void set_port(ParsedAddress& a, uint16_t port) {
  if (a.ipv6) {
    reinterpret_cast<sockaddr_in6*>(&a.storage)->sin6_port = htons(port);
  } else {
    reinterpret_cast<sockaddr_in*>(&a.storage)->sin_port = htons(port);
  }
}

// A session made by POST: when, and what its body said (for the checkout page).
struct CreatedSession {
  domain::MonotonicTime created;
  SessionBody body;
};

}  // namespace

struct Worker;

// A request whose answer waits for a timer (--latency) or that is never answered (--fault-timeout).
// The answer's headers and body are already in the request; only the send (or the close) waits.
// Owned by its Worker (Worker::deferred); its events are freed with it.
struct Deferred {
  Worker* worker = nullptr;
  evhttp_request* req = nullptr;      // owned by evhttp
  evhttp_connection* conn = nullptr;  // owned by evhttp
  EventPtr timer;
  EventPtr watch;  // notices the client closing while we wait
  int status = 0;
  bool hold = false;  // true: close at the timer instead of answering
};

// Everything the loops share. Written only before the threads start, except for the members
// with their own synchronisation (stats, limiter, created, fail_counts).
struct Shared {
  Shared(SimConfig c, domain::Clock& clk)
      : config(std::move(c)),
        clock(clk),
        start_time(clk.now()),
        stats(start_time, config.track_tokens),
        limiter(config.rate_limit.value_or(RateSchedule{{{domain::Duration::zero(), 1}}}),
                start_time) {}

  const SimConfig config;
  domain::Clock& clock;
  const domain::MonotonicTime start_time;
  SimStats stats;
  KeyedRateLimiter limiter;

  std::shared_mutex created_mu;  // guards `created` and `moved`
  std::unordered_map<std::string, CreatedSession> created;
  std::unordered_map<std::string, SessionState> moved;  // by hand, on the checkout page
  std::atomic<bool> any_created{false};
  std::atomic<bool> any_moved{false};
  std::atomic<uint64_t> created_counter{0};

  std::mutex fail_mu;
  std::unordered_map<std::string, uint32_t> fail_counts;

  // Answer bodies built once at start.
  std::string address;          // "127.0.0.1:8080"
  std::string checkout_base;    // "http://127.0.0.1:8080/checkout/"
  std::string state_prefix[4];  // {"sessionState":"NEW","checkOutUrl":"http://.../checkout/
  std::string pending_prefix;   // the same with "PENDING"
  std::string oversize_body;

  uint16_t port = 0;
  int wake_fds[2] = {-1, -1};
  std::vector<std::unique_ptr<Worker>> workers;
  std::vector<std::thread> threads;
  bool running = false;

  void stop();
};

struct Worker {
  Worker(Shared& s, int i) : sim(s), index(i), rng(mix_seed(s.config.seed, i)) {}
  ~Worker() { shutdown(); }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  Shared& sim;
  const int index;
  // Declared in creation order, so the implicit destruction order is also right; shutdown()
  // frees them in the same order explicitly (stop() needs it before the Worker goes).
  EventBasePtr base;
  EvhttpPtr http;
  EventPtr wake;
  std::unordered_map<Deferred*, std::unique_ptr<Deferred>> deferred;
  std::mt19937_64 rng;
  std::unordered_set<evhttp_connection*> connections;
  std::string token;    // decoded token of the current request (reused)
  std::string scratch;  // reused for encoding

  double uniform() { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

  void handle(evhttp_request* req);
  void handle_stats(evhttp_request* req, Route route);
  void handle_get(evhttp_request* req, domain::MonotonicTime now);
  void handle_post(evhttp_request* req, domain::MonotonicTime now);
  void handle_checkout(evhttp_request* req);
  void note_connection(evhttp_request* req);
  // The state a GET answers now; nullopt for an unknown token. `body` receives the POST body of a
  // session made by POST (for the checkout page), when not null.
  std::optional<SessionState> state_of(std::string_view token, domain::MonotonicTime now,
                                       SessionBody* body = nullptr);

  // Writes an answer into the request and sends it now or after the configured latency.
  void answer(evhttp_request* req, int status, std::string_view body, bool retry_after = false);
  // Sends an answer whose body is already in the request's output buffer.
  void finish(evhttp_request* req, int status);
  void hold(evhttp_request* req);
  void defer(evhttp_request* req, int status, bool hold, domain::Duration delay);
  void send_deferred(Deferred* d);
  void drop_deferred(Deferred* d);
  void shutdown();
};

namespace {

void on_request(evhttp_request* req, void* arg) { static_cast<Worker*>(arg)->handle(req); }

void on_connection_closed(evhttp_connection* conn, void* arg) {
  static_cast<Worker*>(arg)->connections.erase(conn);
}

void on_wake(evutil_socket_t, short, void* arg) {
  event_base_loopbreak(static_cast<Worker*>(arg)->base.get());
}

void on_deferred_timer(evutil_socket_t, short, void* arg) {
  auto* d = static_cast<Deferred*>(arg);
  if (d->hold) {
    d->worker->drop_deferred(d);
  } else {
    d->worker->send_deferred(d);
  }
}

void on_deferred_watch(evutil_socket_t fd, short, void* arg) {
  auto* d = static_cast<Deferred*>(arg);
  char byte;
  ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    d->worker->drop_deferred(d);  // the client gave up
  } else if (n < 0) {
    event_add(d->watch.get(), nullptr);  // spurious wake-up
  }
  // n > 0: the client sent its next request early. Watching again would spin on readable data,
  // so the timer alone ends this one.
}

timeval to_timeval(domain::Duration d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  return timeval{static_cast<time_t>(us / 1'000'000), static_cast<suseconds_t>(us % 1'000'000)};
}

}  // namespace

void Worker::note_connection(evhttp_request* req) {
  evhttp_connection* conn = evhttp_request_get_connection(req);
  if (conn == nullptr) return;
  if (connections.insert(conn).second) {
    sim.stats.on_connection();
    evhttp_connection_set_closecb(conn, on_connection_closed, this);
  }
}

void Worker::handle(evhttp_request* req) {
  const char* uri = evhttp_request_get_uri(req);
  Route route = route_of(uri != nullptr ? uri : "", token);
  evhttp_cmd_type method = evhttp_request_get_command(req);
  if (route == Route::kStats || route == Route::kStatsReset) {
    handle_stats(req, route);
    return;
  }
  if (route == Route::kCheckout) {  // a person's browser: no key, no faults, not counted
    handle_checkout(req);
    return;
  }
  domain::MonotonicTime now = sim.clock.now();
  sim.stats.on_request(now);
  note_connection(req);
  if (sim.config.verbose) {
    log::debug("{} {}", method == EVHTTP_REQ_POST ? "POST" : "GET", uri != nullptr ? uri : "");
  }
  if (route == Route::kSession && method == EVHTTP_REQ_GET) sim.stats.on_token(token);

  if (int forced = sim.config.force_status; forced != 0) {
    std::string_view body = forced == 401 ? kApiKeyInvalid : forced == 403 ? kForbidden : kForced;
    answer(req, forced, body, forced == 429 || forced == 503);
    return;
  }
  switch (route) {
    case Route::kUnknown:
      answer(req, 404, kNotFound);
      return;
    case Route::kBadEncoding:
      answer(req, 400, kBadTokenEncoding);
      return;
    case Route::kSessions:
      if (method != EVHTTP_REQ_POST) {
        answer(req, 405, kMethodNotAllowed);
        return;
      }
      break;
    case Route::kSession:
      if (method != EVHTTP_REQ_GET) {
        answer(req, 405, kMethodNotAllowed);
        return;
      }
      break;
    default:
      break;
  }

  const char* key = evhttp_find_header(evhttp_request_get_input_headers(req), "x-api-key");
  if (key == nullptr || !gateway::constant_time_equal(key, sim.config.api_key)) {
    answer(req, 401, kApiKeyInvalid);
    return;
  }
  if (sim.config.rate_limit && !sim.limiter.try_acquire(key, now)) {
    answer(req, 429, kTooManyRequests, true);
    return;
  }
  const bool is_get = route == Route::kSession;
  if (is_get && sim.config.fail_first > 0) {
    bool fail;
    {
      std::lock_guard lock(sim.fail_mu);
      uint32_t& n = sim.fail_counts[token];
      fail = n < sim.config.fail_first;
      if (fail) ++n;
    }
    if (fail) {
      sim.stats.on_fault(Fault::kFailFirst);
      answer(req, 503, kUnavailable, true);
      return;
    }
  }

  const FaultMix& f = sim.config.faults;
  if (f.sum() > 0) {
    double u = uniform();
    double edge = f.status_500;
    if (u < edge) {
      sim.stats.on_fault(Fault::kStatus500);
      answer(req, 500, kInternal);
      return;
    }
    if (u < (edge += f.status_503)) {
      sim.stats.on_fault(Fault::kStatus503);
      answer(req, 503, kUnavailable, true);
      return;
    }
    if (u < (edge += f.timeout)) {
      sim.stats.on_fault(Fault::kTimeout);
      hold(req);
      return;
    }
    if (u < (edge += f.malformed)) {
      sim.stats.on_fault(Fault::kMalformed);
      answer(req, 200, kMalformed);
      return;
    }
    if (u < (edge += f.oversize)) {
      sim.stats.on_fault(Fault::kOversize);
      evkeyvalq* headers = evhttp_request_get_output_headers(req);
      evhttp_add_header(headers, "Content-Type", "application/json");
      evbuffer_add_reference(evhttp_request_get_output_buffer(req), sim.oversize_body.data(),
                             sim.oversize_body.size(), nullptr, nullptr);
      finish(req, 200);
      return;
    }
    if (u < (edge += f.unknown_state) && is_get) {
      sim.stats.on_fault(Fault::kUnknownState);
      scratch.assign(sim.pending_prefix);
      append_encoded(scratch, token);
      scratch += "\"}";
      answer(req, 200, scratch);
      return;
    }
  }

  if (is_get) {
    handle_get(req, now);
  } else {
    handle_post(req, now);
  }
}

std::optional<SessionState> Worker::state_of(std::string_view t, domain::MonotonicTime now,
                                             SessionBody* body) {
  const SimConfig& c = sim.config;
  domain::MonotonicTime created = sim.start_time;
  bool known = c.accept_any_token || preload_index(t, c.seed, c.preload).has_value();
  bool made_by_post = false;
  const bool look_up_created = !known && sim.any_created.load(std::memory_order_acquire);
  const bool look_up_moved = sim.any_moved.load(std::memory_order_acquire);
  if (look_up_created || look_up_moved) {
    std::shared_lock lock(sim.created_mu);
    // Heterogeneous lookup needs C++20 transparent hashing; a copy of a short token is cheap here.
    const std::string key(t);
    if (look_up_created) {
      if (auto it = sim.created.find(key); it != sim.created.end()) {
        known = made_by_post = true;
        created = it->second.created;
        if (body != nullptr) *body = it->second.body;
      }
    }
    if (known && look_up_moved) {
      if (auto it = sim.moved.find(key); it != sim.moved.end()) return it->second;
    }
  }
  if (!known) return std::nullopt;
  // A session made by POST is NEW, as the page says, until the checkout page moves it or, with
  // --new-for, until that long after its creation.
  if (made_by_post && c.new_for.count() == 0) return SessionState::kNew;
  if (c.new_for.count() > 0 && now < created + c.new_for) return SessionState::kNew;
  return outcome_for(t, c.seed, c.outcomes);
}

void Worker::handle_get(evhttp_request* req, domain::MonotonicTime now) {
  auto state = state_of(token, now);
  if (!state) {
    answer(req, 404, kSessionNotFound);
    return;
  }
  scratch.assign(sim.state_prefix[static_cast<int>(*state)]);
  append_encoded(scratch, token);
  scratch += "\"}";
  answer(req, 200, scratch);
}

void Worker::handle_post(evhttp_request* req, domain::MonotonicTime now) {
  // Content type first: the page has the hash computed over the JSON text of the body, so a body
  // not declared as JSON has no hash to check (README, "The simulator and the API page").
  evkeyvalq* in = evhttp_request_get_input_headers(req);
  const char* content_type = evhttp_find_header(in, "content-type");
  if (content_type == nullptr || !is_json_content_type(content_type)) {
    answer(req, 415, kUnsupportedMediaType);
    return;
  }
  evbuffer* body_buf = evhttp_request_get_input_buffer(req);
  size_t length = evbuffer_get_length(body_buf);
  const char* data = length > 0 ? reinterpret_cast<const char*>(evbuffer_pullup(body_buf, -1)) : "";
  std::string_view body(data, length);

  // Over the bytes received, as the page's sample signs the exact text it sends.
  const char* hash = evhttp_find_header(in, "x-payload-hash");
  if (hash == nullptr || !gateway::constant_time_equal(
                             hash, gateway::hmac_sha512_base64(sim.config.hmac_secret, body))) {
    answer(req, 401, kHmacMismatch);
    return;
  }
  BodyCheck check = check_create_session_body(body);
  if (!check.body) {
    answer(req, 400, error_body("errorValidation", check.problem.field, check.problem.message));
    return;
  }
  uint64_t n = sim.created_counter.fetch_add(1);
  std::string new_token = created_token(sim.config.seed, n);
  {
    std::unique_lock lock(sim.created_mu);
    sim.created.emplace(new_token, CreatedSession{now, std::move(*check.body)});
  }
  sim.any_created.store(true, std::memory_order_release);
  sim.stats.on_session_created();
  std::string out = fmt::format(R"({{"sessionToken":"{}","checkOutUrl":"{}{}"}})", new_token,
                                sim.checkout_base, new_token);
  answer(req, 200, out);
}

void Worker::handle_checkout(evhttp_request* req) {
  evkeyvalq* headers = evhttp_request_get_output_headers(req);
  evbuffer* out = evhttp_request_get_output_buffer(req);
  const domain::MonotonicTime now = sim.clock.now();
  SessionBody body;
  const std::optional<SessionState> state = state_of(token, now, &body);
  CheckoutView view;
  view.token = token;
  view.state = state;
  view.body = &body;
  int status = 200;
  if (!state) {
    status = 404;
  } else if (evhttp_request_get_command(req) == EVHTTP_REQ_POST) {
    evbuffer* in = evhttp_request_get_input_buffer(req);
    const size_t length = evbuffer_get_length(in);
    const char* data = length > 0 ? reinterpret_cast<const char*>(evbuffer_pullup(in, -1)) : "";
    const std::optional<SessionState> target =
        parse_checkout_action(std::string_view(data, length));
    if (!target) {
      status = 400;
      view.notice = "Unknown action.";
    } else if (*state != SessionState::kNew) {
      status = 409;
      view.notice = "This session has already ended.";
    } else {
      {
        std::unique_lock lock(sim.created_mu);
        sim.moved[token] = *target;
      }
      sim.any_moved.store(true, std::memory_order_release);
      // Back to the merchant (redirectUrl) when the session asked for it, else to this page.
      std::string location = body.redirect_url;
      if (location.empty()) {
        location = "/checkout/";
        append_encoded(location, token);
      }
      evhttp_add_header(headers, "Location", location.c_str());
      evhttp_send_reply(req, 303, "See Other", nullptr);
      return;
    }
  }
  const std::string page = render_checkout_page(view);
  evhttp_add_header(headers, "Content-Type", "text/html; charset=utf-8");
  evhttp_add_header(headers, "Cache-Control", "no-store");
  evbuffer_add(out, page.data(), page.size());
  evhttp_send_reply(req, status, nullptr, nullptr);
}

void Worker::handle_stats(evhttp_request* req, Route route) {
  evhttp_cmd_type method = evhttp_request_get_command(req);
  evkeyvalq* headers = evhttp_request_get_output_headers(req);
  evhttp_add_header(headers, "Content-Type", "application/json");
  evbuffer* out = evhttp_request_get_output_buffer(req);
  domain::MonotonicTime now = sim.clock.now();
  if (route == Route::kStats && method == EVHTTP_REQ_GET) {
    std::string body =
        sim.stats.to_json(now).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    evbuffer_add(out, body.data(), body.size());
    evhttp_send_reply(req, 200, nullptr, nullptr);
  } else if (route == Route::kStatsReset && method == EVHTTP_REQ_POST) {
    sim.stats.reset(now);
    evbuffer_add(out, R"({"reset":true})", 14);
    evhttp_send_reply(req, 200, nullptr, nullptr);
  } else {
    evbuffer_add(out, kMethodNotAllowed.data(), kMethodNotAllowed.size());
    evhttp_send_reply(req, 405, nullptr, nullptr);
  }
}

void Worker::answer(evhttp_request* req, int status, std::string_view body, bool retry_after) {
  evkeyvalq* headers = evhttp_request_get_output_headers(req);
  evhttp_add_header(headers, "Content-Type", "application/json");
  if (retry_after) evhttp_add_header(headers, "Retry-After", "1");
  evbuffer_add(evhttp_request_get_output_buffer(req), body.data(), body.size());
  finish(req, status);
}

void Worker::finish(evhttp_request* req, int status) {
  const SimConfig& c = sim.config;
  domain::Duration delay = c.latency;
  if (c.latency_jitter.count() > 0) {
    delay += domain::Duration(
        static_cast<int64_t>(uniform() * static_cast<double>(c.latency_jitter.count())));
  }
  if (delay.count() > 0) {
    defer(req, status, false, delay);
    return;
  }
  evhttp_send_reply(req, status, nullptr, nullptr);
  sim.stats.on_response(status);
}

void Worker::hold(evhttp_request* req) { defer(req, 0, true, sim.config.hold_limit); }

void Worker::defer(evhttp_request* req, int status, bool hold_it, domain::Duration delay) {
  auto d = std::make_unique<Deferred>();
  d->worker = this;
  d->req = req;
  d->conn = evhttp_request_get_connection(req);
  d->status = status;
  d->hold = hold_it;
  d->timer.reset(evtimer_new(base.get(), on_deferred_timer, d.get()));
  evutil_socket_t fd = -1;
  if (d->conn != nullptr) {
    if (bufferevent* bev = evhttp_connection_get_bufferevent(d->conn)) fd = bufferevent_getfd(bev);
  }
  if (fd >= 0) d->watch.reset(event_new(base.get(), fd, EV_READ, on_deferred_watch, d.get()));
  if (!d->timer) {
    // Out of memory for a timer: answer at once rather than lose the request.
    const int now_status = hold_it ? 504 : status;
    evhttp_send_reply(req, now_status, nullptr, nullptr);
    sim.stats.on_response(now_status);
    return;
  }
  timeval tv = to_timeval(delay);
  evtimer_add(d->timer.get(), &tv);
  if (d->watch) event_add(d->watch.get(), nullptr);
  Deferred* key = d.get();
  deferred.emplace(key, std::move(d));
}

// Both take the Deferred out of `deferred` and free its events before touching the connection
// (whose socket the watch event refers to); the Deferred itself goes at the end of the scope.
void Worker::send_deferred(Deferred* d) {
  auto owned = std::move(deferred.at(d));
  deferred.erase(d);
  owned->timer.reset();
  owned->watch.reset();
  evhttp_send_reply(d->req, d->status, nullptr, nullptr);
  sim.stats.on_response(d->status);
}

void Worker::drop_deferred(Deferred* d) {
  auto owned = std::move(deferred.at(d));
  deferred.erase(d);
  owned->timer.reset();
  owned->watch.reset();
  sim.stats.on_abandoned();
  // Frees the request with the connection; the client sees the connection close without an answer.
  if (d->conn != nullptr) evhttp_connection_free(d->conn);
}

void Worker::shutdown() {
  deferred.clear();  // their events first; each request goes with its connection in evhttp_free
  http.reset();
  wake.reset();
  base.reset();
}

void Shared::stop() {
  if (!threads.empty()) {
    char byte = 'x';
    while (write(wake_fds[1], &byte, 1) < 0 && errno == EINTR) {
    }
    for (auto& t : threads) t.join();
    threads.clear();
  }
  for (auto& w : workers) w->shutdown();
  workers.clear();
  for (int& fd : wake_fds) {
    if (fd >= 0) close(fd);
    fd = -1;
  }
  running = false;
}

struct SimServer::Impl {
  Impl(SimConfig config, domain::Clock& clock) : shared(std::move(config), clock) {}
  Shared shared;
};

SimServer::SimServer(SimConfig config, domain::Clock& clock)
    : impl_(std::make_unique<Impl>(std::move(config), clock)) {}

SimServer::~SimServer() { stop(); }

uint16_t SimServer::port() const { return impl_->shared.port; }

std::string SimServer::address() const { return impl_->shared.address; }

void SimServer::stop() { impl_->shared.stop(); }

Status SimServer::start() {
  Shared& s = impl_->shared;
  if (s.running) return Error::internal("the simulator is already running");
  const SimConfig& c = s.config;
  auto addr = parse_listen_address(c.listen, c.port);
  if (!addr) return addr.error();
  if (pipe2(s.wake_fds, O_CLOEXEC | O_NONBLOCK) != 0) {
    return Error::internal(fmt::format("pipe2: {}", std::strerror(errno)));
  }
  auto fail = [&](std::string message) -> Status {
    s.stop();
    return Error::unavailable(std::move(message));
  };

  unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;
  // Only with several loops: SO_REUSEPORT would also let a second simulator share the port.
  if (c.threads > 1) flags |= LEV_OPT_REUSEABLE_PORT;
  for (int i = 0; i < c.threads; ++i) {
    auto w = std::make_unique<Worker>(s, i);
    w->base.reset(event_base_new());
    if (!w->base) return fail("event_base_new failed");
    w->http.reset(evhttp_new(w->base.get()));
    if (!w->http) return fail("evhttp_new failed");
    evhttp_set_allowed_methods(w->http.get(), EVHTTP_REQ_GET | EVHTTP_REQ_POST);
    evhttp_set_max_body_size(w->http.get(), kMaxBodyBytes);
    evhttp_set_max_headers_size(w->http.get(), kMaxHeaderBytes);
    evhttp_set_gencb(w->http.get(), on_request, w.get());
    w->wake.reset(event_new(w->base.get(), s.wake_fds[0], EV_READ | EV_PERSIST, on_wake, w.get()));
    if (!w->wake || event_add(w->wake.get(), nullptr) != 0) return fail("event_new failed");

    errno = 0;
    ListenerPtr listener(
        evconnlistener_new_bind(w->base.get(), nullptr, nullptr, flags, kListenBacklog,
                                reinterpret_cast<sockaddr*>(&addr->storage), addr->length));
    if (!listener) {
      int err = errno;
      s.workers.push_back(std::move(w));
      return fail(fmt::format("cannot listen on {} port {}: {}", c.listen, i == 0 ? c.port : s.port,
                              err != 0 ? std::strerror(err) : "error"));
    }
    if (i == 0) {
      sockaddr_storage bound{};
      socklen_t len = sizeof bound;
      getsockname(evconnlistener_get_fd(listener.get()), reinterpret_cast<sockaddr*>(&bound), &len);
      s.port =
          ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port
                                            : reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
      set_port(*addr, s.port);
    }
    if (evhttp_bind_listener(w->http.get(), listener.get()) == nullptr) {
      listener.reset();  // before its event_base goes in fail()
      s.workers.push_back(std::move(w));
      return fail("evhttp_bind_listener failed");
    }
    (void)listener.release();  // evhttp owns it now
    s.workers.push_back(std::move(w));
  }

  std::string host = c.listen == "localhost" ? "127.0.0.1" : c.listen;
  if (addr->ipv6 && host.front() != '[') host = fmt::format("[{}]", host);
  s.address = fmt::format("{}:{}", host, s.port);
  s.checkout_base = fmt::format("http://{}/checkout/", s.address);
  for (auto st : {SessionState::kNew, SessionState::kCompleted, SessionState::kExpired,
                  SessionState::kFailed}) {
    s.state_prefix[static_cast<int>(st)] = fmt::format(R"({{"sessionState":"{}","checkOutUrl":"{})",
                                                       domain::to_string(st), s.checkout_base);
  }
  s.pending_prefix =
      fmt::format(R"({{"sessionState":"PENDING","checkOutUrl":"{})", s.checkout_base);
  if (c.faults.oversize > 0) {
    // Valid JSON with a real state, so only a size cap protects the client.
    std::string head = R"({"sessionState":"COMPLETED","padding":")";
    s.oversize_body = head;
    s.oversize_body.append(kOversizeBytes - head.size() - 2, 'x');
    s.oversize_body += "\"}";
  }

  for (auto& w : s.workers) {
    s.threads.emplace_back([base = w->base.get()] { event_base_dispatch(base); });
  }
  s.running = true;
  return ok_status();
}

}  // namespace dr::sim
