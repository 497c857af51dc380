#include "support/tls_pki.h"

#include <cstdlib>

namespace dr::test {

TestPki::TestPki() {
  const std::string dir = dir_.path().string();
  const std::string ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
  const std::string cmd =
      "cd '" + dir + "' && " + "openssl req -x509 " + ec +
      "-keyout ca.key -out ca.pem -days 2 -subj /CN=dr-test-ca && " + "openssl req " + ec +
      "-keyout server.key -out server.csr -subj /CN=127.0.0.1 && " +
      "printf 'subjectAltName=IP:127.0.0.1\\n' > ip.ext && " +
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial " +
      "-out server.pem -days 2 -extfile ip.ext && " + "openssl req " + ec +
      "-keyout wrong-name.key -out wrong.csr -subj /CN=wrong.example && " +
      "printf 'subjectAltName=DNS:wrong.example\\n' > dns.ext && " +
      "openssl x509 -req -in wrong.csr -CA ca.pem -CAkey ca.key -CAcreateserial " +
      "-out wrong-name.pem -days 2 -extfile dns.ext && " +
      // `openssl ca` is the CLI's only way to back-date a certificate.
      "printf '[ca]\\ndefault_ca=t\\n[t]\\ndatabase=index.txt\\nnew_certs_dir=.\\nserial=serial\\n"
      "default_md=sha256\\npolicy=p\\n[p]\\ncommonName=supplied\\n' > ca.cnf && " +
      ": > index.txt && echo 01 > serial && " +
      "openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca.key -in server.csr " +
      "-out expired.pem -startdate 20200101000000Z -enddate 20210101000000Z -extfile ip.ext " +
      "-notext && " + "printf 'this is not a certificate\\n' > not-pem.pem";
  ok_ = std::system(("(" + cmd + ") >/dev/null 2>&1").c_str()) == 0;
}

}  // namespace dr::test
