#include "http/native_engine.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <deque>
#include <optional>
#include <unordered_map>
#include <utility>

#include "common/log.h"
#include "http/http1_codec.h"
#include "http/proxy.h"
#include "http/tls_client.h"

namespace dr::http {

namespace {

using internal::Http1ResponseParser;
using internal::Ssl;
using internal::SslCtx;
using internal::iequals;
using internal::SslSession;
using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;

constexpr size_t kReadBufferBytes = 32 * 1024;
constexpr int kMaxEvents = 256;
// A host that did not resolve is not looked up again for this long (getaddrinfo blocks the loop).
constexpr auto kResolveFailureMemory = std::chrono::seconds(5);
// HTTP/2: streams assumed per connection until the server's SETTINGS arrive (nghttp2's own
// default), our receive windows, and how much may wait unsent before nghttp2 is asked for more.
constexpr uint32_t kAssumedMaxStreams = 100;
constexpr int32_t kStreamWindow = 1 << 20;
constexpr int32_t kConnectionWindow = 1 << 24;
constexpr size_t kMaxUnsentBytes = 256 * 1024;
// A proxy's answer to CONNECT larger than this is not an answer.
constexpr size_t kMaxTunnelResponseBytes = 16 * 1024;

long to_ms(domain::Duration d) {
  return static_cast<long>(std::chrono::ceil<std::chrono::milliseconds>(d).count());
}

// A request URL taken apart; the views point into the request's own copy of the URL.
struct UrlParts {
  bool tls = false;
  std::string_view origin;     // "scheme://authority": the connection pool's key
  std::string_view authority;  // "host[:port]" as written: the Host header, :authority
  std::string_view host;       // without brackets
  uint16_t port = 0;
  std::string_view target;  // path and query; may be empty or start with '?': see target()
};

// One line naming what is wrong with the URL, or empty when it is usable.
std::string parse_url(std::string_view url, UrlParts& out) {
  const size_t sep = url.find("://");
  if (sep == std::string_view::npos) return "URL using bad/illegal format or missing URL";
  const std::string_view scheme = url.substr(0, sep);
  if (iequals(scheme, "http")) {
    out.tls = false;
  } else if (iequals(scheme, "https")) {
    out.tls = true;
  } else {
    return "Protocol \"" + std::string(scheme.substr(0, 16)) + "\" not supported";
  }
  std::string_view rest = url.substr(sep + 3);
  const size_t authority_end = rest.find_first_of("/?#");
  out.authority = rest.substr(0, authority_end);
  out.origin = url.substr(0, sep + 3 + out.authority.size());
  std::string_view target =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  out.target = target.substr(0, target.find('#'));
  if (out.authority.find('@') != std::string_view::npos) {
    return "URL with user info is not supported";
  }
  if (out.authority.empty()) return "No host part in the URL";
  std::string_view port_text;
  if (out.authority.front() == '[') {
    const size_t close = out.authority.find(']');
    if (close == std::string_view::npos) return "URL using bad/illegal format or missing URL";
    out.host = out.authority.substr(1, close - 1);
    std::string_view after = out.authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return "URL using bad/illegal format or missing URL";
      port_text = after.substr(1);
    }
  } else {
    const size_t colon = out.authority.rfind(':');
    out.host = out.authority.substr(0, colon);
    if (colon != std::string_view::npos) port_text = out.authority.substr(colon + 1);
  }
  if (out.host.empty()) return "No host part in the URL";
  out.port = out.tls ? 443 : 80;
  if (!port_text.empty()) {
    unsigned value = 0;
    const auto r = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (r.ec != std::errc() || r.ptr != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      return "Port number was not a decimal number between 1 and 65535";
    }
    out.port = static_cast<uint16_t>(value);
  }
  return {};
}

enum class Protocol { kUnknown, kHttp1, kHttp2 };

struct Conn;
struct Origin;

struct Request {
  uint64_t seq = 0;  // changes whenever the slot is reused: stale timers are recognised by it
  bool active = false;
  uint64_t id = 0;
  HttpRequest::Method method = HttpRequest::Method::kGet;
  std::string url;
  UrlParts parts;
  std::string body;
  size_t body_sent = 0;  // HTTP/2: what the data provider handed nghttp2
  std::vector<std::string> extra_headers;
  TimePoint started;
  Origin* origin = nullptr;
  Conn* conn = nullptr;  // null while pending
  int32_t stream_id = 0;
  bool retried = false;  // sent once more after a connection closed under it
  // HTTP/2 response (HTTP/1.1 keeps it in the connection's parser).
  int status = 0;
  std::string response_body;
  std::string retry_after;
  bool too_large = false;
};

struct Address {
  sockaddr_storage addr{};
  socklen_t len = 0;
  int family = AF_INET;
};

struct Origin {
  std::string key;  // "scheme://authority" as the URLs spell it
  bool tls = false;
  std::string host;
  std::string authority;
  uint16_t port = 0;
  // Through a proxy (proxy.h decides, as libcurl does): https origins through a CONNECT tunnel,
  // http origins by absolute-form requests to the proxy. The TCP peer is then the proxy.
  std::optional<ProxyRoute> proxy;
  std::string route_error;      // the proxy variable could not be used: every request fails
  std::string connect_host;     // whom the socket connects to: the host, or the proxy
  uint16_t connect_port = 0;
  std::string connect_request;  // the CONNECT request (https through a proxy)
  std::string proxy_headers;    // absolute-form: the proxy's header lines, then the engine's
  Protocol protocol = Protocol::kUnknown;
  std::vector<Address> addresses;
  std::string resolve_error;
  TimePoint resolve_failed_at{};
  std::deque<Request*> pending;
  std::vector<Conn*> idle;  // HTTP/1.1 connections ready for a request
  std::vector<Conn*> h2;    // HTTP/2 connections (ready)
  size_t connecting = 0;    // connections opened and not yet ready
  size_t connections = 0;   // all of this origin's open connections
  SslSession session;       // the latest TLS session, offered for resumption
  bool dispatch_scheduled = false;
};

struct Conn {
  enum class State { kConnecting, kTunneling, kHandshaking, kReady };

  uint64_t seq = 0;
  int fd = -1;
  Origin* origin = nullptr;
  State state = State::kConnecting;
  Protocol protocol = Protocol::kUnknown;
  size_t address = 0;  // index into origin->addresses being tried
  TimePoint connect_started;
  uint32_t events = 0;  // the epoll interest registered
  Ssl ssl;
  std::string tls_out;  // application bytes to encrypt (TLS only)
  std::string wbuf;     // bytes for the socket
  size_t woff = 0;
  bool dirty = false;   // in Impl::dirty
  bool reused = false;  // carried a request before the current one
  bool sent_any = false;
  bool peer_closed = false;  // EPOLLRDHUP seen with the bytes being read
  std::string tunnel_in;  // the proxy's answer to CONNECT, until its blank line
  int proxy_status = 0;   // that answer's status
  // HTTP/1.1
  Request* request = nullptr;
  Http1ResponseParser parser;
  void* engine = nullptr;  // the NativeEngine::Impl, for nghttp2's callbacks
  // HTTP/2
  nghttp2_session* h2 = nullptr;
  size_t streams = 0;
  bool settings_received = false;
  bool no_new_streams = false;  // GOAWAY received, or stream ids used up
};

struct TimerEntry {
  TimePoint due;
  void* what;
  uint64_t seq;
};

std::string connect_error(const Origin& o, int err) {
  return "Failed to connect to " + o.connect_host + " port " + std::to_string(o.connect_port) +
         ": " + std::strerror(err);
}

}  // namespace

