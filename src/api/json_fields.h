// JSON field readers: typed, range-checked access to request fields with errors naming the field.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "api/api_error.h"
#include "api/request.h"

namespace hangar::api {

// Reads fields of one JSON object. Each reader leaves `out` untouched when the field is absent
// or null (OpenAI accepts null for "not given") and returns a 400 naming the field when the
// type or range is wrong. `prefix` is prepended to field names in errors ("stream_options.").
class FieldReader {
 public:
  explicit FieldReader(const Json& obj, std::string prefix = "") : obj_(obj), prefix_(std::move(prefix)) {}

  // Present and not null.
  bool has(const char* key) const;
  const Json& at(const char* key) const { return obj_.at(key); }
  std::string name(const char* key) const { return prefix_ + key; }

  MaybeError number(const char* key, double lo, double hi, float* out) const;
  MaybeError integer(const char* key, int64_t lo, int64_t hi, int64_t* out) const;
  MaybeError integer(const char* key, int64_t lo, int64_t hi, int32_t* out) const;
  MaybeError boolean(const char* key, bool* out) const;
  MaybeError string(const char* key, std::string* out) const;
  // A required, non-empty string.
  MaybeError required_string(const char* key, std::string* out) const;

 private:
  const Json& obj_;
  std::string prefix_;
};

// Describes a JSON value's type for errors: "a string", "an array", "null", ...
std::string json_type_name(const Json& v);

}  // namespace hangar::api

// Returns the error of a MaybeError expression, if any.
#define HANGAR_API_TRY(expr)                     \
  do {                                           \
    if (::hangar::api::MaybeError e_ = (expr)) return e_; \
  } while (0)
