#include <gtest/gtest.h>

#include "http/url_policy.h"

namespace dr::http {
namespace {

std::string message_of(std::string_view url) {
  const Status s = check_base_url(url);
  EXPECT_FALSE(s.ok()) << url;
  if (s.ok()) return "";
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument) << url;
  return s.error().message;
}

TEST(UrlPolicyTest, AcceptsHttpsAnywhere) {
  for (const char* url :
       {"https://api-prod.alfa-instap-cpt.uk", "https://api-prod.alfa-instap-cpt.uk/",
        "https://gateway.example:8443/prefix/", "HTTPS://Example.COM", "https://10.1.2.3"}) {
    EXPECT_TRUE(check_base_url(url).ok()) << url;
  }
}

TEST(UrlPolicyTest, AcceptsPlainHttpOnlyForLoopback) {
  for (const char* url : {"http://127.0.0.1:8080", "http://127.255.0.9/", "http://localhost:1234/x",
                          "http://LOCALHOST", "http://[::1]:9000/", "http://127.1"}) {
    EXPECT_TRUE(check_base_url(url).ok()) << url;
  }
  for (const char* url : {"http://example.com", "http://10.0.0.1", "http://128.0.0.1",
                          "http://127.0.0.1.example.com", "http://localhost.example.com",
                          "http://[::2]", "http://[::ffff:10.0.0.1]", "http://0.0.0.0"}) {
    const std::string m = message_of(url);
    EXPECT_NE(m.find("must use https"), std::string::npos) << url << ": " << m;
  }
}

TEST(UrlPolicyTest, RejectsOtherSchemes) {
  EXPECT_NE(message_of("ftp://127.0.0.1/").find("scheme is 'ftp'"), std::string::npos);
  EXPECT_NE(message_of("file:///etc/passwd").find("gateway URL"), std::string::npos);
  EXPECT_NE(message_of("gopher://example.com").find("must use https"), std::string::npos);
}

TEST(UrlPolicyTest, RejectsWhatIsNotAnAbsoluteUrl) {
  for (const char* url : {"", "api.example.com", "/pgpub/session", "https://", "https:///path",
                          "https://exa mple.com", "not a url"}) {
    const std::string m = message_of(url);
    EXPECT_NE(m.find("gateway URL"), std::string::npos) << url << ": " << m;
  }
}

TEST(UrlPolicyTest, RejectsUserInfoWithoutEchoingIt) {
  for (const char* url :
       {"https://alice:s3cr3tP4ss@example.com/", "https://alice@example.com",
        "https://:s3cr3tP4ss@example.com", "http://bob:s3cr3tP4ss@127.0.0.1:80/"}) {
    const std::string m = message_of(url);
    EXPECT_NE(m.find("user info"), std::string::npos) << url << ": " << m;
    EXPECT_EQ(m.find("s3cr3tP4ss"), std::string::npos) << m;
    EXPECT_EQ(m.find("alice"), std::string::npos) << m;
  }
  // Malformed URLs with a password do not echo it either.
  for (const char* url : {"https://u:s3cr3tP4ss@exa mple.com", "h ttps://u:s3cr3tP4ss@x",
                          "https://u:s3cr3tP4ss@[::1"}) {
    EXPECT_EQ(message_of(url).find("s3cr3tP4ss"), std::string::npos) << url;
  }
}

TEST(UrlPolicyTest, RejectsQueryAndFragment) {
  EXPECT_NE(message_of("https://example.com/?key=1").find("query"), std::string::npos);
  EXPECT_NE(message_of("https://example.com/#top").find("fragment"), std::string::npos);
  EXPECT_NE(message_of("https://example.com/?").find("query"), std::string::npos);
}

TEST(UrlPolicyTest, LoopbackHosts) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.9.8.7"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_TRUE(is_loopback_host("[::1]"));
  EXPECT_TRUE(is_loopback_host("LocalHost"));
  EXPECT_FALSE(is_loopback_host("126.0.0.1"));
  EXPECT_FALSE(is_loopback_host("localhost.evil"));
  EXPECT_FALSE(is_loopback_host(""));
  EXPECT_FALSE(is_loopback_host("[::1"));
}

}  // namespace
}  // namespace dr::http
