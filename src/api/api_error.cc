// ApiError: OpenAI's error object and the error type each status maps to.
#include "api/api_error.h"

namespace hangar::api {
namespace {

const char* type_for_status(int status) {
  switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 409: return "conflict_error";
    case 413: return "invalid_request_error";
    case 429: return "rate_limit_error";
    case 501: return "not_supported_error";
    case 503: return "unavailable_error";
    case 507: return "insufficient_storage_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

}  // namespace

nlohmann::json ApiError::to_json() const {
  nlohmann::json e;
  e["message"] = message;
  e["type"] = type;
  e["param"] = param.empty() ? nlohmann::json() : nlohmann::json(param);
  e["code"] = code.empty() ? nlohmann::json() : nlohmann::json(code);
  return {{"error", e}};
}

ApiError bad_request(const std::string& param, const std::string& message, const std::string& code) {
  return ApiError{400, "invalid_request_error", message, param, code};
}

ApiError not_found(const std::string& message, const std::string& code) {
  return ApiError{404, "not_found_error", message, "", code};
}

ApiError server_error(const std::string& message) { return ApiError{500, "server_error", message, "", ""}; }

ApiError api_error(int status, const std::string& message, const std::string& code) {
  return ApiError{status, type_for_status(status), message, "", code};
}

}  // namespace hangar::api
