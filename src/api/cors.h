// CORS: which browser origins may call the API, and the Access-Control-* headers that say so.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "base/result.h"

namespace hangar::api {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// Immutable after parse; thread-safe to read.
class CorsPolicy {
 public:
  // `spec` is --cors-origin: a comma-separated list of origins ("https://app.example",
  // "http://localhost:3000") or "*" for any. Empty: CORS off. Errors name the bad entry.
  static Result<CorsPolicy> parse(const std::string& spec);

  bool enabled() const { return any_ || !origins_.empty(); }
  // The headers for an answer to a request from `origin` (the Origin header; empty when the
  // request had none): nothing unless the origin is allowed. A preflight (OPTIONS with
  // Access-Control-Request-Method) also gets the allowed methods, the headers it asked for
  // (`request_headers`, or Authorization and Content-Type) and how long to cache that.
  HeaderList headers(const std::string& origin, bool preflight, const std::string& request_headers) const;

 private:
  bool any_ = false;
  std::vector<std::string> origins_;
};

}  // namespace hangar::api
