#include "http/connection_check.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "http/curl_handles.h"
#include "http/native_engine.h"

namespace dr::http {
namespace {

using internal::CurlEasy;

// OpenSSL's X509_V_ERR_* values (stable ABI numbers), as CURLINFO_SSL_VERIFYRESULT reports them;
// named here so src/http needs no OpenSSL headers.
constexpr long kCertNotYetValid = 9;               // X509_V_ERR_CERT_NOT_YET_VALID
constexpr long kCertHasExpired = 10;               // X509_V_ERR_CERT_HAS_EXPIRED
constexpr long kSelfSignedLeaf = 18;               // X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT
constexpr long kSelfSignedInChain = 19;            // X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN
constexpr long kUnableToGetIssuerLocally = 20;     // X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
constexpr long kUnableToVerifyLeafSignature = 21;  // X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE
constexpr long kHostnameMismatch = 62;             // X509_V_ERR_HOSTNAME_MISMATCH

std::string host_of(std::string_view url) {
  std::string_view rest =
      url.substr(url.find("://") == std::string_view::npos ? 0 : url.find("://") + 3);
  rest = rest.substr(0, rest.find_first_of("/?#"));
  return std::string(rest);
}

constexpr long kUnableToGetIssuer = 2;              // X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT
constexpr long kIpAddressMismatch = 64;            // X509_V_ERR_IP_ADDRESS_MISMATCH

std::string trust_hint(const EngineOptions& o) {
  return o.ca_file.empty() ? "give the gateway's CA with --ca-file or GATEWAY_CA_FILE"
                           : "it is not signed by the CA in " + o.ca_file;
}

// "the proxy http://host:port (HTTPS_PROXY)", or "the proxy (HTTPS_PROXY)" when the variables no
// longer name one. Never the proxy's credentials.
std::string proxy_name(std::string_view base_url, const EnvReader& env) {
  auto route = proxy_for(base_url, env);
  if (route && *route) return "the proxy " + (*route)->display() + " (" + (*route)->variable + ")";
  return "the proxy (HTTPS_PROXY)";
}

Status proxy_refused(std::string_view base_url, const EnvReader& env, const std::string& host,
                     long code, const std::string& why) {
  return Error::invalid(proxy_name(base_url, env) + " refused to connect to " + host + ": HTTP " +
                        std::to_string(code) + " (" + why + ")");
}

// The errors of a certificate that did not verify (X509_V_ERR_*), both clients.
Status certificate_failure(long verify, const std::string& host, const EngineOptions& o,
                           const std::string& why) {
  switch (verify) {
    case kCertHasExpired:
      return Error::invalid("the gateway's TLS certificate (" + host + ") has expired (" + why +
                            ")");
    case kCertNotYetValid:
      return Error::invalid("the gateway's TLS certificate (" + host + ") is not valid yet (" +
                            why + ")");
    case kUnableToGetIssuer:
    case kSelfSignedLeaf:
    case kSelfSignedInChain:
    case kUnableToGetIssuerLocally:
    case kUnableToVerifyLeafSignature:
      return Error::invalid("the gateway's TLS certificate (" + host +
                            ") is not from a trusted CA: " + trust_hint(o) + " (" + why + ")");
    case kHostnameMismatch:
    case kIpAddressMismatch:
    case 0:  // the chain verified: the name did not match
      return Error::invalid("the gateway's TLS certificate is not for host " + host +
                            ": check the gateway URL (" + why + ")");
    default:
      return Error::invalid("the gateway's TLS certificate (" + host +
                            ") did not verify: X509 error " + std::to_string(verify) + " (" + why +
                            ")");
  }
}

Status handshake_failure(const std::string& host, const std::string& why) {
  return Error::invalid("the TLS handshake with " + host +
                        " failed; the gateway must offer TLS 1.2 or newer with current ciphers (" +
                        why + ")");
}

}  // namespace

Status check_ca_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error::invalid("--ca-file / GATEWAY_CA_FILE: cannot read " + path + ": " +
                          std::strerror(errno));
  }
  constexpr size_t kMaxCaFileBytes = 16 << 20;  // a bundle of every public CA is ~200 KB
  std::string text;
  text.resize(kMaxCaFileBytes);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (in.bad()) {
    return Error::invalid("--ca-file / GATEWAY_CA_FILE: cannot read " + path);
  }
  const size_t begin = text.find("-----BEGIN CERTIFICATE-----");
  if (begin == std::string::npos ||
      text.find("-----END CERTIFICATE-----", begin) == std::string::npos) {
    return Error::invalid(
        "--ca-file / GATEWAY_CA_FILE: " + path +
        " holds no PEM certificate (expected -----BEGIN CERTIFICATE----- blocks)");
  }
  return ok_status();
}

