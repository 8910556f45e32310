// HttpRequestReader: request line, header fields and body (plain or chunked) under limits.
#include "api/http_reader.h"

#include <algorithm>
#include <cctype>

namespace hangar::api {
namespace {

constexpr size_t kMaxChunkLine = 1024;  // hex size plus extensions

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 9110 token characters (method and field names).
bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c)) continue;
    if (std::string_view("!#$%&'*+-.^_`|~").find(ch) == std::string_view::npos) return false;
  }
  return true;
}

// Visible characters only: no controls, spaces or bytes that a client should have encoded.
bool is_target(std::string_view s) {
  if (s.empty()) return false;
  return std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c > 0x20 && c != 0x7f;
  });
}

bool is_field_value(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c == '\t' || (c >= 0x20 && c != 0x7f);
  });
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

size_t HttpHead::count(std::string_view name) const {
  return static_cast<size_t>(
      std::count_if(fields.begin(), fields.end(), [&](const auto& f) { return iequals(f.first, name); }));
}

const std::string* HttpHead::find(std::string_view name) const {
  for (const auto& f : fields)
    if (iequals(f.first, name)) return &f.second;
  return nullptr;
}

std::string_view HttpHead::path() const {
  std::string_view t = target;
  return t.substr(0, t.find('?'));
}

HttpRequestReader::State HttpRequestReader::fail(int status, std::string message) {
  error_status_ = status;
  error_message_ = std::move(message);
  return state_ = State::kFailed;
}

bool HttpRequestReader::take_line(std::string& in, size_t& pos, size_t max, std::string* line, bool* too_long) {
  const size_t nl = in.find('\n', pos);
  if (nl == std::string::npos) {
    // The terminator may still come, but not within the limit.
    *too_long = in.size() - pos > max + 1;
    return false;
  }
  size_t end = nl;
  if (end > pos && in[end - 1] == '\r') --end;
  *too_long = end - pos > max;
  if (*too_long) return false;
  line->assign(in, pos, end - pos);
  pos = nl + 1;
  return true;
}

HttpRequestReader::State HttpRequestReader::feed(std::string& in) {
  size_t pos = 0;
  if (!in.empty()) started_ = true;
  const bool in_body = state_ == State::kBody;
  while (state_ == State::kHead && pos < in.size()) {
    std::string line;
    bool too_long = false;
    const size_t before = pos;
    if (!take_line(in, pos, limits_.max_line_bytes, &line, &too_long)) {
      if (too_long)
        fail(have_request_line_ ? 431 : 414,
             have_request_line_ ? "a request header line exceeds " + std::to_string(limits_.max_line_bytes) + " bytes"
                                : "the request line exceeds " + std::to_string(limits_.max_line_bytes) + " bytes");
      break;
    }
    head_bytes_ += pos - before;
    if (head_bytes_ > limits_.max_head_bytes) {
      fail(431, "the request head exceeds " + std::to_string(limits_.max_head_bytes) + " bytes");
      break;
    }
    on_head_line(line);
  }
  if (in_body) feed_body(in, pos);
  in.erase(0, pos);
  return state_;
}

HttpRequestReader::State HttpRequestReader::on_head_line(const std::string& line) {
  if (!have_request_line_) {
    if (line.empty()) return state_;  // RFC 9112: ignore empty lines before the request line
    const size_t sp1 = line.find(' ');
    const size_t sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string::npos || line.find(' ', sp2 + 1) != std::string::npos)
      return fail(400, "malformed request line: expected 'METHOD target HTTP/1.1'");
    head_.method = line.substr(0, sp1);
    head_.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    head_.version = line.substr(sp2 + 1);
    if (!is_token(head_.method) || !is_target(head_.target))
      return fail(400, "malformed request line: expected 'METHOD target HTTP/1.1'");
    if (head_.version != "HTTP/1.1" && head_.version != "HTTP/1.0")
      return head_.version.rfind("HTTP/", 0) == 0 ? fail(505, "HTTP version " + head_.version + " is not supported")
                                                  : fail(400, "malformed request line: expected 'METHOD target HTTP/1.1'");
    have_request_line_ = true;
    return state_;
  }
  if (line.empty()) return on_head_end();
  if (line[0] == ' ' || line[0] == '\t') return fail(400, "folded header lines are not accepted");
  const size_t colon = line.find(':');
  if (colon == std::string::npos || !is_token(std::string_view(line).substr(0, colon)))
    return fail(400, "malformed header line: expected 'Name: value'");
  std::string_view value = std::string_view(line).substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  if (!is_field_value(value)) return fail(400, "header '" + line.substr(0, colon) + "' holds control characters");
  if (head_.fields.size() >= limits_.max_header_count)
    return fail(431, "the request has more than " + std::to_string(limits_.max_header_count) + " header fields");
  head_.fields.emplace_back(line.substr(0, colon), std::string(value));
  return state_;
}

