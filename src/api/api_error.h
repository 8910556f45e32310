// ApiError: an HTTP status with OpenAI's error object ({"error": {message, type, param, code}}).
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace hangar::api {

// A request that cannot be served. Built by the route handlers and written as OpenAI's error
// object, so that OpenAI clients raise their usual exception types (400 BadRequestError, 401
// AuthenticationError, 404 NotFoundError, ...). A plain value.
struct ApiError {
  int status = 500;
  std::string type;     // "invalid_request_error", "authentication_error", "not_found_error", ...
  std::string message;  // names the thing at fault and what was expected
  std::string param;    // the request field at fault, "" when none
  std::string code;     // machine-readable detail ("model_not_found", ...), "" when none
  int retry_after_s = 0;  // > 0: sent as the Retry-After header (429, 503)

  nlohmann::json to_json() const;
};

// 400 invalid_request_error for `param` ("temperature", "messages[1].role", ...).
ApiError bad_request(const std::string& param, const std::string& message, const std::string& code = "");
ApiError not_found(const std::string& message, const std::string& code = "");
ApiError server_error(const std::string& message);
// Any other status with the type OpenAI (or llama.cpp's server, where OpenAI has none) uses.
ApiError api_error(int status, const std::string& message, const std::string& code = "");

// Parsing and validation report the first error found; an empty optional means success.
using MaybeError = std::optional<ApiError>;

}  // namespace hangar::api