struct NativeEngine::Impl {
  EngineOptions options;
  EnvReader env;  // the proxy variables, read once per origin
  int epoll_fd = -1;
  int wake_fd = -1;
  SslCtx tls;                    // created on the first https origin
  std::string fixed_h1_headers;  // "User-Agent: ...\r\nAccept: */*\r\n<defaults>\r\n"
  std::vector<std::pair<std::string, std::string>> h2_headers;  // user-agent, accept, defaults
  nghttp2_session_callbacks* h2_callbacks = nullptr;
  nghttp2_option* h2_option = nullptr;

  std::unordered_map<std::string, std::unique_ptr<Origin>> origins;
  Origin* last_origin = nullptr;

  std::vector<std::unique_ptr<Request>> requests;
  std::vector<Request*> free_requests;
  std::vector<std::unique_ptr<Conn>> conns;
  std::vector<Conn*> free_conns;
  std::vector<Conn*> closed_this_round;  // back to free_conns after the events of one wait
  std::vector<std::pair<Conn*, uint64_t>> dirty;
  std::vector<Origin*> to_dispatch;
  std::deque<TimerEntry> request_timers;  // in start order: one total timeout for all
  std::deque<TimerEntry> connect_timers;  // in open order: one connect timeout for all

  std::vector<HttpResponse> finished;
  size_t outstanding = 0;  // started and not yet returned by poll()
  size_t open_connections = 0;
  size_t connections_opened = 0;
  std::string scratch;
  ConnectOutcome last_failure;  // of the latest connection that failed before it was ready

  ~Impl() {
    for (auto& c : conns) {
      if (c->fd >= 0) ::close(c->fd);
      if (c->h2 != nullptr) {
        nghttp2_session* s = c->h2;
        c->h2 = nullptr;  // callbacks during the delete find no connection
        nghttp2_session_del(s);
      }
    }
    if (h2_callbacks != nullptr) nghttp2_session_callbacks_del(h2_callbacks);
    if (h2_option != nullptr) nghttp2_option_del(h2_option);
    if (wake_fd >= 0) ::close(wake_fd);
    if (epoll_fd >= 0) ::close(epoll_fd);
  }

  // ---- requests ---------------------------------------------------------------------------

  Request* acquire_request() {
    if (free_requests.empty()) {
      requests.push_back(std::make_unique<Request>());
      free_requests.push_back(requests.back().get());
    }
    Request* r = free_requests.back();
    free_requests.pop_back();
    ++r->seq;
    r->active = true;
    r->conn = nullptr;
    r->origin = nullptr;
    r->stream_id = 0;
    r->retried = false;
    r->status = 0;
    r->response_body.clear();
    r->retry_after.clear();
    r->too_large = false;
    r->body_sent = 0;
    return r;
  }

  // Hands the request's outcome to the next poll() and frees its slot.
  void complete(Request* r, TransportError error, std::string message, int status = 0,
                std::string* body = nullptr, std::string* retry_after = nullptr) {
    HttpResponse out;
    out.id = r->id;
    out.error = error;
    out.status = status;
    if (body != nullptr) out.body = std::move(*body);
    if (retry_after != nullptr) out.retry_after = std::move(*retry_after);
    out.error_message = std::move(message);
    out.elapsed = std::chrono::duration_cast<domain::Duration>(SteadyClock::now() - r->started);
    finished.push_back(std::move(out));
    r->active = false;
    r->conn = nullptr;
    r->body.clear();
    r->extra_headers.clear();
    free_requests.push_back(r);
  }

  void fail_now(uint64_t id, std::string message) {
    Request* r = acquire_request();
    r->id = id;
    r->started = SteadyClock::now();
    complete(r, TransportError::kOther, std::move(message));
  }

  void timeout_message_complete(Request* r, size_t received) {
    complete(r, TransportError::kTimeout,
             "Operation timed out after " + std::to_string(to_ms(options.total_timeout)) +
                 " milliseconds with " + std::to_string(received) + " bytes received");
  }

  // ---- origins and connections ------------------------------------------------------------

  Origin* origin_for(const UrlParts& parts) {
    if (last_origin != nullptr && last_origin->key == parts.origin) return last_origin;
    std::string key(parts.origin);
    auto it = origins.find(key);
    if (it == origins.end()) {
      auto o = std::make_unique<Origin>();
      o->key = key;
      o->tls = parts.tls;
      o->host = std::string(parts.host);
      o->authority = std::string(parts.authority);
      o->port = parts.port;
      o->protocol = parts.tls ? Protocol::kUnknown : Protocol::kHttp1;
      route(*o);
      it = origins.emplace(std::move(key), std::move(o)).first;
    }
    last_origin = it->second.get();
    return last_origin;
  }

  // Decides whether the origin is reached through a proxy and prepares what that takes.
  void route(Origin& o) {
    o.connect_host = o.host;
    o.connect_port = o.port;
    if (!env) return;
    auto proxy = proxy_for(o.key, env);
    if (!proxy) {
      o.route_error = proxy.error().message;
      return;
    }
    if (!*proxy) return;
    if ((*proxy)->scheme != ProxyRoute::Scheme::kHttp) {
      o.route_error = (*proxy)->variable + " names a " + std::string(to_string((*proxy)->scheme)) +
                      " proxy; the native HTTP client speaks only to http:// proxies";
      return;
    }
    o.proxy = std::move(**proxy);
    o.connect_host = o.proxy->host;
    o.connect_port = o.proxy->port;
    std::string auth;
    if (!o.proxy->authorization.empty()) {
      auth = "Proxy-Authorization: " + o.proxy->authorization + "\r\n";
    }
    if (o.tls) {
      // As libcurl sends it: the target as host:port, Host the same, no request of ours.
      const std::string target = o.host.find(':') != std::string::npos
                                     ? "[" + o.host + "]:" + std::to_string(o.port)
                                     : o.host + ":" + std::to_string(o.port);
      o.connect_request = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n" + auth +
                          "User-Agent: " + options.user_agent +
                          "\r\nProxy-Connection: Keep-Alive\r\n\r\n";
    } else {
      o.proxy_headers = auth + fixed_h1_headers + "Proxy-Connection: Keep-Alive\r\n";
    }
  }

