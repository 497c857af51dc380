#pragma once

#include <memory>

#include "common/result.h"
#include "http/engine_options.h"
#include "http/proxy.h"
#include "http/transport.h"

namespace dr::http {

// Transport of our own on epoll and nonblocking sockets: HTTP/1.1 over TCP and over TLS, HTTP/2
// over TLS (nghttp2) when the server selects it by ALPN. It keeps every request's and every
// connection's state between requests (no handle to attach and detach per request), which is
// what it is for: CurlEngine's per-transfer cost is most of the job's CPU (bench/README.md).
//
// Contract (as CurlEngine's, tests/integration/http_engine_test.cc runs both against it):
//  - every started request comes back exactly once from poll(), failures included, with the
//    TransportError kinds: kResolve (getaddrinfo, cached per host), kConnect (refused,
//    unreachable), kTimeout (the total timeout from start(), or the connect timeout of the
//    connection it waited for), kTls (handshake, untrusted peer, wrong host name), kTooLarge (a
//    body over max_response_bytes, by Content-Length before any of it is read), kOther (a reply
//    that is not HTTP, a connection closed mid-response, a reset HTTP/2 stream); messages are one
//    line and never hold a header value;
//  - connections: at most max_in_flight open at once; HTTP/1.1 carries one request at a time per
//    connection and keeps it alive for the next (unless the server says Connection: close or
//    sends a body delimited by closing); HTTP/2 multiplexes up to the server's
//    SETTINGS_MAX_CONCURRENT_STREAMS per connection over a few connections (requests past them
//    wait in nghttp2 for a free stream once the connection cap is reached);
//  - over TLS, requests wait for the first connection's handshake (as libcurl's PIPEWAIT) so
//    that HTTP/2 is known before more connections are opened; a failure of that first connection
//    fails the requests waiting for it with its error;
//  - a kept-alive HTTP/1.1 connection that the server closed while it was idle is noticed by
//    epoll and dropped; if the close races a new request (the connection was reused and not one
//    byte of the response came back), a GET is sent once more on a fresh connection (it is
//    idempotent; libcurl does the same) and a POST comes back as kOther for the caller's retry
//    policy to decide; a GOAWAY'd or refused HTTP/2 stream (never processed, RFC 9113 8.7) is
//    sent again on another connection;
//  - TLS: OpenSSL 3, TLS 1.2 or newer, the peer's certificate verified against ca_file or the
//    system's store, its host name (or IP address) always checked, SNI for names, ALPN h2 and
//    http/1.1, sessions resumed across connections to one origin;
//  - proxies as libcurl takes them from the environment (proxy.h decides, per origin, from the
//    EnvReader given to create()): an https origin through an http:// proxy by a CONNECT tunnel
//    (CONNECT host:port, Proxy-Authorization: Basic from the proxy URL's user info, then TLS and
//    ALPN end to end through it: the proxy sees neither a path nor a header of ours), an http
//    origin by absolute-form requests to the proxy (as libcurl does without HTTPPROXYTUNNEL),
//    NO_PROXY honoured. A proxy that answers CONNECT with anything but 2xx fails the connection
//    (kOther as in libcurl, "CONNECT tunnel failed, response 403 from the proxy http://host:port"); messages
//    name the proxy by host and port, never by its credentials. Other proxy schemes (socks,
//    https://) fail every request of that origin (kOther): create_transport() gives such a set-up
//    to CurlEngine instead;
// Only http and https URLs; no redirects; no signals (writes use MSG_NOSIGNAL, TLS goes through
// memory BIOs).
//
// Thread-safety: as Transport — one thread drives it; wakeup() (an eventfd write) may be called
// from any thread.
// How a connection attempt ended (NativeEngine::connect_only).
struct ConnectOutcome {
  TransportError error = TransportError::kNone;  // kNone: connected (TLS: handshake done)
  std::string message;                           // one line; empty when connected
  int proxy_status = 0;    // the proxy's answer to CONNECT when that was not 2xx, else 0
  long verify_result = 0;  // OpenSSL's X509_V_ERR_* when the peer's certificate did not verify
};

class NativeEngine final : public Transport {
 public:
  // Fails as check_engine_options() does, and (kInternal) when epoll, the eventfd or OpenSSL's
  // context cannot be set up (a CA file OpenSSL cannot load: kInvalidArgument). `proxy_env`:
  // where the proxy variables are read (empty: no proxy ever).
  static Result<std::unique_ptr<NativeEngine>> create(EngineOptions options,
                                                      EnvReader proxy_env = {});

  ~NativeEngine() override;
  NativeEngine(const NativeEngine&) = delete;
  NativeEngine& operator=(const NativeEngine&) = delete;

  size_t in_flight() const override;
  size_t capacity() const override;
  void start(HttpRequest request) override;
  void poll(domain::Duration max_wait, std::vector<HttpResponse>& done) override;
  void wakeup() override;

  // Connections opened since create() (a test's and a benchmark's view of reuse).
  size_t connections_opened() const;

  // Opens one connection to `url`'s origin exactly as a request would (proxy and tunnel, TLS
  // handshake with verification) and sends no HTTP request; blocks for at most the connect
  // timeout. The connection then stays open for the requests that follow. Only when nothing is
  // in flight.
  ConnectOutcome connect_only(std::string_view url);

 private:
  struct Impl;
  explicit NativeEngine(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace dr::http
