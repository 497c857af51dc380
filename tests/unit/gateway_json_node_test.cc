// Differential test: our request bodies and HMACs against Node's JSON.stringify and
// crypto.createHmac (the API page's sample client), over generated payloads. Node is the oracle:
// it receives every value as hex (UTF-8 bytes, IEEE-754 bits) and builds the object itself, so
// nothing of our serializer reaches it.
#include <gtest/gtest.h>

#include <bit>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gateway/create_session.h"
#include "gateway/json_text.h"
#include "gateway/signing.h"
#include "support/run_binary.h"
#include "support/temp_dir.h"

namespace dr::gateway {
namespace {

constexpr int kPayloads = 12'000;
constexpr int kNumbers = 200'000;
constexpr uint64_t kSeed = 20261130;

std::string find_node() {
  for (const char* p : {"/usr/bin/node", "/usr/bin/nodejs", "/usr/local/bin/node"}) {
    if (std::filesystem::exists(p)) return p;
  }
  return "";
}

std::string hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xF]);
  }
  return out;
}

std::string hex_bits(double d) {
  static constexpr char kHex[] = "0123456789abcdef";
  const auto bits = std::bit_cast<uint64_t>(d);
  std::string out;
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kHex[(bits >> shift) & 0xF]);
  return out;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  uint64_t below(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }

  uint32_t code_point() {
    static constexpr uint32_t kSpecial[] = {'"',    '\\',   '/',    0x7F,   0x2028,  0x2029,
                                            0xFEFF, 0xFFFD, 0xFFFE, 0xFFFF, 0x1F600, 0x10FFFF,
                                            0xD7FF, 0xE000, 0x80,   0x7FF,  0x800,   0x10000};
    switch (below(8)) {
      case 0:
        return static_cast<uint32_t>(below(0x20));  // control characters
      case 1:
        return kSpecial[below(std::size(kSpecial))];
      case 2:
        return static_cast<uint32_t>(0x80 + below(0x800 - 0x80));
      case 3: {
        uint32_t cp;
        do cp = static_cast<uint32_t>(0x800 + below(0x10000 - 0x800));
        while (cp >= 0xD800 && cp <= 0xDFFF);
        return cp;
      }
      case 4:
        return static_cast<uint32_t>(0x10000 + below(0x110000 - 0x10000));  // astral
      default:
        return static_cast<uint32_t>(0x20 + below(0x7F - 0x20));  // printable ASCII
    }
  }

  std::string text() {
    size_t length;
    switch (below(20)) {
      case 0:
        length = 4000;  // the page's maximum
        break;
      case 1:
        length = 3999 + below(3);
        break;
      case 2:
        length = 1;
        break;
      case 3:
        length = 100 + below(400);
        break;
      default:
        length = 1 + below(40);
    }
    std::string s;
    for (size_t i = 0; i < length; ++i) append_utf8(s, code_point());
    return s;
  }

  double amount() {
    switch (below(12)) {
      case 0:
        return static_cast<double>(below(1001));  // whole dollars
      case 1:
        return static_cast<double>(below(10'000'000)) / 100;  // cents
      case 2:
        return std::pow(10.0, static_cast<double>(below(50)) - 25);  // powers of ten
      case 3: {  // next to the exponent-form boundaries
        static constexpr double kEdges[] = {
            1e21, 1e-7, 1e-6, 1e20, 1.5e-7, 9.999999e-7, 999999999999999900000.0};
        double e = kEdges[below(std::size(kEdges))];
        if (chance(0.5)) e = std::nextafter(e, chance(0.5) ? 0.0 : DBL_MAX);
        return e;
      }
      case 4:
        return static_cast<double>(below(uint64_t{1} << 53));  // exact integers
      case 5:                                                  // log-uniform magnitudes
        return std::pow(10.0, std::uniform_real_distribution<double>(-30, 30)(rng_));
      case 6: {  // any finite double, negatives and subnormals included
        double d;
        do d = std::bit_cast<double>(rng_());
        while (!std::isfinite(d));
        return d;
      }
      case 7: {
        static constexpr double kOdd[] = {0.0,       -0.0,    DBL_MIN, DBL_MAX, 5e-324,
                                          0.1 + 0.2, 1.0 / 3, 123e-20, 5e-7,    1e100};
        return kOdd[below(std::size(kOdd))];
      }
      default:
        return std::uniform_real_distribution<double>(0, 10'000)(rng_);
    }
  }

 private:
  std::mt19937_64 rng_;
};

struct Payload {
  CreateSessionRequest request;
  std::string secret;
};

std::string line_for(const Payload& p) {
  const auto& r = p.request;
  std::string l = "userId=" + hex(r.user_id) + "\tuserName=" + hex(r.user_name);
  if (r.user_name_surname) l += "\tuserNameSurname=" + hex(*r.user_name_surname);
  if (r.user_email) l += "\tuserEmail=" + hex(*r.user_email);
  if (r.language) l += "\tsessionDefaultLanguage=" + hex(*r.language);
  if (r.fiat_currency) l += "\tsessionDefaultFiatCurrency=" + hex(*r.fiat_currency);
  if (r.min_payment_usd) l += "\tminPaymentAmountInUSD=" + hex_bits(*r.min_payment_usd);
  if (r.max_payment_usd) l += "\tmaxPaymentAmountInUSD=" + hex_bits(*r.max_payment_usd);
  if (r.redirect_url) l += "\tredirectUrl=" + hex(*r.redirect_url);
  l += "\tsecret=" + hex(p.secret);
  return l;
}

