#include "http/tls_client.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

namespace dr::http::internal {

namespace {

bool is_ip_address(const std::string& host) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

std::string openssl_error_text() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return {};
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

}  // namespace

Result<SslCtx> make_client_context(const std::string& ca_file) {
  ERR_clear_error();
  SslCtx ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return Error::internal("SSL_CTX_new failed: " + openssl_error_text());
  if (SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION) != 1) {
    return Error::internal("cannot require TLS 1.2: " + openssl_error_text());
  }
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (!ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1) {
      return Error::invalid("--ca-file / GATEWAY_CA_FILE: OpenSSL cannot load " + ca_file + " (" +
                            openssl_error_text() + ")");
    }
  } else if (SSL_CTX_set_default_verify_paths(ctx.get()) != 1) {
    return Error::internal("cannot load the system's CA store: " + openssl_error_text());
  }
  static constexpr unsigned char kAlpn[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  if (SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof kAlpn) != 0) {
    return Error::internal("cannot offer ALPN: " + openssl_error_text());
  }
  SSL_CTX_set_session_cache_mode(ctx.get(),
                                 SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  return ctx;
}

Result<Ssl> make_client_ssl(SSL_CTX* ctx, const std::string& host, SSL_SESSION* resume) {
  ERR_clear_error();
  Ssl ssl(SSL_new(ctx));
  if (!ssl) return Error::internal("SSL_new failed: " + openssl_error_text());
  BIO* rbio = BIO_new(BIO_s_mem());
  BIO* wbio = BIO_new(BIO_s_mem());
  if (rbio == nullptr || wbio == nullptr) {
    BIO_free(rbio);
    BIO_free(wbio);
    return Error::internal("BIO_new failed");
  }
  BIO_set_mem_eof_return(rbio, -1);  // an empty read BIO means "wait", not end of stream
  SSL_set_bio(ssl.get(), rbio, wbio);
  SSL_set_connect_state(ssl.get());
  if (is_ip_address(host)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl.get()), host.c_str()) != 1) {
      return Error::internal("cannot set the expected IP address: " + openssl_error_text());
    }
  } else {
    if (SSL_set_tlsext_host_name(ssl.get(), host.c_str()) != 1 ||
        SSL_set1_host(ssl.get(), host.c_str()) != 1) {
      return Error::internal("cannot set the expected host name: " + openssl_error_text());
    }
  }
  if (resume != nullptr) SSL_set_session(ssl.get(), resume);
  return ssl;
}

std::string describe_tls_failure(SSL* ssl, int ssl_error) {
  const long verify = SSL_get_verify_result(ssl);
  if (verify != X509_V_OK) {
    ERR_clear_error();
    return std::string("SSL certificate problem: ") + X509_verify_cert_error_string(verify);
  }
  std::string text = openssl_error_text();
  if (!text.empty()) return "TLS handshake failed: " + text;
  if (ssl_error == SSL_ERROR_ZERO_RETURN || ssl_error == SSL_ERROR_SYSCALL) {
    return "TLS handshake failed: the connection was closed";
  }
  return "TLS handshake failed (SSL_get_error " + std::to_string(ssl_error) + ")";
}

std::string selected_alpn(SSL* ssl) {
  const unsigned char* data = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl, &data, &len);
  return data == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(data), len);
}

}  // namespace dr::http::internal
