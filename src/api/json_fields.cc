// JSON field readers with errors that name the field and the expected type or range.
#include "api/json_fields.h"

#include <cmath>
#include <cstdio>

namespace hangar::api {
namespace {

std::string format_number(double v) {
  char buf[64];
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
    std::snprintf(buf, sizeof buf, "%.0f", v);
  } else {
    std::snprintf(buf, sizeof buf, "%g", v);
  }
  return buf;
}

std::string shown(const Json& v) {
  std::string s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return s;
}

}  // namespace

std::string json_type_name(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::object: return "an object";
    case Json::value_t::array: return "an array";
    case Json::value_t::string: return "a string";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "an integer";
    case Json::value_t::number_float: return "a number";
    default: return "an unsupported value";
  }
}

bool FieldReader::has(const char* key) const {
  auto it = obj_.find(key);
  return it != obj_.end() && !it->is_null();
}

MaybeError FieldReader::number(const char* key, double lo, double hi, float* out) const {
  if (!has(key)) return std::nullopt;
  const Json& v = obj_.at(key);
  if (!v.is_number())
    return bad_request(name(key), "'" + name(key) + "' must be a number, got " + json_type_name(v));
  const double d = v.get<double>();
  if (!(d >= lo && d <= hi))
    return bad_request(name(key), "'" + name(key) + "' must be between " + format_number(lo) + " and " +
                                      format_number(hi) + ", got " + shown(v));
  *out = static_cast<float>(d);
  return std::nullopt;
}

MaybeError FieldReader::integer(const char* key, int64_t lo, int64_t hi, int64_t* out) const {
  if (!has(key)) return std::nullopt;
  const Json& v = obj_.at(key);
  // 3.0 is accepted as 3 (JavaScript clients cannot tell them apart); 3.5 is not.
  bool integral = v.is_number_integer() || (v.is_number_float() && std::isfinite(v.get<double>()) &&
                                            v.get<double>() == std::floor(v.get<double>()));
  if (!integral)
    return bad_request(name(key), "'" + name(key) + "' must be an integer, got " +
                                      (v.is_number() ? shown(v) : json_type_name(v)));
  bool in_range;
  int64_t value = 0;
  if (v.is_number_unsigned()) {
    const uint64_t u = v.get<uint64_t>();
    in_range = u <= static_cast<uint64_t>(hi) && hi >= 0;
    value = static_cast<int64_t>(u);
  } else if (v.is_number_float()) {
    const double d = v.get<double>();
    in_range = d >= static_cast<double>(lo) && d <= static_cast<double>(hi);
    value = in_range ? static_cast<int64_t>(d) : 0;
  } else {
    value = v.get<int64_t>();
    in_range = value >= lo && value <= hi;
  }
  if (!in_range || value < lo || value > hi)
    return bad_request(name(key), "'" + name(key) + "' must be an integer between " + std::to_string(lo) +
                                      " and " + std::to_string(hi) + ", got " + shown(v));
  *out = value;
  return std::nullopt;
}

MaybeError FieldReader::integer(const char* key, int64_t lo, int64_t hi, int32_t* out) const {
  int64_t v = *out;
  HANGAR_API_TRY(integer(key, lo, hi, &v));
  *out = static_cast<int32_t>(v);
  return std::nullopt;
}

MaybeError FieldReader::boolean(const char* key, bool* out) const {
  if (!has(key)) return std::nullopt;
  const Json& v = obj_.at(key);
  if (!v.is_boolean())
    return bad_request(name(key), "'" + name(key) + "' must be a boolean, got " + json_type_name(v));
  *out = v.get<bool>();
  return std::nullopt;
}

MaybeError FieldReader::string(const char* key, std::string* out) const {
  if (!has(key)) return std::nullopt;
  const Json& v = obj_.at(key);
  if (!v.is_string())
    return bad_request(name(key), "'" + name(key) + "' must be a string, got " + json_type_name(v));
  *out = v.get<std::string>();
  return std::nullopt;
}

MaybeError FieldReader::required_string(const char* key, std::string* out) const {
  if (!has(key)) return bad_request(name(key), "'" + name(key) + "' is required (a string)");
  HANGAR_API_TRY(string(key, out));
  if (out->empty()) return bad_request(name(key), "'" + name(key) + "' must not be empty");
  return std::nullopt;
}

}  // namespace hangar::api
