// HttpRequestReader: one HTTP/1.x request read from raw bytes under hard limits, re-framed for httplib.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hangar::api {

// What one request may take before it is refused. The head limits bound what a client that
// has not yet been authenticated can make the server hold.
struct HttpLimits {
  size_t max_line_bytes = 8 << 10;    // the request line (414) and each header line (431)
  size_t max_header_count = 100;      // 431 beyond
  size_t max_head_bytes = 64 << 10;   // request line and header lines together (431)
  size_t max_body_bytes = 8 << 20;    // decoded body, chunked or not (413)
};

// The head of a request as sent. Field values keep their trailing whitespace: the API key is
// compared byte for byte.
struct HttpHead {
  std::string method, target, version;
  std::vector<std::pair<std::string, std::string>> fields;  // (name as sent, value)

  // How many fields have this name (case-insensitive), and the first one's value ("" if none).
  size_t count(std::string_view name) const;
  const std::string* find(std::string_view name) const;
  // The path part of the target (before '?'), undecoded.
  std::string_view path() const;
};

// Feeds on the bytes of one connection and stops at the end of one request. Bytes past it
// (a pipelined request) stay in the caller's buffer. The body is de-chunked as it arrives and
// counted against max_body_bytes whatever its framing, and a compressed body is refused, so
// that httplib (which would decompress it, and in 0.11.4 reads chunked bodies without limit)
// only ever sees a request with a Content-Length within the limit. Not thread-safe.
class HttpRequestReader {
 public:
  enum class State {
    kHead,      // reading the request line and header fields
    kBody,      // the head is complete (see head()); reading the body
    kComplete,  // take_request() holds the whole request
    kFailed,    // error_status()/error_message() say why; the connection should close
  };

  explicit HttpRequestReader(const HttpLimits& limits) : limits_(limits) {}

  // Consumes what it can from the front of `in` and returns the state. The call that
  // completes the head returns kBody without taking any body byte, so that the caller can
  // refuse the request (the API key) before its body is read; the next call takes the body.
  // Once kComplete or kFailed it consumes nothing until reset().
  State feed(std::string& in);
  State state() const { return state_; }
  // True once any byte of the current request has arrived (a keep-alive connection between
  // requests has none).
  bool started() const { return started_; }

  const HttpHead& head() const { return head_; }  // valid from kBody on
  // The body's declared or decoded length so far, and whether the client waits for
  // "100 Continue" before sending it.
  bool expects_continue() const { return expects_continue_; }
  bool has_body() const { return chunked_ || content_length_ > 0; }

  int error_status() const { return error_status_; }
  const std::string& error_message() const { return error_message_; }

  // The request as httplib should read it: the request line, the fields without
  // Transfer-Encoding, Content-Length and Expect, a Content-Length of the body, and the body.
  // Valid once, in kComplete.
  std::string take_request();

  // Starts over for the next request on the same connection.
  void reset();

 private:
  enum class Chunk { kSize, kData, kDataEnd, kTrailer };

  State fail(int status, std::string message);
  // Takes one line (without its CR LF) from `in` at `pos`; false when it is not complete yet.
  bool take_line(std::string& in, size_t& pos, size_t max, std::string* line, bool* too_long);
  State on_head_line(const std::string& line);
  State on_head_end();
  State feed_body(std::string& in, size_t& pos);

  HttpLimits limits_;
  State state_ = State::kHead;
  bool started_ = false;
  HttpHead head_;
  size_t head_bytes_ = 0;
  bool have_request_line_ = false;
  bool chunked_ = false;
  bool expects_continue_ = false;
  uint64_t content_length_ = 0;
  Chunk chunk_ = Chunk::kSize;
  uint64_t chunk_left_ = 0;
  size_t trailer_bytes_ = 0;
  std::string body_;
  int error_status_ = 0;
  std::string error_message_;
};

}  // namespace hangar::api