  // Resolves once per host (a failure is remembered for a few seconds); empty on success.
  std::string resolve(Origin& o) {
    if (!o.addresses.empty()) return {};
    const TimePoint now = SteadyClock::now();
    if (!o.resolve_error.empty() && now - o.resolve_failed_at < kResolveFailureMemory) {
      return o.resolve_error;
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    addrinfo* list = nullptr;
    const std::string port = std::to_string(o.connect_port);
    const int rc = ::getaddrinfo(o.connect_host.c_str(), port.c_str(), &hints, &list);
    if (rc != 0 || list == nullptr) {
      o.resolve_error = (o.proxy ? "Could not resolve proxy: " : "Could not resolve host: ") +
                        o.connect_host;
      o.resolve_failed_at = now;
      return o.resolve_error;
    }
    for (addrinfo* a = list; a != nullptr; a = a->ai_next) {
      if (a->ai_addrlen > sizeof(sockaddr_storage)) continue;
      Address addr;
      std::memcpy(&addr.addr, a->ai_addr, a->ai_addrlen);
      addr.len = a->ai_addrlen;
      addr.family = a->ai_family;
      o.addresses.push_back(addr);
    }
    ::freeaddrinfo(list);
    o.resolve_error.clear();
    if (o.addresses.empty()) {
      return (o.proxy ? "Could not resolve proxy: " : "Could not resolve host: ") + o.connect_host;
    }
    return {};
  }

  void set_events(Conn* c, uint32_t events) {
    if (c->events == events) return;
    epoll_event ev{};
    ev.events = events;
    ev.data.ptr = c;
    if (::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
      log::warn("epoll_ctl: {}", std::strerror(errno));
    }
    c->events = events;
  }

  // Starts a TCP connect to the current address; an error number on failure (0: under way).
  int start_connect(Conn* c) {
    const Address& a = c->origin->addresses[c->address];
    c->fd = ::socket(a.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) return errno;
    const int one = 1;
    ::setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    ::setsockopt(c->fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    if (::connect(c->fd, reinterpret_cast<const sockaddr*>(&a.addr), a.len) != 0 &&
        errno != EINPROGRESS) {
      const int err = errno;
      ::close(c->fd);
      c->fd = -1;
      return err;
    }
    // Even a connect that completed at once is taken up by the EPOLLOUT it raises, so nothing
    // here calls back into dispatch().
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.ptr = c;
    if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
      const int err = errno;
      ::close(c->fd);
      c->fd = -1;
      return err;
    }
    c->events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    return 0;
  }

  // Opens a connection to `o`; false (with `error` and `message`) when it could not even start.
  bool open_connection(Origin& o, TransportError& error, std::string& message,
                       Conn** opened = nullptr) {
    if (!o.route_error.empty()) {
      error = TransportError::kOther;
      message = o.route_error;
      return false;
    }
    if (std::string e = resolve(o); !e.empty()) {
      error = TransportError::kResolve;
      message = std::move(e);
      return false;
    }
    if (free_conns.empty()) {
      conns.push_back(std::make_unique<Conn>());
      free_conns.push_back(conns.back().get());
    }
    Conn* c = free_conns.back();
    ++c->seq;
    c->origin = &o;
    c->engine = this;
    c->state = Conn::State::kConnecting;
    c->protocol = Protocol::kUnknown;
    c->address = 0;
    c->connect_started = SteadyClock::now();
    c->wbuf.clear();
    c->woff = 0;
    c->tls_out.clear();
    c->dirty = false;
    c->reused = false;
    c->sent_any = false;
    c->peer_closed = false;
    c->tunnel_in.clear();
    c->proxy_status = 0;
    c->request = nullptr;
    c->streams = 0;
    c->settings_received = false;
    c->no_new_streams = false;
    int err = ECONNREFUSED;
    while (c->address < o.addresses.size() && (err = start_connect(c)) != 0) ++c->address;
    if (c->fd < 0) {
      error = TransportError::kConnect;
      message = connect_error(o, err);
      return false;
    }
    free_conns.pop_back();
    ++o.connections;
    ++o.connecting;
    ++open_connections;
    ++connections_opened;
    connect_timers.push_back({c->connect_started + options.connect_timeout, c, c->seq});
    if (opened != nullptr) *opened = c;
    return true;
  }

  void remove_from(std::vector<Conn*>& list, Conn* c) {
    auto it = std::find(list.begin(), list.end(), c);
    if (it != list.end()) list.erase(it);
  }

  // Closes the socket and returns the slot; the caller has dealt with its requests.
  void close_connection(Conn* c) {
    Origin& o = *c->origin;
    if (c->state != Conn::State::kReady) --o.connecting;
    --o.connections;
    --open_connections;
    remove_from(o.idle, c);
    remove_from(o.h2, c);
    if (c->fd >= 0) {
      ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, nullptr);
      ::close(c->fd);
      c->fd = -1;
    }
    if (c->h2 != nullptr) {
      nghttp2_session* s = c->h2;
      c->h2 = nullptr;  // callbacks during the delete find no connection
      nghttp2_session_del(s);
    }
    c->ssl.reset();
    c->request = nullptr;
    ++c->seq;
    closed_this_round.push_back(c);
    schedule_dispatch(o);
  }

  void schedule_dispatch(Origin& o) {
    if (o.dispatch_scheduled) return;
    o.dispatch_scheduled = true;
    to_dispatch.push_back(&o);
  }

  void mark_dirty(Conn* c) {
    if (c->dirty) return;
    c->dirty = true;
    dirty.emplace_back(c, c->seq);
  }

  // A connection that never became ready failed: the requests that waited for it learn why.
  void connection_failed(Conn* c, TransportError error, const std::string& message) {
    Origin& o = *c->origin;
    last_failure.error = error;
    last_failure.message = message;
    last_failure.proxy_status = c->proxy_status;
    last_failure.verify_result = c->ssl ? SSL_get_verify_result(c->ssl.get()) : 0;
    const bool first_of_its_kind = o.protocol == Protocol::kUnknown;
    close_connection(c);
    if (first_of_its_kind) {
      fail_pending(o, error, message);
    } else if (o.connecting < o.pending.size() && o.idle.empty()) {
      Request* r = o.pending.front();
      o.pending.pop_front();
      complete(r, error, message);
    }
  }

  void fail_pending(Origin& o, TransportError error, const std::string& message) {
    while (!o.pending.empty()) {
      Request* r = o.pending.front();
      o.pending.pop_front();
      complete(r, error, message);
    }
  }

  // A ready connection failed or closed under its requests.
  void connection_lost(Conn* c, const std::string& message) {
    if (c->protocol == Protocol::kHttp2) {
      for (auto& r : requests) {
        if (r->active && r->conn == c) complete(r.get(), TransportError::kOther, message);
      }
      close_connection(c);
      return;
    }
    Request* r = c->request;
    c->request = nullptr;
    const bool nothing_back = c->parser.bytes_seen() == 0;
    const bool may_resend = r != nullptr && c->reused && nothing_back && !r->retried &&
                            r->method == HttpRequest::Method::kGet;
    Origin& o = *c->origin;
    close_connection(c);
    if (r == nullptr) return;
    if (may_resend) {
      // The server closed a kept-alive connection as the request went out: it never got it, or
      // got it and answered nothing. A GET is sent once more on a fresh connection.
      r->retried = true;
      r->conn = nullptr;
      o.pending.push_front(r);
      return;
    }
    complete(r, TransportError::kOther, message);
  }

  // ---- dispatch: pending requests onto connections ------------------------------------------

  size_t h2_connection_cap() const {
    return std::min<size_t>(options.max_in_flight, (options.max_in_flight + 127) / 128 + 1);
  }

