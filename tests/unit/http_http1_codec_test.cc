// The native engine's HTTP/1.1 codec on byte strings: every response is also fed one byte at a
// time and split at every position, so a read boundary anywhere gives the same result.
#include <gtest/gtest.h>

#include <string>

#include "http/http1_codec.h"

namespace dr::http::internal {
namespace {

using Status = Http1ResponseParser::Status;

struct Parsed {
  Status status = Status::kNeedMore;
  size_t left_over = 0;
  int code = 0;
  std::string body;
  std::string retry_after;
  bool keep_alive = false;
  std::string error;
};

// Feeds `wire` in pieces cut at `cuts` (sorted offsets); stops at the first final status.
Parsed parse_in_pieces(const std::string& wire, std::vector<size_t> cuts, size_t max_body,
                       bool close_at_end = false) {
  Http1ResponseParser p;
  p.reset(max_body);
  Parsed out;
  cuts.push_back(wire.size());
  size_t at = 0;
  for (size_t cut : cuts) {
    size_t consumed = 0;
    out.status = p.feed(wire.data() + at, cut - at, consumed);
    at += consumed;
    if (out.status != Status::kNeedMore) break;
    at = cut;
  }
  if (out.status == Status::kNeedMore && close_at_end) out.status = p.finish_at_close();
  out.left_over = wire.size() - at;
  out.code = p.status_code();
  out.body = p.body();
  out.retry_after = p.retry_after();
  out.keep_alive = p.keep_alive();
  out.error = p.error();
  return out;
}

// The same result whole, byte by byte and cut in two anywhere.
Parsed parse_every_way(const std::string& wire, size_t max_body = 1 << 20,
                       bool close_at_end = false) {
  const Parsed whole = parse_in_pieces(wire, {}, max_body, close_at_end);
  std::vector<size_t> every;
  for (size_t i = 1; i < wire.size(); ++i) every.push_back(i);
  const Parsed bytes = parse_in_pieces(wire, every, max_body, close_at_end);
  EXPECT_EQ(bytes.status, whole.status);
  EXPECT_EQ(bytes.body, whole.body);
  EXPECT_EQ(bytes.code, whole.code);
  for (size_t i = 1; i < wire.size(); ++i) {
    const Parsed two = parse_in_pieces(wire, {i}, max_body, close_at_end);
    EXPECT_EQ(two.status, whole.status) << "cut at " << i;
    EXPECT_EQ(two.body, whole.body) << "cut at " << i;
    EXPECT_EQ(two.retry_after, whole.retry_after) << "cut at " << i;
    EXPECT_EQ(two.keep_alive, whole.keep_alive) << "cut at " << i;
  }
  return whole;
}

TEST(Http1CodecTest, RequestBytes) {
  std::string out;
  append_request(out, "GET", "/pgpub/session/t1", "127.0.0.1:8080",
                 "User-Agent: ua\r\nx-api-key: k\r\n", {"x-extra: 1"}, "", false);
  EXPECT_EQ(out,
            "GET /pgpub/session/t1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: ua\r\n"
            "x-api-key: k\r\nx-extra: 1\r\n\r\n");
  out.clear();
  append_request(out, "POST", "/s", "h", "", {}, "{\"a\":1}", true);
  EXPECT_EQ(out, "POST /s HTTP/1.1\r\nHost: h\r\nContent-Length: 7\r\n\r\n{\"a\":1}");
}

TEST(Http1CodecTest, ContentLengthAndRetryAfter) {
  const Parsed p =
      parse_every_way("HTTP/1.1 429 Too Many\r\ncontent-LENGTH: 2\r\nRetry-After:  7 \r\n\r\n{}");
  EXPECT_EQ(p.status, Status::kDone);
  EXPECT_EQ(p.code, 429);
  EXPECT_EQ(p.body, "{}");
  EXPECT_EQ(p.retry_after, "7");
  EXPECT_TRUE(p.keep_alive);
}

TEST(Http1CodecTest, ChunkedWithExtensionsAndTrailers) {
  const Parsed p = parse_every_way(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\nA\r\n, world!!!\r\n0\r\nX-Trailer: y\r\n\r\n");
  EXPECT_EQ(p.status, Status::kDone);
  EXPECT_EQ(p.body, "hello, world!!!");
  EXPECT_TRUE(p.keep_alive);
}

TEST(Http1CodecTest, InterimResponsesAreSkipped) {
  const Parsed p = parse_every_way(
      "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_EQ(p.status, Status::kDone);
  EXPECT_EQ(p.code, 200);
  EXPECT_EQ(p.body, "abc");
}

TEST(Http1CodecTest, WhatEndsKeepAlive) {
  EXPECT_FALSE(parse_every_way("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
                   .keep_alive);
  EXPECT_FALSE(parse_every_way("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
  EXPECT_TRUE(
      parse_every_way("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n")
          .keep_alive);
  // No length: the close ends the body, and the connection with it.
  const Parsed p = parse_every_way("HTTP/1.1 200 OK\r\n\r\nuntil the end", 1 << 20, true);
  EXPECT_EQ(p.status, Status::kDone);
  EXPECT_EQ(p.body, "until the end");
  EXPECT_FALSE(p.keep_alive);
}

TEST(Http1CodecTest, NoBodyFor204And304) {
  const Parsed p = parse_every_way("HTTP/1.1 204 No Content\r\n\r\n");
  EXPECT_EQ(p.status, Status::kDone);
  EXPECT_TRUE(p.body.empty());
}

TEST(Http1CodecTest, BytesAfterTheResponseAreLeft) {
  const Parsed p =
      parse_in_pieces("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxHTTP/1.1", {}, 100);
  EXPECT_EQ(p.status, Status::kDone);
  EXPECT_EQ(p.left_over, 8u);
}

TEST(Http1CodecTest, TooLargeByLengthAndWhileChunked) {
  EXPECT_EQ(parse_every_way("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", 10).status,
            Status::kTooLarge);
  EXPECT_EQ(parse_every_way("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", 10).status,
            Status::kDone);
  EXPECT_EQ(parse_every_way("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                            "6\r\n012345\r\n5\r\n67890\r\n0\r\n\r\n",
                            10)
                .status,
            Status::kTooLarge);
  EXPECT_EQ(parse_every_way("HTTP/1.1 200 OK\r\n\r\n01234567890", 10, true).status,
            Status::kTooLarge);
}

TEST(Http1CodecTest, MalformedResponsesAreErrors) {
  for (const char* wire : {"HTTP/1.1 2x0 OK\r\n\r\n", "SSH-2.0-OpenSSH_9.2\r\n\r\n",
                           "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
                           "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                           "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                           "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n"}) {
    const Parsed p = parse_in_pieces(wire, {}, 100);
    EXPECT_EQ(p.status, Status::kError) << wire;
    EXPECT_FALSE(p.error.empty()) << wire;
    EXPECT_EQ(p.error.find('\n'), std::string::npos) << wire;
  }
}

TEST(Http1CodecTest, ClosedEarly) {
  Http1ResponseParser p;
  p.reset(100);
  EXPECT_EQ(p.finish_at_close(), Status::kError);
  EXPECT_EQ(p.error(), "Empty reply from server");
  EXPECT_EQ(p.bytes_seen(), 0u);
  const Parsed half =
      parse_in_pieces("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", {}, 100, true);
  EXPECT_EQ(half.status, Status::kError);
  EXPECT_NE(half.error.find("before the response was complete"), std::string::npos);
}

TEST(Http1CodecTest, HeaderSizeIsBounded) {
  std::string wire = "HTTP/1.1 200 OK\r\nX-Long: ";
  wire += std::string(Http1ResponseParser::kMaxHeaderBytes, 'a');
  EXPECT_EQ(parse_in_pieces(wire, {}, 100).status, Status::kError);
}

}  // namespace
}  // namespace dr::http::internal
