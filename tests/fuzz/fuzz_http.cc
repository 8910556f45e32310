// The http fuzz target: raw request bytes through HttpRequestReader, the server's own HTTP/1.x
// framing parser, whole and in random pieces.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "api/http_reader.h"
#include "api/http_reader_test_support.h"
#include "fuzz_targets.h"

namespace hangar::fuzz {
namespace {

using api::HttpLimits;
using api::HttpRequestReader;
using State = HttpRequestReader::State;

// Small limits, so that mutated inputs reach every one of them.
HttpLimits fuzz_limits() {
  HttpLimits l;
  l.max_line_bytes = 96;
  l.max_header_count = 8;
  l.max_head_bytes = 512;
  l.max_body_bytes = 1024;
  return l;
}

struct Outcome {
  State state = State::kHead;
  int status = 0;
  std::string request;  // take_request() when complete
  std::string left;     // bytes after the request (pipelined), when complete
};

Outcome read_request(const std::string& input, const std::vector<size_t>& cuts) {
  HttpRequestReader reader(fuzz_limits());
  Outcome o;
  std::string rest;
  o.state = api::testing::feed_at_cuts(reader, input, cuts, &rest);
  o.status = reader.error_status();
  if (o.state == State::kComplete) {
    o.request = reader.take_request();
    o.left = std::move(rest);
  }
  return o;
}

const char* state_name(State s) {
  switch (s) {
    case State::kHead: return "head";
    case State::kBody: return "body";
    case State::kComplete: return "complete";
    case State::kFailed: return "failed";
  }
  return "?";
}

std::string describe(const Outcome& o) {
  return std::string(state_name(o.state)) + (o.status ? " " + std::to_string(o.status) : "");
}

bool is_expected_status(int s) {
  for (int ok : {400, 413, 414, 415, 417, 431, 501, 505})
    if (s == ok) return true;
  return false;
}

std::string check(const std::string& input, uint64_t split_seed) {
  const Outcome whole = read_request(input, {input.size()});
  // The same bytes in random pieces, down to one byte at a time, must read the same way: a
  // CR LF, a chunk size or a limit split over two reads is where framing bugs live.
  Mutator m(split_seed);
  std::vector<size_t> cuts;
  const size_t step = m.one_in(4) ? 1 : 1 + m.below(64);
  for (size_t c = step; c < input.size(); c += m.one_in(2) ? step : 1 + m.below(step * 2)) cuts.push_back(c);
  cuts.push_back(input.size());
  const Outcome pieces = read_request(input, cuts);
  if (whole.state != pieces.state || whole.status != pieces.status)
    return "read whole: " + describe(whole) + ", in pieces: " + describe(pieces);
  if (whole.request != pieces.request || whole.left != pieces.left)
    return "the re-framed request or the bytes left differ between whole and in pieces";
  if (whole.state == State::kFailed && !is_expected_status(whole.status))
    return "refused with an unexpected status " + std::to_string(whole.status);
  if (whole.state != State::kComplete) return {};
  // The re-framed request (what httplib reads) is itself one well-framed request, read back
  // the same, with a body within the limit.
  const size_t head_end = whole.request.find("\r\n\r\n");
  if (head_end == std::string::npos) return "the re-framed request has no end of head";
  const size_t body = whole.request.size() - head_end - 4;
  if (body > fuzz_limits().max_body_bytes) return "a body of " + std::to_string(body) + " bytes passed the limit";
  if (whole.request.find("\r\nContent-Length: " + std::to_string(body) + "\r\n") == std::string::npos)
    return "the re-framed request's Content-Length is not its body's length";
  // Re-framing adds a Content-Length field and a space after each field name.
  HttpLimits roomy = fuzz_limits();
  roomy.max_line_bytes += 1;
  roomy.max_header_count += 1;
  roomy.max_head_bytes *= 2;
  HttpRequestReader again(roomy);
  std::string copy = whole.request;
  api::testing::feed_as_listener(again, copy);
  if (again.state() != State::kComplete || !copy.empty())
    return "the re-framed request does not read back as one request (" + std::string(state_name(again.state())) + ")";
  if (again.take_request() != whole.request) return "the re-framed request changes when read back";
  return {};
}

}  // namespace

Target http_target() {
  Target t;
  t.name = "http";
  t.seeds = {
      "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer k \r\n\r\n",
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n"
      "{\"prompt\":1}\nGET / HTTP/1.0\r\n\r\n",
      "\r\nPOST /v1/chat/completions?x=1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
      "5;ext=1\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nTrailer: t\r\n\r\nGET / HTTP/1.1\r\n\r\n",
      "PUT /x HTTP/1.1\nContent-Length: 3\nContent-Encoding: identity\n\nabc",
      "POST /x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n",
  };
  t.dictionary = {"\r\n", "\n", "\r\n\r\n", " ", "\t", ":", ";", "HTTP/1.1", "HTTP/2.0", "Transfer-Encoding: chunked\r\n",
                  "Content-Length: ", "Content-Length: 1024\r\n", "Content-Encoding: gzip\r\n", "Expect: 100-continue\r\n",
                  "Content-Length: 1025\r\n", "0\r\n\r\n", "ffffffffffffffff\r\n", "400\r\n", "3ff\r\n", "201\r\n",
                  "\r\n0\r\n", "X-Pad: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"};
  t.run = [](const std::string& input) -> std::string {
    uint64_t seed = 0;
    std::memcpy(&seed, input.data(), std::min(input.size(), sizeof seed));
    return check(input, seed ^ input.size());
  };
  return t;
}

}  // namespace hangar::fuzz