  static uint32_t max_streams(const Conn* c) {
    if (!c->settings_received) return kAssumedMaxStreams;
    return nghttp2_session_get_remote_settings(c->h2, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
  }

  bool make_room(Origin& o) {
    if (open_connections < options.max_in_flight) return true;
    for (auto& [key, other] : origins) {
      if (other.get() != &o && !other->idle.empty()) {
        close_connection(other->idle.back());
        return true;
      }
    }
    return false;
  }

  // An idle HTTP/1.1 connection of `o`, taken out of the idle list: the latest one, or with
  // `fresh_only` one that has carried no request yet; null when there is none.
  static Conn* take_idle(Origin& o, bool fresh_only) {
    for (size_t i = o.idle.size(); i-- > 0;) {
      Conn* c = o.idle[i];
      if (fresh_only && c->reused) continue;
      o.idle.erase(o.idle.begin() + static_cast<std::ptrdiff_t>(i));
      return c;
    }
    return nullptr;
  }

  void dispatch(Origin& o) {
    o.dispatch_scheduled = false;
    while (!o.pending.empty()) {
      Request* r = o.pending.front();
      if (o.protocol == Protocol::kHttp1) {
        if (Conn* c = take_idle(o, /*fresh_only=*/r->retried)) {
          o.pending.pop_front();
          send_http1(c, r);
          continue;
        }
        if (r->retried) {
          // Sent once more after a kept-alive connection died under it: on a fresh connection
          // only, as the one it met may not have been the only one the server closed.
          if (o.connecting > 0) return;
          if (!make_room(o)) {
            if (o.idle.empty()) return;
            close_connection(o.idle.back());  // a kept-alive one makes room for a fresh one
          }
          open_or_fail(o);
          continue;
        }
        if (o.connecting >= o.pending.size() || !make_room(o)) return;
        open_or_fail(o);
        continue;
      }
      if (o.protocol == Protocol::kHttp2) {
        Conn* best = nullptr;
        size_t usable = 0;
        for (Conn* c : o.h2) {
          if (c->no_new_streams) continue;
          ++usable;
          if (best == nullptr || c->streams < best->streams) best = c;
        }
        if (best == nullptr || best->streams >= max_streams(best)) {
          if (o.connecting > 0) return;  // a connection is on its way
          if (usable < h2_connection_cap() && make_room(o)) {
            open_or_fail(o);
            continue;
          }
          if (best == nullptr) return;
          // At the cap: the stream waits inside nghttp2 for one of best's to close.
        }
        o.pending.pop_front();
        if (!submit_http2(best, r)) o.pending.push_front(r);
        continue;
      }
      // TLS, protocol not known yet: one connection finds out, the requests wait for it.
      if (o.connecting == 0) {
        if (!make_room(o)) return;
        open_or_fail(o);
        continue;
      }
      return;
    }
  }

  void open_or_fail(Origin& o) {
    TransportError error = TransportError::kOther;
    std::string message;
    if (open_connection(o, error, message)) return;
    if (o.protocol == Protocol::kUnknown || error == TransportError::kResolve) {
      fail_pending(o, error, message);
    } else {
      Request* r = o.pending.front();
      o.pending.pop_front();
      complete(r, error, message);
    }
  }

  // ---- HTTP/1.1 ---------------------------------------------------------------------------

  void send_http1(Conn* c, Request* r) {
    c->request = r;
    r->conn = c;
    c->sent_any = false;
    c->parser.reset(options.max_response_bytes);
    const bool post = r->method == HttpRequest::Method::kPost;
    std::string_view target = r->parts.target;
    std::string& out = c->ssl ? c->tls_out : c->wbuf;
    const Origin& o = *c->origin;
    if (o.proxy && !o.tls) {  // absolute-form, to the proxy
      scratch.assign(o.key);
      if (target.empty() || target.front() != '/') scratch.append("/");
      scratch.append(target);
      target = scratch;
    } else if (target.empty() || target.front() != '/') {
      scratch.assign("/").append(target);
      target = scratch;
    }
    internal::append_request(out, post ? "POST" : "GET", target, o.authority,
                             o.proxy && !o.tls ? o.proxy_headers : fixed_h1_headers,
                             r->extra_headers, r->body, post);
    mark_dirty(c);
  }

  // Bytes of the response arrived (decrypted, for TLS).
  void on_http1_data(Conn* c, const char* data, size_t n) {
    Request* r = c->request;
    if (r == nullptr) {  // nothing asked: a server talking out of turn
      close_connection(c);
      return;
    }
    size_t consumed = 0;
    switch (c->parser.feed(data, n, consumed)) {
      case Http1ResponseParser::Status::kNeedMore:
        return;
      case Http1ResponseParser::Status::kDone:
        finish_http1(c, consumed == n);
        return;
      case Http1ResponseParser::Status::kTooLarge:
        c->request = nullptr;
        close_connection(c);
        complete(r, TransportError::kTooLarge, too_large_message());
        return;
      case Http1ResponseParser::Status::kError:
        c->request = nullptr;
        complete(r, TransportError::kOther, c->parser.error());
        close_connection(c);
        return;
    }
  }

  std::string too_large_message() const {
    return "response body larger than " + std::to_string(options.max_response_bytes) + " bytes";
  }

  void finish_http1(Conn* c, bool nothing_left_over) {
    Request* r = c->request;
    c->request = nullptr;
    std::string retry_after = c->parser.retry_after();
    complete(r, TransportError::kNone, {}, c->parser.status_code(), &c->parser.body(),
             &retry_after);
    if (!c->parser.keep_alive() || !nothing_left_over || c->woff < c->wbuf.size() ||
        c->peer_closed) {
      close_connection(c);
      return;
    }
    c->reused = true;
    c->origin->idle.push_back(c);
    schedule_dispatch(*c->origin);
  }

  void on_eof(Conn* c) {
    if (c->state == Conn::State::kTunneling) {
      connection_failed(c, TransportError::kConnect,
                        "Proxy CONNECT aborted (" + c->origin->proxy->display() + ")");
      return;
    }
    if (c->state != Conn::State::kReady) {
      connection_failed(
          c,
          c->state == Conn::State::kHandshaking ? TransportError::kTls : TransportError::kConnect,
          c->state == Conn::State::kHandshaking ? "TLS handshake failed: the connection was closed"
                                                : connect_error(*c->origin, ECONNRESET));
      return;
    }
    if (c->protocol == Protocol::kHttp2) {
      connection_lost(c, "the server closed the HTTP/2 connection");
      return;
    }
    if (c->request == nullptr) {  // an idle connection the server closed
      close_connection(c);
      return;
    }
    if (c->parser.finish_at_close() == Http1ResponseParser::Status::kDone) {
      finish_http1(c, true);
      return;
    }
    connection_lost(c, c->parser.error());
  }

  // ---- HTTP/2 -----------------------------------------------------------------------------

  static ssize_t read_body(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                           nghttp2_data_source* source, void*) {
    auto* r = static_cast<Request*>(source->ptr);
    const size_t n = std::min(length, r->body.size() - r->body_sent);
    std::memcpy(buf, r->body.data() + r->body_sent, n);
    r->body_sent += n;
    if (r->body_sent == r->body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return static_cast<ssize_t>(n);
  }

  bool submit_http2(Conn* c, Request* r) {
    const bool post = r->method == HttpRequest::Method::kPost;
    std::string_view target = r->parts.target;
    std::string path;
    if (target.empty() || target.front() != '/') {
      path.assign("/").append(target);
      target = path;
    }
    auto nv = [](std::string_view name, std::string_view value) {
      return nghttp2_nv{reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
                        reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(),
                        value.size(), NGHTTP2_NV_FLAG_NONE};
    };
    std::vector<nghttp2_nv> headers;
    headers.reserve(4 + h2_headers.size() + r->extra_headers.size() + 1);
    headers.push_back(nv(":method", post ? "POST" : "GET"));
    headers.push_back(nv(":scheme", "https"));
    headers.push_back(nv(":authority", c->origin->authority));
    headers.push_back(nv(":path", target));
    for (const auto& [name, value] : h2_headers) headers.push_back(nv(name, value));
    std::vector<std::string> extra_names;
    extra_names.reserve(r->extra_headers.size());
    for (const std::string& h : r->extra_headers) {
      const size_t colon = h.find(':');
      std::string name = h.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), internal::ascii_lower);
      extra_names.push_back(std::move(name));
      std::string_view value = std::string_view(h).substr(colon + 1);
      while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value.remove_prefix(1);
      }
      headers.push_back(nv(extra_names.back(), value));
    }
    std::string length;
    if (post) {
      length = std::to_string(r->body.size());
      headers.push_back(nv("content-length", length));
    }
    nghttp2_data_provider body{};
    body.source.ptr = r;
    body.read_callback = &Impl::read_body;
    const int32_t id = nghttp2_submit_request(c->h2, nullptr, headers.data(), headers.size(),
                                              post ? &body : nullptr, r);
    if (id < 0) {
      if (id == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE) {
        c->no_new_streams = true;
        return false;
      }
      complete(r, TransportError::kOther,
               std::string("HTTP/2 request not submitted: ") + nghttp2_strerror(id));
      return true;
    }
    r->conn = c;
    r->stream_id = id;
    ++c->streams;
    mark_dirty(c);
    return true;
  }

  static Impl& engine_of(const Conn* c) { return *static_cast<Impl*>(c->engine); }

  static Request* stream_request(nghttp2_session* session, int32_t stream_id) {
    return static_cast<Request*>(nghttp2_session_get_stream_user_data(session, stream_id));
  }

  static int on_h2_header(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name,
                          size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                          void* user) {
    auto* c = static_cast<Conn*>(user);
    if (frame->hd.type != NGHTTP2_HEADERS || c->h2 == nullptr) return 0;
    Request* r = stream_request(session, frame->hd.stream_id);
    if (r == nullptr || r->too_large) return 0;
    const std::string_view n(reinterpret_cast<const char*>(name), namelen);
    const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
    if (n == ":status") {
      int code = 0;
      std::from_chars(v.data(), v.data() + v.size(), code);
      r->status = code;
      r->retry_after.clear();  // a new response begins (after a 1xx)
    } else if (n == "retry-after") {
      r->retry_after.assign(v.substr(0, Http1ResponseParser::kMaxRetryAfterLength));
    } else if (n == "content-length") {
      size_t length = 0;
      std::from_chars(v.data(), v.data() + v.size(), length);
      if (length > engine_of(c).options.max_response_bytes) {
        r->too_large = true;
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_CANCEL);
      }
    }
    return 0;
  }

  static int on_h2_data(nghttp2_session* session, uint8_t, int32_t stream_id, const uint8_t* data,
                        size_t len, void* user) {
    auto* c = static_cast<Conn*>(user);
    if (c->h2 == nullptr) return 0;
    Request* r = stream_request(session, stream_id);
    if (r == nullptr || r->too_large) return 0;
    if (r->response_body.size() + len > engine_of(c).options.max_response_bytes) {
      r->too_large = true;
      r->response_body.clear();
      nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
      return 0;
    }
    r->response_body.append(reinterpret_cast<const char*>(data), len);
    return 0;
  }

  static int on_h2_frame(nghttp2_session*, const nghttp2_frame* frame, void* user) {
    auto* c = static_cast<Conn*>(user);
    if (c->h2 == nullptr) return 0;
    if (frame->hd.type == NGHTTP2_SETTINGS && (frame->hd.flags & NGHTTP2_FLAG_ACK) == 0) {
      c->settings_received = true;
      engine_of(c).schedule_dispatch(*c->origin);
    } else if (frame->hd.type == NGHTTP2_GOAWAY) {
      c->no_new_streams = true;
      engine_of(c).schedule_dispatch(*c->origin);
    }
    return 0;
  }

  static int on_h2_stream_close(nghttp2_session* session, int32_t stream_id, uint32_t error_code,
                                void* user) {
    auto* c = static_cast<Conn*>(user);
    if (c->h2 == nullptr) return 0;
    if (c->streams > 0) --c->streams;
    Impl& m = engine_of(c);
    m.schedule_dispatch(*c->origin);
    Request* r = stream_request(session, stream_id);
    if (r == nullptr) return 0;  // timed out before: already returned
    nghttp2_session_set_stream_user_data(session, stream_id, nullptr);
    if (r->too_large) {
      m.complete(r, TransportError::kTooLarge, m.too_large_message());
    } else if (error_code == NGHTTP2_NO_ERROR && r->status != 0) {
      m.complete(r, TransportError::kNone, {}, r->status, &r->response_body, &r->retry_after);
    } else if (error_code == NGHTTP2_REFUSED_STREAM && !r->retried) {
      // Refused (or above a GOAWAY's last stream): never processed, so sent again elsewhere.
      r->retried = true;
      r->conn = nullptr;
      r->body_sent = 0;
      r->status = 0;
      r->response_body.clear();
      r->retry_after.clear();
      c->origin->pending.push_front(r);
    } else {
      m.complete(r, TransportError::kOther,
                 std::string("HTTP/2 stream closed before a complete response (") +
                     nghttp2_http2_strerror(error_code) + ")");
    }
    return 0;
  }

  bool start_http2(Conn* c) {
    nghttp2_session* s = nullptr;
    if (nghttp2_session_client_new2(&s, h2_callbacks, c, h2_option) != 0) return false;
    c->h2 = s;
    const nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kStreamWindow)},
    };
    if (nghttp2_submit_settings(s, NGHTTP2_FLAG_NONE, settings, 2) != 0 ||
        nghttp2_session_set_local_window_size(s, NGHTTP2_FLAG_NONE, 0, kConnectionWindow) != 0) {
      return false;
    }
    mark_dirty(c);
    return true;
  }

  // ---- TLS --------------------------------------------------------------------------------

  static int on_new_session(SSL* ssl, SSL_SESSION* session) {
    auto* c = static_cast<Conn*>(SSL_get_app_data(ssl));
    if (c == nullptr || c->origin == nullptr) return 0;
    c->origin->session.reset(session);
    return 1;  // we keep the reference
  }

  bool ensure_tls_context(std::string& message) {
    if (tls) return true;
    auto ctx = internal::make_client_context(options.ca_file);
    if (!ctx) {
      message = ctx.error().message;
      return false;
    }
    tls = std::move(*ctx);
    SSL_CTX_sess_set_new_cb(tls.get(), &Impl::on_new_session);
    return true;
  }

  void start_tls(Conn* c) {
    std::string message;
    if (!ensure_tls_context(message)) {
      connection_failed(c, TransportError::kTls, message);
      return;
    }
    auto ssl = internal::make_client_ssl(tls.get(), c->origin->host, c->origin->session.get());
    if (!ssl) {
      connection_failed(c, TransportError::kTls, ssl.error().message);
      return;
    }
    c->ssl = std::move(*ssl);
    SSL_set_app_data(c->ssl.get(), c);
    c->state = Conn::State::kHandshaking;
    handshake(c);
  }

  // Moves what OpenSSL wrote into its memory BIO to the socket buffer.
  void drain_tls_output(Conn* c) {
    BIO* wbio = SSL_get_wbio(c->ssl.get());
    while (const size_t pending = BIO_ctrl_pending(wbio)) {
      const size_t at = c->wbuf.size();
      c->wbuf.resize(at + pending);
      const int n = BIO_read(wbio, c->wbuf.data() + at, static_cast<int>(pending));
      c->wbuf.resize(at + static_cast<size_t>(std::max(n, 0)));
      if (n <= 0) break;
    }
  }

  void handshake(Conn* c) {
    ERR_clear_error();
    const int rc = SSL_do_handshake(c->ssl.get());
    drain_tls_output(c);
    if (rc == 1) {
      const std::string alpn = internal::selected_alpn(c->ssl.get());
      c->protocol = alpn == "h2" ? Protocol::kHttp2 : Protocol::kHttp1;
      if (c->protocol == Protocol::kHttp2 && !start_http2(c)) {
        connection_failed(c, TransportError::kOther, "HTTP/2 session could not be set up");
        return;
      }
      connection_ready(c);
      return;
    }
    const int err = SSL_get_error(c->ssl.get(), rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (!c->wbuf.empty()) mark_dirty(c);
      return;
    }
    connection_failed(c, TransportError::kTls, internal::describe_tls_failure(c->ssl.get(), err));
  }

  // Encrypted bytes arrived: finish the handshake, then decrypt everything there is.
  void on_tls_data(Conn* c, const char* data, size_t n) {
    BIO_write(SSL_get_rbio(c->ssl.get()), data, static_cast<int>(n));
    const uint64_t seq = c->seq;
    if (c->state == Conn::State::kHandshaking) {
      handshake(c);
      if (c->seq != seq || c->state != Conn::State::kReady) return;
    }
    char buf[kReadBufferBytes];
    while (true) {
      ERR_clear_error();
      const int got = SSL_read(c->ssl.get(), buf, sizeof buf);
      if (got > 0) {
        on_app_data(c, buf, static_cast<size_t>(got));
        if (c->seq != seq) return;
        continue;
      }
      const int err = SSL_get_error(c->ssl.get(), got);
      if (err == SSL_ERROR_WANT_READ) break;
      if (err == SSL_ERROR_ZERO_RETURN) {
        on_eof(c);
        return;
      }
      connection_lost(c, "TLS read error: " + internal::describe_tls_failure(c->ssl.get(), err));
      return;
    }
    drain_tls_output(c);
    if (!c->wbuf.empty() || c->h2 != nullptr) mark_dirty(c);
  }

  void on_app_data(Conn* c, const char* data, size_t n) {
    if (c->protocol != Protocol::kHttp2) {
      on_http1_data(c, data, n);
      return;
    }
    const ssize_t rc = nghttp2_session_mem_recv(c->h2, reinterpret_cast<const uint8_t*>(data), n);
    if (rc < 0) {
      connection_lost(
          c, std::string("HTTP/2 protocol error: ") + nghttp2_strerror(static_cast<int>(rc)));
      return;
    }
    mark_dirty(c);
  }

  // ---- connection life --------------------------------------------------------------------

  void connection_ready(Conn* c) {
    Origin& o = *c->origin;
    --o.connecting;
    c->state = Conn::State::kReady;
    if (c->protocol == Protocol::kUnknown) c->protocol = Protocol::kHttp1;
    o.protocol = c->protocol;
    if (c->protocol == Protocol::kHttp2) {
      o.h2.push_back(c);
    } else {
      o.idle.push_back(c);
    }
    schedule_dispatch(o);
  }

  void on_connected(Conn* c) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
    if (err != 0) {
      // The next address, if the host has one.
      Origin& o = *c->origin;
      ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, c->fd, nullptr);
      ::close(c->fd);
      c->fd = -1;
      int next_err = err;
      while (++c->address < o.addresses.size() && (next_err = start_connect(c)) != 0) {
      }
      if (c->fd >= 0) return;
      c->fd = -1;
      connection_failed(c, TransportError::kConnect, connect_error(o, err));
      return;
    }
    set_events(c, EPOLLIN | EPOLLRDHUP);
    if (c->origin->tls && c->origin->proxy) {
      c->state = Conn::State::kTunneling;
      c->wbuf.append(c->origin->connect_request);
      mark_dirty(c);
    } else if (c->origin->tls) {
      start_tls(c);
    } else {
      connection_ready(c);
    }
  }

  // The proxy's answer to CONNECT: a 2xx opens the tunnel (TLS begins; anything after the
  // answer's blank line is already the server's), anything else fails the connection.
  void on_tunnel_data(Conn* c, const char* data, size_t n) {
    c->tunnel_in.append(data, n);
    const size_t end = c->tunnel_in.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (c->tunnel_in.size() > kMaxTunnelResponseBytes) {
        connection_failed(c, TransportError::kConnect,
                          "the proxy " + c->origin->proxy->display() +
                              " sent no valid answer to CONNECT");
      }
      return;
    }
    const std::string_view head(c->tunnel_in.data(), end);
    int status = 0;
    if (head.size() >= 12 && head.substr(0, 5) == "HTTP/" && head[8] == ' ') {
      std::from_chars(head.data() + 9, head.data() + 12, status);
    }
    c->proxy_status = status;
    if (status < 200 || status > 299) {
      // kOther, as libcurl (CURLE_RECV_ERROR): the proxy answered, it is not a connect failure.
      connection_failed(c, TransportError::kOther,
                        status == 0 ? "the proxy " + c->origin->proxy->display() +
                                          " sent no valid answer to CONNECT"
                                    : "CONNECT tunnel failed, response " + std::to_string(status) +
                                          " from the proxy " + c->origin->proxy->display());
      return;
    }
    std::string rest = c->tunnel_in.substr(end + 4);
    c->tunnel_in.clear();
    c->tunnel_in.shrink_to_fit();
    const uint64_t seq = c->seq;
    start_tls(c);
    if (c->seq == seq && !rest.empty() && c->ssl) on_tls_data(c, rest.data(), rest.size());
  }

  // Writes what is waiting: nghttp2's frames, TLS records, the socket buffer.
  void flush(Conn* c) {
    c->dirty = false;
    if (c->h2 != nullptr) {
      while (c->wbuf.size() - c->woff + c->tls_out.size() < kMaxUnsentBytes) {
        const uint8_t* data = nullptr;
        const ssize_t n = nghttp2_session_mem_send(c->h2, &data);
        if (n < 0) {
          connection_lost(c, std::string("HTTP/2 error: ") + nghttp2_strerror(static_cast<int>(n)));
          return;
        }
        if (n == 0) break;
        c->tls_out.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
      }
    }
    if (c->ssl && !c->tls_out.empty() && c->state == Conn::State::kReady) {
      ERR_clear_error();
      const int n = SSL_write(c->ssl.get(), c->tls_out.data(), static_cast<int>(c->tls_out.size()));
      if (n <= 0) {
        connection_lost(c, "TLS write error: " + internal::describe_tls_failure(
                                                     c->ssl.get(), SSL_get_error(c->ssl.get(), n)));
        return;
      }
      c->tls_out.erase(0, static_cast<size_t>(n));
      drain_tls_output(c);
    }
    while (c->woff < c->wbuf.size()) {
      const ssize_t n =
          ::send(c->fd, c->wbuf.data() + c->woff, c->wbuf.size() - c->woff, MSG_NOSIGNAL);
      if (n > 0) {
        c->woff += static_cast<size_t>(n);
        c->sent_any = true;
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      const int err = errno;
      if (c->state != Conn::State::kReady) {
        connection_failed(
            c,
            c->state == Conn::State::kHandshaking ? TransportError::kTls : TransportError::kConnect,
            connect_error(*c->origin, err));
      } else {
        connection_lost(c, std::string("Send failure: ") + std::strerror(err));
      }
      return;
    }
    if (c->woff == c->wbuf.size()) {
      c->wbuf.clear();
      c->woff = 0;
      if (c->state != Conn::State::kConnecting) set_events(c, EPOLLIN | EPOLLRDHUP);
    } else {
      set_events(c, EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    }
    if (c->h2 != nullptr && nghttp2_session_want_read(c->h2) == 0 &&
        nghttp2_session_want_write(c->h2) == 0 && c->wbuf.empty()) {
      connection_lost(c, "the server ended the HTTP/2 connection");  // after GOAWAY, all done
    }
  }

  void on_readable(Conn* c) {
    char buf[kReadBufferBytes];
    const uint64_t seq = c->seq;
    while (true) {
      const ssize_t n = ::recv(c->fd, buf, sizeof buf, 0);
      if (n > 0) {
        if (c->state == Conn::State::kTunneling) {
          on_tunnel_data(c, buf, static_cast<size_t>(n));
        } else if (c->ssl) {
          on_tls_data(c, buf, static_cast<size_t>(n));
        } else {
          on_http1_data(c, buf, static_cast<size_t>(n));
        }
        if (c->seq != seq || static_cast<size_t>(n) < sizeof buf) return;
        continue;
      }
      if (n == 0) {
        on_eof(c);
        return;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      const int err = errno;
      if (c->state == Conn::State::kConnecting) {
        on_connected(c);  // SO_ERROR tells
      } else if (c->state == Conn::State::kTunneling) {
        connection_failed(c, TransportError::kConnect, connect_error(*c->origin, err));
      } else if (c->state == Conn::State::kHandshaking) {
        connection_failed(c, TransportError::kTls, connect_error(*c->origin, err));
      } else if (c->request == nullptr && c->protocol != Protocol::kHttp2) {
        close_connection(c);
      } else {
        connection_lost(c, std::string("Recv failure: ") + std::strerror(err));
      }
      return;
    }
  }

  void on_event(Conn* c, uint32_t events) {
    if (c->fd < 0) return;  // closed earlier in this round
    const uint64_t seq = c->seq;
    if (c->state == Conn::State::kConnecting) {
      if ((events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) != 0) on_connected(c);
      if (c->seq != seq || c->fd < 0) return;
      if (c->state == Conn::State::kConnecting) return;
    }
    if ((events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) != 0) {
      // The peer's FIN came with this read: a response completed by it leaves the connection
      // closed instead of idle, so no request is sent into a connection already shut.
      c->peer_closed = (events & (EPOLLRDHUP | EPOLLHUP)) != 0;
      on_readable(c);
      if (c->seq != seq || c->fd < 0) return;
    }
    if ((events & EPOLLOUT) != 0) mark_dirty(c);
  }

  // ---- timers -----------------------------------------------------------------------------

  void expire(TimePoint now) {
    // Entries of requests already returned are dropped as soon as they reach the front (answers
    // come back roughly in start order), so the queue holds about what is in flight.
    while (!request_timers.empty()) {
      const TimerEntry e = request_timers.front();
      auto* r = static_cast<Request*>(e.what);
      const bool stale = !r->active || r->seq != e.seq;
      if (!stale && e.due > now) break;
      request_timers.pop_front();
      if (!stale) time_out(r);
    }
    while (!connect_timers.empty() && connect_timers.front().due <= now) {
      const TimerEntry e = connect_timers.front();
      connect_timers.pop_front();
      auto* c = static_cast<Conn*>(e.what);
      if (c->seq != e.seq || c->fd < 0 || c->state == Conn::State::kReady) continue;
      connection_failed(c, TransportError::kTimeout,
                        "Connection timed out after " +
                            std::to_string(to_ms(options.connect_timeout)) + " milliseconds");
    }
  }

  void time_out(Request* r) {
    Conn* c = r->conn;
    if (c == nullptr) {  // still waiting for a connection
      auto& q = r->origin->pending;
      q.erase(std::find(q.begin(), q.end(), r));
      timeout_message_complete(r, 0);
      return;
    }
    if (c->protocol == Protocol::kHttp2) {
      // The stream is cancelled; its close callback finds no request any more.
      nghttp2_session_set_stream_user_data(c->h2, r->stream_id, nullptr);
      nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, r->stream_id, NGHTTP2_CANCEL);
      mark_dirty(c);
      timeout_message_complete(r, r->response_body.size());
      return;
    }
    // HTTP/1.1: the answer may still come, so the connection cannot carry another request.
    const size_t received = c->parser.bytes_seen();
    c->request = nullptr;
    close_connection(c);
    timeout_message_complete(r, received);
  }

  std::optional<TimePoint> next_due() const {
    std::optional<TimePoint> due;
    if (!request_timers.empty()) due = request_timers.front().due;
    if (!connect_timers.empty() && (!due || connect_timers.front().due < *due)) {
      due = connect_timers.front().due;
    }
    return due;
  }

  // ---- the loop's steps -------------------------------------------------------------------

  // Dispatches what was scheduled and writes what is dirty, until neither has work.
  void pump() {
    for (int round = 0; round < 8 && (!to_dispatch.empty() || !dirty.empty()); ++round) {
      std::vector<Origin*> origins_now;
      origins_now.swap(to_dispatch);
      for (Origin* o : origins_now) dispatch(*o);
      std::vector<std::pair<Conn*, uint64_t>> dirty_now;
      dirty_now.swap(dirty);
      for (auto [c, seq] : dirty_now) {
        if (c->seq == seq && c->fd >= 0 && c->dirty) flush(c);
      }
    }
  }

  // One epoll_wait of at most `timeout_ms`; true if wakeup() was called.
  bool wait_once(int timeout_ms) {
    epoll_event events[kMaxEvents];
    const int n = ::epoll_wait(epoll_fd, events, kMaxEvents, timeout_ms);
    bool woken = n < 0 && errno == EINTR;
    for (int i = 0; i < n; ++i) {
      if (events[i].data.ptr == nullptr) {
        uint64_t value = 0;
        (void)!::read(wake_fd, &value, sizeof value);
        woken = true;
        continue;
      }
      on_event(static_cast<Conn*>(events[i].data.ptr), events[i].events);
    }
    expire(SteadyClock::now());
    pump();
    for (Conn* c : closed_this_round) free_conns.push_back(c);
    closed_this_round.clear();
    return woken;
  }
};

NativeEngine::NativeEngine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
NativeEngine::~NativeEngine() = default;

Result<std::unique_ptr<NativeEngine>> NativeEngine::create(EngineOptions options,
                                                           EnvReader proxy_env) {
  if (auto s = check_engine_options(options); !s) return s.error();
  auto impl = std::make_unique<Impl>();
  Impl& m = *impl;
  m.options = std::move(options);
  m.env = std::move(proxy_env);
  m.epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (m.epoll_fd < 0) return Error::internal(std::string("epoll_create1: ") + std::strerror(errno));
  m.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (m.wake_fd < 0) return Error::internal(std::string("eventfd: ") + std::strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  if (::epoll_ctl(m.epoll_fd, EPOLL_CTL_ADD, m.wake_fd, &ev) != 0) {
    return Error::internal(std::string("epoll_ctl: ") + std::strerror(errno));
  }
  if (!m.options.ca_file.empty()) {  // an unloadable CA file is refused now, not per request
    std::string message;
    if (!m.ensure_tls_context(message)) return Error::invalid(message);
  }

  m.fixed_h1_headers = "User-Agent: " + m.options.user_agent + "\r\nAccept: */*\r\n";
  m.h2_headers.emplace_back("user-agent", m.options.user_agent);
  m.h2_headers.emplace_back("accept", "*/*");
  for (const std::string& h : m.options.default_headers) {
    const size_t colon = h.find(':');
    std::string_view value = std::string_view(h).substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    if (value.empty()) continue;  // "Name:" suppresses a header in libcurl: nothing to send here
    m.fixed_h1_headers.append(h).append("\r\n");
    std::string name = h.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), internal::ascii_lower);
    m.h2_headers.emplace_back(std::move(name), std::string(value));
  }

  if (nghttp2_session_callbacks_new(&m.h2_callbacks) != 0 ||
      nghttp2_option_new(&m.h2_option) != 0) {
    return Error::internal("nghttp2: out of memory");
  }
  nghttp2_session_callbacks_set_on_header_callback(m.h2_callbacks, &Impl::on_h2_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(m.h2_callbacks, &Impl::on_h2_data);
  nghttp2_session_callbacks_set_on_frame_recv_callback(m.h2_callbacks, &Impl::on_h2_frame);
  nghttp2_session_callbacks_set_on_stream_close_callback(m.h2_callbacks, &Impl::on_h2_stream_close);
  nghttp2_option_set_peer_max_concurrent_streams(m.h2_option, kAssumedMaxStreams);
  return std::unique_ptr<NativeEngine>(new NativeEngine(std::move(impl)));
}

size_t NativeEngine::in_flight() const { return impl_->outstanding; }

size_t NativeEngine::capacity() const { return impl_->options.max_in_flight; }

size_t NativeEngine::connections_opened() const { return impl_->connections_opened; }

void NativeEngine::start(HttpRequest request) {
  Impl& m = *impl_;
  ++m.outstanding;
  if (m.outstanding > m.options.max_in_flight) {
    log::error("HTTP engine: start() at capacity ({} in flight)", m.outstanding - 1);
    m.fail_now(request.id, "engine at capacity");
    return;
  }
  for (const std::string& h : request.extra_headers) {
    if (!is_header_line(h)) {
      m.fail_now(request.id, "malformed request header");
      return;
    }
  }
  Request* r = m.acquire_request();
  r->id = request.id;
  r->method = request.method;
  r->url = std::move(request.url);
  r->body = std::move(request.body);
  r->extra_headers = std::move(request.extra_headers);
  r->started = SteadyClock::now();
  if (std::string e = parse_url(r->url, r->parts); !e.empty()) {
    m.complete(r, TransportError::kOther, std::move(e));
    return;
  }
  r->origin = m.origin_for(r->parts);
  m.request_timers.push_back({r->started + m.options.total_timeout, r, r->seq});
  r->origin->pending.push_back(r);
  m.schedule_dispatch(*r->origin);
}

void NativeEngine::poll(domain::Duration max_wait, std::vector<HttpResponse>& done) {
  Impl& m = *impl_;
  const TimePoint deadline = SteadyClock::now() + max_wait;
  m.pump();
  bool woken = false;
  while (true) {
    int timeout_ms = 0;
    if (m.finished.empty() && !woken) {
      TimePoint until = deadline;
      if (auto due = m.next_due(); due && *due < until) until = *due;
      const auto left = until - SteadyClock::now();
      timeout_ms = left <= domain::Duration::zero()
                       ? 0
                       : static_cast<int>(std::min<long>(to_ms(left), INT_MAX));
    }
    woken = m.wait_once(timeout_ms) || woken;
    if (!m.finished.empty() || woken || SteadyClock::now() >= deadline) break;
  }
  m.outstanding -= m.finished.size();
  for (HttpResponse& r : m.finished) done.push_back(std::move(r));
  m.finished.clear();
}

ConnectOutcome NativeEngine::connect_only(std::string_view url) {
  Impl& m = *impl_;
  ConnectOutcome out;
  UrlParts parts;
  const std::string text(url);
  if (std::string e = parse_url(text, parts); !e.empty()) {
    out.error = TransportError::kOther;
    out.message = std::move(e);
    return out;
  }
  Origin& o = *m.origin_for(parts);
  Conn* c = nullptr;
  if (!m.open_connection(o, out.error, out.message, &c)) return out;
  const uint64_t seq = c->seq;
  m.last_failure = {};
  // The connect timer ends the attempt; the deadline only bounds the loop.
  const TimePoint deadline = SteadyClock::now() + m.options.connect_timeout + std::chrono::seconds(1);
  while (c->seq == seq && c->state != Conn::State::kReady && SteadyClock::now() < deadline) {
    TimePoint until = deadline;
    if (auto due = m.next_due(); due && *due < until) until = *due;
    const auto left = until - SteadyClock::now();
    m.wait_once(left <= domain::Duration::zero() ? 0 : static_cast<int>(to_ms(left)));
  }
  if (c->seq == seq && c->state == Conn::State::kReady) return out;
  if (c->seq == seq) {  // the loop's own bound: should not happen before the connect timer
    m.connection_failed(c, TransportError::kTimeout, "Connection timed out");
  }
  out = m.last_failure;
  if (out.error == TransportError::kNone) out.error = TransportError::kOther;
  return out;
}

void NativeEngine::wakeup() {
  const uint64_t one = 1;
  (void)!::write(impl_->wake_fd, &one, sizeof one);
}

}  // namespace dr::http
