// gguf::Value accessors and display.
#include "gguf/gguf_value.h"

#include <cstdio>
#include <limits>

namespace hangar::gguf {

const char* value_type_name(ValueType t) {
  switch (t) {
    case ValueType::kUint8: return "uint8";
    case ValueType::kInt8: return "int8";
    case ValueType::kUint16: return "uint16";
    case ValueType::kInt16: return "int16";
    case ValueType::kUint32: return "uint32";
    case ValueType::kInt32: return "int32";
    case ValueType::kFloat32: return "float32";
    case ValueType::kBool: return "bool";
    case ValueType::kString: return "string";
    case ValueType::kArray: return "array";
    case ValueType::kUint64: return "uint64";
    case ValueType::kInt64: return "int64";
    case ValueType::kFloat64: return "float64";
  }
  return "unknown";
}

bool is_valid_value_type(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::kFloat64); }

Value Value::array(ValueType element_type, std::vector<Value> items) {
  auto a = std::make_shared<Array>();
  a->element_type = element_type;
  a->items = std::move(items);
  return Value(ValueType::kArray, std::move(a));
}

Value Value::unread_array(ValueType element_type, uint64_t n) {
  auto a = std::make_shared<Array>();
  a->element_type = element_type;
  a->n_unread = n;
  return Value(ValueType::kArray, std::move(a));
}

Value Value::string_array(const std::vector<std::string>& items) {
  std::vector<Value> v;
  v.reserve(items.size());
  for (const auto& s : items) v.push_back(Value::string(s));
  return array(ValueType::kString, std::move(v));
}

Value Value::f32_array(const std::vector<float>& items) {
  std::vector<Value> v;
  v.reserve(items.size());
  for (float f : items) v.push_back(Value::f32(f));
  return array(ValueType::kFloat32, std::move(v));
}

Value Value::i32_array(const std::vector<int32_t>& items) {
  std::vector<Value> v;
  v.reserve(items.size());
  for (int32_t i : items) v.push_back(Value::i32(i));
  return array(ValueType::kInt32, std::move(v));
}

bool Value::is_integer() const {
  switch (type_) {
    case ValueType::kUint8: case ValueType::kInt8: case ValueType::kUint16: case ValueType::kInt16:
    case ValueType::kUint32: case ValueType::kInt32: case ValueType::kUint64: case ValueType::kInt64:
      return true;
    default:
      return false;
  }
}

std::optional<int64_t> Value::as_int() const {
  if (!is_integer()) return std::nullopt;
  if (auto u = std::get_if<uint64_t>(&v_)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(*u);
  }
  return std::get<int64_t>(v_);
}

std::optional<double> Value::as_number() const {
  if (auto d = std::get_if<double>(&v_)) return *d;
  if (auto u = std::get_if<uint64_t>(&v_); u && is_integer()) return static_cast<double>(*u);
  if (auto i = std::get_if<int64_t>(&v_)) return static_cast<double>(*i);
  return std::nullopt;
}

std::optional<bool> Value::as_bool() const {
  if (auto b = std::get_if<bool>(&v_)) return *b;
  return std::nullopt;
}

const std::string* Value::as_string() const { return std::get_if<std::string>(&v_); }

const Array* Value::as_array() const {
  if (auto a = std::get_if<std::shared_ptr<Array>>(&v_)) return a->get();
  return nullptr;
}

std::string Value::to_display(size_t max_items) const {
  if (auto s = as_string()) {
    std::string out = "\"";
    for (char c : s->substr(0, 200)) out += (c == '\n') ? std::string("\\n") : std::string(1, c);
    if (s->size() > 200) out += "...";
    return out + "\"";
  }
  if (auto b = as_bool()) return *b ? "true" : "false";
  if (is_float()) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", *as_number());
    return buf;
  }
  if (auto a = as_array()) {
    std::string out = "[";
    for (size_t i = 0; i < a->items.size() && i < max_items; ++i)
      out += (i ? ", " : "") + a->items[i].to_display(max_items);
    if (a->n_unread > 0) out += "... (" + std::to_string(a->size()) + " " + value_type_name(a->element_type) + " items, not read)";
    else if (a->items.size() > max_items) out += ", ... (" + std::to_string(a->items.size()) + " items)";
    return out + "]";
  }
  if (auto u = std::get_if<uint64_t>(&v_)) return std::to_string(*u);
  return std::to_string(std::get<int64_t>(v_));
}

}  // namespace hangar::gguf
