// CORS policy: origin list parsing and the headers of allowed cross-origin answers.
#include "api/cors.h"

#include <algorithm>
#include <cctype>

namespace hangar::api {
namespace {

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t"), e = s.find_last_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// An origin is a scheme, a host and maybe a port: "https://app.example:8443", no path.
bool is_origin(const std::string& o) {
  const size_t sep = o.find("://");
  if (sep == std::string::npos || sep == 0) return false;
  const std::string rest = o.substr(sep + 3);
  return !rest.empty() && rest.find_first_of("/?#* ") == std::string::npos;
}

}  // namespace

Result<CorsPolicy> CorsPolicy::parse(const std::string& spec) {
  CorsPolicy p;
  size_t start = 0;
  while (start <= spec.size() && !trim(spec).empty()) {
    const size_t comma = spec.find(',', start);
    const std::string o = trim(spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (o == "*") {
      p.any_ = true;
    } else if (is_origin(o)) {
      std::string lower = o;
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
      p.origins_.push_back(lower);
    } else {
      return Error("--cors-origin: '" + o + "' is not an origin (expected scheme://host[:port], e.g. " +
                   "http://localhost:3000, or * for any)");
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return p;
}

HeaderList CorsPolicy::headers(const std::string& origin, bool preflight, const std::string& request_headers) const {
  HeaderList h;
  if (origin.empty() || !enabled()) return h;
  std::string lower = origin;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  const bool listed = std::find(origins_.begin(), origins_.end(), lower) != origins_.end();
  if (!any_ && !listed) return h;
  h.emplace_back("Access-Control-Allow-Origin", any_ ? "*" : origin);
  // The answer depends on the Origin header whenever it is not the same for all.
  if (!any_) h.emplace_back("Vary", "Origin");
  h.emplace_back("Access-Control-Expose-Headers", "Retry-After, Content-Type");
  if (preflight) {
    h.emplace_back("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS");
    h.emplace_back("Access-Control-Allow-Headers", request_headers.empty() ? "Authorization, Content-Type" : request_headers);
    h.emplace_back("Access-Control-Max-Age", "86400");
  }
  return h;
}

}  // namespace hangar::api
