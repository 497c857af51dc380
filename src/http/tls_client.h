#pragma once

// OpenSSL for NativeEngine: owners for its handles, the client context every connection shares
// and one connection's SSL object. Internal to src/http (only .cc files include it).

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "common/result.h"

namespace dr::http::internal {

struct SslCtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
};
struct SslSessionDeleter {
  void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
};
using SslCtx = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using Ssl = std::unique_ptr<SSL, SslDeleter>;
using SslSession = std::unique_ptr<SSL_SESSION, SslSessionDeleter>;

// A client context: TLS 1.2 or newer; the peer verified against `ca_file`, or the system's
// default store when it is empty; ALPN offering h2 then http/1.1; client-side session caching
// (the application keeps the sessions: see make_client_ssl). kInvalidArgument when OpenSSL cannot
// load the CA file; kInternal otherwise.
Result<SslCtx> make_client_context(const std::string& ca_file);

// One connection's client side over memory BIOs (the caller moves the bytes, so no write can
// raise SIGPIPE): SNI for a host name, the certificate checked against the host name or, for an
// IP address, against that address; `resume` (may be null) is offered for resumption.
Result<Ssl> make_client_ssl(SSL_CTX* ctx, const std::string& host, SSL_SESSION* resume);

// Why a handshake failed, one line: the certificate's verification error when there is one
// ("SSL certificate problem: unable to get local issuer certificate"), else OpenSSL's first
// queued error or the SSL_get_error code. Clears OpenSSL's error queue.
std::string describe_tls_failure(SSL* ssl, int ssl_error);

// The protocol ALPN selected: "h2", "http/1.1", or empty (none: HTTP/1.1).
std::string selected_alpn(SSL* ssl);

}  // namespace dr::http::internal