HttpRequestReader::State HttpRequestReader::on_head_end() {
  const size_t te_count = head_.count("Transfer-Encoding");
  const size_t cl_count = head_.count("Content-Length");
  if (te_count > 0) {
    // Both framings at once is how requests are smuggled past proxies: refuse it.
    if (cl_count > 0) return fail(400, "a request may not have both Transfer-Encoding and Content-Length");
    const std::string te = lower(trim(*head_.find("Transfer-Encoding")));
    if (te_count > 1 || te != "chunked")
      return fail(501, "Transfer-Encoding '" + te + "' is not supported (only chunked)");
    chunked_ = true;
  } else if (cl_count > 0) {
    if (cl_count > 1) return fail(400, "the request has more than one Content-Length");
    const std::string_view cl = trim(*head_.find("Content-Length"));
    if (cl.empty() || cl.size() > 18 || !std::all_of(cl.begin(), cl.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return fail(400, "Content-Length must be a number of bytes");
    content_length_ = std::stoull(std::string(cl));
    if (content_length_ > limits_.max_body_bytes)
      return fail(413, "the request body of " + std::to_string(content_length_) + " bytes exceeds the limit of " +
                           std::to_string(limits_.max_body_bytes) + " bytes (--max-body-size)");
  }
  if (const std::string* ce = head_.find("Content-Encoding"); ce && lower(trim(*ce)) != "identity")
    return fail(415, "compressed request bodies (Content-Encoding: " + std::string(trim(*ce)) + ") are not accepted");
  if (const std::string* expect = head_.find("Expect")) {
    if (lower(trim(*expect)) != "100-continue") return fail(417, "only 'Expect: 100-continue' is supported");
    expects_continue_ = has_body();
  }
  return state_ = has_body() ? State::kBody : State::kComplete;
}

HttpRequestReader::State HttpRequestReader::feed_body(std::string& in, size_t& pos) {
  while (state_ == State::kBody) {
    if (!chunked_) {
      body_.reserve(content_length_);  // the head is admitted by now
      const size_t n = std::min<uint64_t>(in.size() - pos, content_length_ - body_.size());
      body_.append(in, pos, n);
      pos += n;
      if (body_.size() == content_length_) state_ = State::kComplete;
      return state_;
    }
    if (chunk_ == Chunk::kData) {
      const size_t n = std::min<uint64_t>(in.size() - pos, chunk_left_);
      body_.append(in, pos, n);
      pos += n;
      chunk_left_ -= n;
      if (chunk_left_ > 0) return state_;
      chunk_ = Chunk::kDataEnd;
      continue;
    }
    std::string line;
    bool too_long = false;
    const size_t max = chunk_ == Chunk::kTrailer ? limits_.max_line_bytes : kMaxChunkLine;
    const size_t before = pos;
    if (!take_line(in, pos, max, &line, &too_long))
      return too_long ? fail(400, "malformed chunked body: a chunk size or trailer line is too long") : state_;
    if (chunk_ == Chunk::kDataEnd) {
      if (!line.empty()) return fail(400, "malformed chunked body: a chunk is longer than its size");
      chunk_ = Chunk::kSize;
    } else if (chunk_ == Chunk::kTrailer) {
      trailer_bytes_ += pos - before;
      if (trailer_bytes_ > limits_.max_head_bytes) return fail(431, "the chunked body's trailer fields are too long");
      if (line.empty()) state_ = State::kComplete;  // trailer fields are dropped
    } else {
      const std::string_view digits = std::string_view(line).substr(0, line.find_first_of("; \t"));
      if (digits.empty() || digits.size() > 15 || !std::all_of(digits.begin(), digits.end(), [](char c) {
            return std::isxdigit(static_cast<unsigned char>(c));
          }))
        return fail(400, "malformed chunked body: expected a hexadecimal chunk size");
      chunk_left_ = std::stoull(std::string(digits), nullptr, 16);
      if (chunk_left_ == 0) {
        chunk_ = Chunk::kTrailer;
      } else if (body_.size() + chunk_left_ > limits_.max_body_bytes) {
        return fail(413, "the chunked request body exceeds the limit of " + std::to_string(limits_.max_body_bytes) +
                             " bytes (--max-body-size)");
      } else {
        chunk_ = Chunk::kData;
      }
    }
  }
  return state_;
}

std::string HttpRequestReader::take_request() {
  std::string out;
  out.reserve(limits_.max_line_bytes + body_.size());
  out += head_.method + " " + head_.target + " " + head_.version + "\r\n";
  for (const auto& [name, value] : head_.fields) {
    if (iequals(name, "Transfer-Encoding") || iequals(name, "Content-Length") || iequals(name, "Expect")) continue;
    out += name + ": " + value + "\r\n";
  }
  out += "Content-Length: " + std::to_string(body_.size()) + "\r\n\r\n";
  out += body_;
  body_ = std::string();
  return out;
}

void HttpRequestReader::reset() {
  const HttpLimits limits = limits_;
  *this = HttpRequestReader(limits);
}

}  // namespace hangar::api
