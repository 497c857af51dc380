#include <gtest/gtest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "gateway/create_session.h"
#include "gateway/signing.h"

namespace dr::gateway {
namespace {

std::string from_hex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// RFC 4231 section 4, HMAC-SHA-512 results (test cases 1, 2, 3 and 6).
TEST(HmacSha512, Rfc4231Vectors) {
  struct Case {
    std::string key, data, hex;
  };
  const std::vector<Case> cases = {
      {std::string(20, '\x0b'), "Hi There",
       "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eae"
       "a3f4e4be9d914eeb61f1702e696c203a126854"},
      {"Jefe", "what do ya want for nothing?",
       "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8"
       "f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
      {std::string(20, '\xaa'), std::string(50, '\xdd'),
       "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e"
       "67c807b946a337bee8942674278859e13292fb"},
      {std::string(131, '\xaa'), "Test Using Larger Than Block-Size Key - Hash Key First",
       "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d"
       "6a1e5295e64f73f63f0aec8b915a985d786598"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(hmac_sha512_base64(c.key, c.data), base64_encode(from_hex(c.hex))) << c.data;
  }
}

// tests/data/hmac-vectors.tsv was made by tests/data/make-hmac-vectors.sh with the openssl CLI and
// with Node's crypto.createHmac (the gateway's own sample client).
TEST(HmacSha512, MatchesOpensslCliAndNodeSampleClient) {
  std::ifstream in(std::string(DR_SOURCE_DIR) + "/tests/data/hmac-vectors.tsv");
  ASSERT_TRUE(in) << "missing tests/data/hmac-vectors.tsv";
  std::string line;
  int rows = 0;
  while (std::getline(in, line)) {
    std::vector<std::string> cols;
    std::stringstream ss(line);
    std::string col;
    while (std::getline(ss, col, '\t')) cols.push_back(col);
    ASSERT_EQ(cols.size(), 4u) << line;
    EXPECT_EQ(hmac_sha512_base64(cols[0], cols[1]), cols[2]) << "openssl: " << cols[1];
    EXPECT_EQ(hmac_sha512_base64(cols[0], cols[1]), cols[3]) << "node: " << cols[1];
    ++rows;
  }
  EXPECT_EQ(rows, 4);
}

TEST(HmacSha512, SignsTheExactSerializedBody) {
  CreateSessionRequest r;
  r.user_id = "YOUR_UNIQUE_USER_ID";
  r.user_name = "YOUR_USER_NAME";
  r.user_name_surname = "THE_NAME_AND_SURNAME_OF_YOUR_USER";
  r.language = "en";
  r.fiat_currency = "USD";
  r.min_payment_usd = 0.5;
  // Byte for byte what the sample client's JSON.stringify produces for the same object.
  EXPECT_EQ(to_json_body(r),
            R"({"userId":"YOUR_UNIQUE_USER_ID","userName":"YOUR_USER_NAME",)"
            R"("userNameSurname":"THE_NAME_AND_SURNAME_OF_YOUR_USER","sessionDefaultLanguage":"en",)"
            R"("sessionDefaultFiatCurrency":"USD","minPaymentAmountInUSD":0.5})");
}

TEST(Base64, Rfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

TEST(ConstantTimeEqual, ComparesContentAndLength) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
  EXPECT_TRUE(constant_time_equal("", ""));
}

}  // namespace
}  // namespace dr::gateway