std::vector<std::string> read_lines(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

std::string base64_decode_for_message(const std::string& b64) {
  // Only for failure messages: show Node's body next to ours.
  static const std::string kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : b64) {
    auto v = kAlphabet.find(c);
    if (v == std::string::npos) break;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return out;
}

class NodeOracle : public ::testing::Test {
 protected:
  void SetUp() override {
    node_ = find_node();
    if (node_.empty()) GTEST_SKIP() << "node not installed (scripts/install-deps.sh installs it)";
  }
  // Runs the oracle script; returns its output lines.
  std::vector<std::string> run(const char* mode, const std::vector<std::string>& input) {
    const auto in = dir_.path() / "in.txt";
    const auto out = dir_.path() / "out.txt";
    {
      std::ofstream f(in, std::ios::binary);
      for (const auto& l : input) f << l << '\n';
    }
    auto r =
        test::run_program(node_, {std::string(DR_SOURCE_DIR) + "/tests/oracle/stringify-oracle.js",
                                  mode, in.string(), out.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return read_lines(out);
  }

  std::string node_;
  test::TempDir dir_{"dr-node-oracle"};
};

TEST_F(NodeOracle, NumbersAreWrittenAsJsonStringifyWritesThem) {
  Generator g(kSeed);
  std::vector<double> values;
  for (int i = 0; i < kNumbers; ++i) values.push_back(g.amount());
  // Non-finite numbers: JSON.stringify writes null.
  values.push_back(std::numeric_limits<double>::infinity());
  values.push_back(-std::numeric_limits<double>::infinity());
  values.push_back(std::numeric_limits<double>::quiet_NaN());
  std::vector<std::string> input;
  for (double d : values) input.push_back(hex_bits(d));
  const auto expected = run("numbers", input);
  ASSERT_EQ(expected.size(), values.size());
  int mismatches = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    std::string ours;
    append_js_number(ours, values[i]);
    if (ours != expected[i] && ++mismatches <= 10) {
      ADD_FAILURE() << "bits " << input[i] << ": node " << expected[i] << ", ours " << ours;
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << values.size() << " numbers (seed " << kSeed << ")";
}

TEST_F(NodeOracle, BodiesAndHmacsAreByteIdenticalToTheSampleClient) {
  Generator g(kSeed + 1);
  std::vector<Payload> payloads;
  // The page's own sample first.
  Payload sample;
  sample.request.user_id = "YOUR_UNIQUE_USER_ID";
  sample.request.user_name = "YOUR_USER_NAME";
  sample.request.user_name_surname = "THE_NAME_AND_SURNAME_OF_YOUR_USER";
  sample.request.language = "en";
  sample.request.fiat_currency = "USD";
  sample.request.min_payment_usd = 0.5;
  sample.secret = "YOUR HMAC SECRET Key";
  payloads.push_back(sample);
  static constexpr const char* kCurrencies[] = {"USD", "EUR", "GBP", "KRW", "BRL", "TRY"};
  while (payloads.size() < static_cast<size_t>(kPayloads)) {
    Payload p;
    auto& r = p.request;
    r.user_id = g.text();
    r.user_name = g.text();
    if (g.chance(0.5)) r.user_name_surname = g.text();
    if (g.chance(0.5)) r.user_email = g.text();
    if (g.chance(0.5)) r.language = g.chance(0.8) ? "en" : g.text();
    if (g.chance(0.5)) r.fiat_currency = kCurrencies[g.below(6)];
    if (g.chance(0.7)) r.min_payment_usd = g.amount();
    if (g.chance(0.7)) r.max_payment_usd = g.amount();
    if (g.chance(0.3)) r.redirect_url = "https://merchant.example/done?u=" + g.text();
    const size_t secret_length = 1 + g.below(64);
    for (size_t i = 0; i < secret_length; ++i) append_utf8(p.secret, g.code_point());
    payloads.push_back(std::move(p));
  }
  std::vector<std::string> input;
  for (const auto& p : payloads) input.push_back(line_for(p));
  const auto expected = run("payloads", input);
  ASSERT_EQ(expected.size(), payloads.size());

  int body_mismatches = 0, hmac_mismatches = 0;
  for (size_t i = 0; i < payloads.size(); ++i) {
    const std::string body = to_json_body(payloads[i].request);
    const auto tab = expected[i].find('\t');
    ASSERT_NE(tab, std::string::npos) << expected[i];
    const std::string node_body_b64 = expected[i].substr(0, tab);
    const std::string node_hmac = expected[i].substr(tab + 1);
    if (base64_encode(body) != node_body_b64 && ++body_mismatches <= 5) {
      ADD_FAILURE() << "payload " << i << "\n node: " << base64_decode_for_message(node_body_b64)
                    << "\n ours: " << body;
    }
    if (hmac_sha512_base64(payloads[i].secret, body) != node_hmac) ++hmac_mismatches;
  }
  EXPECT_EQ(body_mismatches, 0) << "of " << payloads.size() << " payloads (seed " << kSeed + 1
                                << ")";
  EXPECT_EQ(hmac_mismatches, 0) << "of " << payloads.size() << " payloads";
}

}  // namespace
}  // namespace dr::gateway
