// Feeding an HttpRequestReader as HttpListener does; shared by the reader's tests and the http fuzz target.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "api/http_reader.h"

namespace hangar::api::testing {

// Hands `in` (the bytes read so far) to the reader as HttpListener::advance does: once, and
// once more when that took the head, since the listener admits a head and then reads its body
// from the same bytes. Returns the reader's state.
inline HttpRequestReader::State feed_as_listener(HttpRequestReader& r, std::string& in) {
  using State = HttpRequestReader::State;
  const State before = r.state();
  const State s = r.feed(in);
  return before == State::kHead && s == State::kBody ? r.feed(in) : s;
}

// Reads `input` arriving in pieces that end at `cuts` (ascending, the last one input.size())
// until a request is complete or refused. Returns the reader's state; `rest` gets the bytes
// not consumed (after a complete request: the pipelined ones).
inline HttpRequestReader::State feed_at_cuts(HttpRequestReader& r, std::string_view input,
                                             const std::vector<size_t>& cuts, std::string* rest = nullptr) {
  using State = HttpRequestReader::State;
  std::string in;
  size_t at = 0;
  State s = r.state();
  for (size_t cut : cuts) {
    in.append(input.substr(at, cut - at));
    at = cut;
    s = feed_as_listener(r, in);
    if (s == State::kComplete || s == State::kFailed) break;
  }
  if (rest) *rest = in.append(input.substr(at));
  return s;
}

// The same in pieces of `step` bytes.
inline HttpRequestReader::State feed_in_steps(HttpRequestReader& r, std::string_view input, size_t step,
                                              std::string* rest = nullptr) {
  std::vector<size_t> cuts;
  for (size_t c = step; c < input.size(); c += step) cuts.push_back(c);
  cuts.push_back(input.size());
  return feed_at_cuts(r, input, cuts, rest);
}

}  // namespace hangar::api::testing
