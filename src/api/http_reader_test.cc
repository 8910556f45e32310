// HttpRequestReader: framing, limits and refusals, fed whole and byte by byte.
#include "api/http_reader.h"

#include <gtest/gtest.h>

#include "api/http_reader_test_support.h"

namespace hangar::api {
namespace {

using State = HttpRequestReader::State;
using testing::feed_in_steps;

HttpLimits small_limits() {
  HttpLimits l;
  l.max_line_bytes = 64;
  l.max_header_count = 4;
  l.max_head_bytes = 200;
  l.max_body_bytes = 16;
  return l;
}

TEST(HttpReader, ReframesAChunkedBodyWithAContentLength) {
  for (size_t step : {1, 3, 1000}) {
    HttpRequestReader r(small_limits());
    const std::string req =
        "POST /v1/x?y=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: t\r\n\r\n";
    ASSERT_EQ(feed_in_steps(r, req, step), State::kComplete) << step;
    EXPECT_EQ(r.head().method, "POST");
    EXPECT_EQ(r.head().path(), "/v1/x");
    EXPECT_EQ(r.take_request(), "POST /v1/x?y=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world");
  }
}

TEST(HttpReader, LeavesAPipelinedRequestInTheBuffer) {
  HttpRequestReader r(small_limits());
  std::string rest;
  ASSERT_EQ(feed_in_steps(r, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n", 1000, &rest), State::kComplete);
  EXPECT_EQ(rest, "GET /b HTTP/1.1\r\n\r\n");
  EXPECT_EQ(r.take_request(), "GET /a HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  r.reset();
  EXPECT_FALSE(r.started());
  EXPECT_EQ(r.feed(rest), State::kComplete);
  EXPECT_EQ(r.head().target, "/b");
}

TEST(HttpReader, KeepsTrailingSpaceInFieldValues) {
  HttpRequestReader r(small_limits());
  ASSERT_EQ(feed_in_steps(r, "GET / HTTP/1.1\r\nAuthorization:  Bearer k \r\n\r\n", 1000), State::kComplete);
  ASSERT_NE(r.head().find("authorization"), nullptr);
  EXPECT_EQ(*r.head().find("authorization"), "Bearer k ");
}

TEST(HttpReader, ChunkedBodyOverTheLimitIs413BeforeItsDataArrives) {
  HttpRequestReader r(small_limits());
  EXPECT_EQ(feed_in_steps(r, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123456789abcdef\r\n1\r\n", 1),
            State::kFailed);
  EXPECT_EQ(r.error_status(), 413);
}

TEST(HttpReader, ContentLengthOverTheLimitIs413AtTheHead) {
  HttpRequestReader r(small_limits());
  EXPECT_EQ(feed_in_steps(r, "POST / HTTP/1.1\r\nContent-Length: 17\r\n\r\n", 1000), State::kFailed);
  EXPECT_EQ(r.error_status(), 413);
  EXPECT_NE(r.error_message().find("--max-body-size"), std::string::npos);
}

TEST(HttpReader, LongLinesAreRefusedWithoutTheirEnd) {
  HttpRequestReader header(small_limits());
  EXPECT_EQ(feed_in_steps(header, "GET / HTTP/1.1\r\nX: " + std::string(200, 'a'), 7), State::kFailed);
  EXPECT_EQ(header.error_status(), 431);
  HttpRequestReader line(small_limits());
  EXPECT_EQ(feed_in_steps(line, "GET /" + std::string(200, 'a'), 7), State::kFailed);
  EXPECT_EQ(line.error_status(), 414);
}

TEST(HttpReader, TooManyFieldsOrTooLongAHeadIs431) {
  HttpRequestReader many(small_limits());
  EXPECT_EQ(feed_in_steps(many, "GET / HTTP/1.1\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n\r\n", 1000), State::kFailed);
  EXPECT_EQ(many.error_status(), 431);
  HttpRequestReader big(small_limits());
  std::string req = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 4; ++i) req += "X: " + std::string(50, 'a') + "\r\n";
  EXPECT_EQ(feed_in_steps(big, req + "\r\n", 1000), State::kFailed);
  EXPECT_EQ(big.error_status(), 431);
}

TEST(HttpReader, RefusesAmbiguousOrUnsupportedFraming) {
  struct Case {
    std::string head;
    int status;
  };
  for (const Case& c : std::vector<Case>{
           {"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n", 400},
           {"Content-Length: 3\r\nContent-Length: 3\r\n", 400},
           {"Content-Length: -3\r\n", 400},
           {"Content-Length: 99999999999999999999\r\n", 400},
           {"Transfer-Encoding: gzip, chunked\r\n", 501},
           {"Content-Length: 3\r\nContent-Encoding: gzip\r\n", 415},
           {"Expect: 200-ok\r\n", 417},
           {" folded\r\n", 400},
           {"Bad Name: x\r\n", 400},
           {"X: a\x01" "b\r\n", 400},
       }) {
    HttpRequestReader r(small_limits());
    EXPECT_EQ(feed_in_steps(r, "POST / HTTP/1.1\r\n" + c.head + "\r\nabc", 1000), State::kFailed) << c.head;
    EXPECT_EQ(r.error_status(), c.status) << c.head;
  }
}

TEST(HttpReader, MalformedChunksAndRequestLines) {
  for (const std::string& req : {std::string("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
                                 std::string("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n"),
                                 std::string("GET  / HTTP/1.1\r\n\r\n"), std::string("GET / FTP/1.1\r\n\r\n")}) {
    HttpRequestReader r(small_limits());
    EXPECT_EQ(feed_in_steps(r, req, 1000), State::kFailed) << req;
    EXPECT_EQ(r.error_status(), 400) << req;
  }
  HttpRequestReader v2(small_limits());
  EXPECT_EQ(feed_in_steps(v2, "GET / HTTP/2.0\r\n\r\n", 1000), State::kFailed);
  EXPECT_EQ(v2.error_status(), 505);
}

TEST(HttpReader, ExpectContinueOnlyWhenThereIsABody) {
  HttpRequestReader with(small_limits());
  EXPECT_EQ(feed_in_steps(with, "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", 1000),
            State::kBody);
  EXPECT_TRUE(with.expects_continue());
  std::string rest = "ok";
  EXPECT_EQ(with.feed(rest), State::kComplete);
  EXPECT_TRUE(rest.empty());
  EXPECT_EQ(with.take_request(), "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nok");
  HttpRequestReader without(small_limits());
  EXPECT_EQ(feed_in_steps(without, "POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n", 1000), State::kComplete);
  EXPECT_FALSE(without.expects_continue());
}

}  // namespace
}  // namespace hangar::api
