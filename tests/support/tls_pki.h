#pragma once

#include <string>

#include "support/temp_dir.h"

namespace dr::test {

// A throwaway PKI made with the openssl CLI in a temp dir (removed with the object):
//   ca.pem / ca.key                 the test CA
//   server.pem / server.key         for 127.0.0.1 (IP SAN only), signed by the CA, valid 2 days
//   wrong-name.pem / wrong-name.key for DNS:wrong.example only, signed by the CA
//   expired.pem                     for 127.0.0.1 (key server.key), valid 2020-2021 only
//   not-pem.pem                     a text file without a certificate
// ok() is false when the openssl CLI is missing or failed (tests then skip with a message).
class TestPki {
 public:
  TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  bool ok() const { return ok_; }
  std::string path(const char* name) const { return (dir_.path() / name).string(); }

 private:
  TempDir dir_{"dr-tls"};
  bool ok_ = false;
};

}  // namespace dr::test