Status check_connection(std::string_view base_url, const EngineOptions& o) {
  if (!o.ca_file.empty()) {
    if (auto s = check_ca_file(o.ca_file); !s) return s;
  }
  if (!internal::ensure_curl_global_init()) {
    return Error::internal("libcurl could not be initialized");
  }
  CurlEasy easy(curl_easy_init());
  if (!easy) return Error::internal("out of memory checking the gateway connection");
  CURL* e = easy.get();
  const std::string url(base_url);
  char detail[CURL_ERROR_SIZE] = {};
  const long timeout_ms =
      static_cast<long>(std::chrono::ceil<std::chrono::milliseconds>(o.connect_timeout).count());
  // The engine's transport options (curl_engine.cc), without a request.
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(e, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  if (!o.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, o.ca_file.c_str());
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, detail);

  const CURLcode rc = curl_easy_perform(e);
  if (rc == CURLE_OK) return ok_status();

  std::string why = detail[0] != '\0' ? detail : curl_easy_strerror(rc);
  for (char& c : why) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  const std::string host = host_of(base_url);
  long proxy_code = 0;
  curl_easy_getinfo(e, CURLINFO_HTTP_CONNECTCODE, &proxy_code);
  if (proxy_code != 0 && proxy_code != 200) {
    return proxy_refused(base_url, process_environment(), host, proxy_code, why);
  }
  long verify = 0;
  curl_easy_getinfo(e, CURLINFO_SSL_VERIFYRESULT, &verify);
  // libcurl checks the host name itself after OpenSSL accepted the chain; the verify result then
  // holds whatever OpenSSL last recorded, so libcurl's message is what tells a name mismatch.
  if (rc == CURLE_PEER_FAILED_VERIFICATION &&
      (why.find("subject name") != std::string::npos ||
       why.find("does not match target host") != std::string::npos)) {
    verify = kHostnameMismatch;
  }
  switch (rc) {
    case CURLE_PEER_FAILED_VERIFICATION:
      return certificate_failure(verify, host, o, why);
    case CURLE_SSL_CACERT_BADFILE:
      return Error::invalid("--ca-file / GATEWAY_CA_FILE " + o.ca_file + " cannot be used (" + why +
                            ")");
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_SSL_CIPHER:
    case CURLE_USE_SSL_FAILED:
      return handshake_failure(host, why);
    case CURLE_COULDNT_RESOLVE_PROXY:
      return Error::invalid("cannot resolve " + proxy_name(base_url, process_environment()) +
                            " (" + why + ")");
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
      return Error::unavailable("cannot reach the gateway at " + host + " (" + why + ")");
    default:
      return Error::unavailable("connecting to the gateway at " + host + " failed (" + why + ")");
  }
}

Status check_native_connection(std::string_view base_url, const EngineOptions& o,
                               const EnvReader& env) {
  if (!o.ca_file.empty()) {
    if (auto s = check_ca_file(o.ca_file); !s) return s;
  }
  EngineOptions one = o;
  one.max_in_flight = 1;
  auto engine = NativeEngine::create(one, env);
  if (!engine) return engine.error();
  const ConnectOutcome r = (*engine)->connect_only(base_url);
  if (r.error == TransportError::kNone) return ok_status();
  const std::string host = host_of(base_url);
  const std::string& why = r.message;
  if (r.proxy_status != 0) return proxy_refused(base_url, env, host, r.proxy_status, why);
  switch (r.error) {
    case TransportError::kTls:
      if (r.verify_result != 0) return certificate_failure(r.verify_result, host, o, why);
      return handshake_failure(host, why);
    case TransportError::kResolve:
      if (why.rfind("Could not resolve proxy", 0) == 0) {
        return Error::invalid("cannot resolve " + proxy_name(base_url, env) + " (" + why + ")");
      }
      return Error::unavailable("cannot reach the gateway at " + host + " (" + why + ")");
    case TransportError::kConnect:
    case TransportError::kTimeout:
      return Error::unavailable("cannot reach the gateway at " + host + " (" + why + ")");
    default:
      return Error::unavailable("connecting to the gateway at " + host + " failed (" + why + ")");
  }
}

}  // namespace dr::http
