// Value: construction, Python truthiness/str/repr/equality, dicts, JSON conversion.
#include "chat/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "base/assert.h"
#include "chat/render_error.h"

namespace hangar::chat {

Value Value::list(std::vector<Value> items) {
  auto data = std::make_shared<ListData>();
  data->items = std::move(items);
  return Value(Storage(std::move(data)));
}

Value Value::tuple(std::vector<Value> items) {
  auto data = std::make_shared<ListData>();
  data->items = std::move(items);
  data->is_tuple = true;
  return Value(Storage(std::move(data)));
}

Value Value::dict() { return Value(Storage(std::make_shared<DictData>())); }

Value Value::namespace_object() {
  auto data = std::make_shared<DictData>();
  data->is_namespace = true;
  return Value(Storage(std::move(data)));
}

Value Value::function(std::string name, std::function<Value(Interpreter&, CallArgs&)> fn) {
  auto f = std::make_shared<Function>();
  f->name = std::move(name);
  f->fn = std::move(fn);
  return Value(Storage(std::shared_ptr<const Function>(std::move(f))));
}

bool Value::is_namespace() const { return is_dict() && dict_data().is_namespace; }
bool Value::is_tuple() const { return is_list() && list_data().is_tuple; }

bool Value::as_bool() const {
  HANGAR_ASSERT(is_bool());
  return std::get<bool>(v_);
}

int64_t Value::as_int() const {
  if (is_bool()) return std::get<bool>(v_) ? 1 : 0;
  HANGAR_ASSERT(is_int());
  return std::get<int64_t>(v_);
}

double Value::as_double() const {
  if (is_float()) return std::get<double>(v_);
  return static_cast<double>(as_int());
}

const std::string& Value::as_string() const {
  HANGAR_ASSERT(is_string());
  return std::get<std::string>(v_);
}

ListData& Value::list_data() const {
  HANGAR_ASSERT(is_list());
  return *std::get<std::shared_ptr<ListData>>(v_);
}

DictData& Value::dict_data() const {
  HANGAR_ASSERT(is_dict());
  return *std::get<std::shared_ptr<DictData>>(v_);
}

const Function& Value::function_data() const {
  HANGAR_ASSERT(is_function());
  return *std::get<std::shared_ptr<const Function>>(v_);
}

const std::string& Value::undefined_hint() const {
  HANGAR_ASSERT(is_undefined());
  return std::get<Undefined>(v_).hint;
}

bool Value::truthy() const {
  switch (type()) {
    case Type::kUndefined:
    case Type::kNone:
      return false;
    case Type::kBool:
      return as_bool();
    case Type::kInt:
      return as_int() != 0;
    case Type::kFloat:
      return as_double() != 0.0;
    case Type::kString:
      return !as_string().empty();
    case Type::kList:
      return !list_data().items.empty();
    case Type::kDict:
      return dict_data().size() != 0;
    case Type::kFunction:
      return true;
  }
  return false;
}

std::string Value::type_name() const {
  switch (type()) {
    case Type::kUndefined:
      return "undefined";
    case Type::kNone:
      return "none";
    case Type::kBool:
      return "bool";
    case Type::kInt:
      return "int";
    case Type::kFloat:
      return "float";
    case Type::kString:
      return "string";
    case Type::kList:
      return is_tuple() ? "tuple" : "list";
    case Type::kDict:
      return is_namespace() ? "namespace" : "dict";
    case Type::kFunction:
      return "function";
  }
  return "?";
}

namespace {

void append_py_repr_string(std::string& out, const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char quote = (has_single && !has_double) ? '"' : '\'';
  out.push_back(quote);
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == quote || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", u);
      out += buf;
    } else {
      out.push_back(c);
    }
  }
  out.push_back(quote);
}

}  // namespace

void Value::append_str(std::string& out, bool as_repr, int depth) const {
  if (depth > kMaxDepth) throw RenderError("value nested too deeply to print (cyclic list or dict?)");
  switch (type()) {
    case Type::kUndefined:
      return;
    case Type::kNone:
      out += "None";
      return;
    case Type::kBool:
      out += as_bool() ? "True" : "False";
      return;
    case Type::kInt:
      out += std::to_string(as_int());
      return;
    case Type::kFloat:
      out += format_python_float(as_double());
      return;
    case Type::kString:
      if (as_repr) {
        append_py_repr_string(out, as_string());
      } else {
        out += as_string();
      }
      return;
    case Type::kList: {
      const ListData& l = list_data();
      out.push_back(l.is_tuple ? '(' : '[');
      for (size_t i = 0; i < l.items.size(); ++i) {
        if (i > 0) out += ", ";
        l.items[i].append_str(out, true, depth + 1);
      }
      if (l.is_tuple && l.items.size() == 1) out.push_back(',');
      out.push_back(l.is_tuple ? ')' : ']');
      return;
    }
    case Type::kDict: {
      const DictData& d = dict_data();
      out += d.is_namespace ? "<Namespace {" : "{";
      for (size_t i = 0; i < d.entries.size(); ++i) {
        if (i > 0) out += ", ";
        d.entries[i].first.append_str(out, true, depth + 1);
        out += ": ";
        d.entries[i].second.append_str(out, true, depth + 1);
      }
      out += d.is_namespace ? "}>" : "}";
      return;
    }
    case Type::kFunction:
      out += "<function " + function_data().name + ">";
      return;
  }
}

std::string Value::str() const {
  if (is_string()) return as_string();
  std::string out;
  append_str(out, false, 0);
  return out;
}

std::string Value::repr() const {
  std::string out;
  append_str(out, true, 0);
  return out;
}

bool Value::equals(const Value& other) const { return equals_depth(other, 0); }

bool Value::equals_depth(const Value& other, int depth) const {
  if (depth > kMaxDepth) throw RenderError("values nested too deeply to compare (cyclic list or dict?)");
  if (is_number() && other.is_number()) {
    if (is_float() || other.is_float()) return as_double() == other.as_double();
    return as_int() == other.as_int();
  }
  if (type() != other.type()) return false;
  switch (type()) {
    case Type::kUndefined:
    case Type::kNone:
      return true;
    case Type::kString:
      return as_string() == other.as_string();
    case Type::kList: {
      const auto& a = list_data().items;
      const auto& b = other.list_data().items;
      if (list_data().is_tuple != other.list_data().is_tuple || a.size() != b.size()) return false;
      for (size_t i = 0; i < a.size(); ++i) {
        if (!a[i].equals_depth(b[i], depth + 1)) return false;
      }
      return true;
    }
    case Type::kDict: {
      const DictData& a = dict_data();
      const DictData& b = other.dict_data();
      if (a.size() != b.size()) return false;
      for (const auto& [k, v] : a.entries) {
        const Value* ov = b.find(k);
        if (ov == nullptr || !v.equals_depth(*ov, depth + 1)) return false;
      }
      return true;
    }
    case Type::kFunction:
      return &function_data() == &other.function_data();
    default:
      return false;
  }
}

std::string DictData::hash_key(const Value& key) {
  switch (key.type()) {
    case Value::Type::kString:
      return "s" + key.as_string();
    case Value::Type::kBool:
    case Value::Type::kInt:
      return "i" + std::to_string(key.as_int());
    case Value::Type::kFloat: {
      const double d = key.as_double();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9.2e18) {
        return "i" + std::to_string(static_cast<int64_t>(d));
      }
      return "f" + format_python_float(d);
    }
    case Value::Type::kNone:
      return "n";
    case Value::Type::kList:
      if (key.is_tuple()) return "t" + key.repr();
      break;
    default:
      break;
  }
  throw RenderError("unhashable type '" + key.type_name() + "' used as a dict key");
}

void DictData::check_hashable(const Value& key) {
  if (key.is_string() || key.is_number() || key.is_none() || key.is_tuple()) return;
  throw RenderError("unhashable type '" + key.type_name() + "' used as a dict key");
}

bool DictData::same_key(const Value& a, const Value& b) {
  if (a.is_string() || b.is_string()) return a.is_string() && b.is_string() && a.as_string() == b.as_string();
  return a.equals(b);  // numbers across int/float/bool, none, tuples
}

size_t DictData::find_pos(const Value& key) const {
  check_hashable(key);
  if (index_.empty()) {
    // Small dicts (messages, loop objects) are faster to scan than to hash.
    for (size_t i = 0; i < entries.size(); ++i) {
      if (same_key(entries[i].first, key)) return i;
    }
    return kNpos;
  }
  const auto it = index_.find(hash_key(key));
  return it == index_.end() ? kNpos : it->second;
}

const Value* DictData::find(const Value& key) const {
  const size_t i = find_pos(key);
  return i == kNpos ? nullptr : &entries[i].second;
}

Value* DictData::find(const Value& key) {
  const size_t i = find_pos(key);
  return i == kNpos ? nullptr : &entries[i].second;
}

const Value* DictData::find_str(std::string_view key) const {
  if (index_.empty()) {
    for (const auto& [k, v] : entries) {
      if (k.is_string() && k.as_string() == key) return &v;
    }
    return nullptr;
  }
  std::string k = "s";
  k += key;
  const auto it = index_.find(k);
  return it == index_.end() ? nullptr : &entries[it->second].second;
}

void DictData::set(const Value& key, Value value) {
  const size_t i = find_pos(key);
  if (i != kNpos) {
    entries[i].second = std::move(value);
    return;
  }
  entries.emplace_back(key, std::move(value));
  if (!index_.empty()) {
    index_.emplace(hash_key(key), entries.size() - 1);
  } else if (entries.size() > kIndexThreshold) {
    for (size_t k = 0; k < entries.size(); ++k) index_.emplace(hash_key(entries[k].first), k);
  }
}

bool DictData::erase(const Value& key) {
  const size_t pos = find_pos(key);
  if (pos == kNpos) return false;
  entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(pos));
  if (!index_.empty()) {
    index_.clear();
    if (entries.size() > kIndexThreshold) {
      for (size_t k = 0; k < entries.size(); ++k) index_.emplace(hash_key(entries[k].first), k);
    }
  }
  return true;
}

namespace {

const void* container_id(const Value& v) {
  if (v.is_list()) return &v.list_data();
  if (v.is_dict()) return &v.dict_data();
  return nullptr;
}

bool reaches(const Value& v, const void* target, std::vector<const void*>& seen, int depth) {
  const void* id = container_id(v);
  if (id == nullptr) return false;
  if (id == target) return true;
  if (depth > Value::kMaxDepth) throw RenderError("value nested too deeply");
  if (std::find(seen.begin(), seen.end(), id) != seen.end()) return false;
  seen.push_back(id);
  if (v.is_list()) {
    for (const auto& x : v.list_data().items) {
      if (reaches(x, target, seen, depth + 1)) return true;
    }
  } else {
    for (const auto& [k, x] : v.dict_data().entries) {
      if (reaches(x, target, seen, depth + 1)) return true;
    }
  }
  return false;
}

}  // namespace

bool would_create_cycle(const Value& container, const Value& inserted) {
  const void* target = container_id(container);
  if (target == nullptr || container_id(inserted) == nullptr) return false;
  std::vector<const void*> seen;
  return reaches(inserted, target, seen, 0);
}

namespace {

template <typename Json>
Value from_json_impl(const Json& j, int depth) {
  if (depth > Value::kMaxDepth) throw RenderError("JSON input nested too deeply");
  switch (j.type()) {
    case nlohmann::json::value_t::null:
      return Value::none();
    case nlohmann::json::value_t::boolean:
      return Value(j.template get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: {
      const auto u = j.template get<uint64_t>();
      if (u > static_cast<uint64_t>(INT64_MAX)) return Value(static_cast<double>(u));
      return Value(static_cast<int64_t>(u));
    }
    case nlohmann::json::value_t::number_float:
      return Value(j.template get<double>());
    case nlohmann::json::value_t::string:
      return Value(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      std::vector<Value> items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(from_json_impl(e, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::json::value_t::object: {
      Value d = Value::dict();
      for (auto it = j.begin(); it != j.end(); ++it) {
        d.dict_data().set(Value(it.key()), from_json_impl(it.value(), depth + 1));
      }
      return d;
    }
    default:
      return Value::none();  // binary/discarded: not produced by JSON text
  }
}

void append_u_escape(std::string& out, uint32_t u) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "\\u%04x", u);
  out += buf;
}

void append_json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out.push_back('"');
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (ensure_ascii && static_cast<unsigned char>(c) >= 0x80) {
      // Decode one UTF-8 sequence; invalid bytes are escaped as themselves.
      const auto b0 = static_cast<unsigned char>(c);
      const int n = b0 >= 0xF0 ? 3 : (b0 >= 0xE0 ? 2 : (b0 >= 0xC0 ? 1 : 0));
      uint32_t cp = n == 3 ? (b0 & 0x07) : (n == 2 ? (b0 & 0x0F) : (b0 & 0x1F));
      bool ok = n > 0 && i + static_cast<size_t>(n) < s.size();
      for (int k = 1; ok && k <= n; ++k) {
        const auto b = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
        if ((b & 0xC0) != 0x80) ok = false;
        cp = (cp << 6) | (b & 0x3F);
      }
      if (!ok) {
        append_u_escape(out, b0);
        continue;
      }
      i += static_cast<size_t>(n);
      if (cp >= 0x10000) {
        cp -= 0x10000;
        append_u_escape(out, 0xD800 + (cp >> 10));
        append_u_escape(out, 0xDC00 + (cp & 0x3FF));
      } else {
        append_u_escape(out, cp);
      }
      continue;
    }
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

void append_json(std::string& out, const Value& v, int indent, bool ascii, const JsonSeparators& seps,
                 int depth) {
  if (depth > Value::kMaxDepth) throw RenderError("tojson: value nested too deeply (cyclic list or dict?)");
  auto newline = [&](int level) {
    out.push_back('\n');
    out.append(static_cast<size_t>(indent) * static_cast<size_t>(level), ' ');
  };
  switch (v.type()) {
    case Value::Type::kNone:
      out += "null";
      return;
    case Value::Type::kBool:
      out += v.as_bool() ? "true" : "false";
      return;
    case Value::Type::kInt:
      out += std::to_string(v.as_int());
      return;
    case Value::Type::kFloat: {
      const double d = v.as_double();
      if (std::isnan(d)) {
        out += "NaN";
      } else if (std::isinf(d)) {
        out += d > 0 ? "Infinity" : "-Infinity";
      } else {
        out += format_python_float(d);
      }
      return;
    }
    case Value::Type::kString:
      append_json_string(out, v.as_string(), ascii);
      return;
    case Value::Type::kList: {
      const auto& items = v.list_data().items;
      if (items.empty()) {
        out += "[]";
        return;
      }
      out.push_back('[');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += seps.item;
        if (indent >= 0) newline(depth + 1);
        append_json(out, items[i], indent, ascii, seps, depth + 1);
      }
      if (indent >= 0) newline(depth);
      out.push_back(']');
      return;
    }
    case Value::Type::kDict: {
      const auto& entries = v.dict_data().entries;
      if (entries.empty()) {
        out += "{}";
        return;
      }
      out.push_back('{');
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i > 0) out += seps.item;
        if (indent >= 0) newline(depth + 1);
        const Value& key = entries[i].first;
        if (key.is_string()) {
          append_json_string(out, key.as_string(), ascii);
        } else if (key.is_none()) {
          out += "\"null\"";
        } else if (key.is_bool()) {
          out += key.as_bool() ? "\"true\"" : "\"false\"";
        } else {
          append_json_string(out, key.str(), ascii);
        }
        out += seps.key;
        append_json(out, entries[i].second, indent, ascii, seps, depth + 1);
      }
      if (indent >= 0) newline(depth);
      out.push_back('}');
      return;
    }
    case Value::Type::kUndefined:
      throw RenderError("tojson: cannot serialise an undefined value" +
                        (v.undefined_hint().empty() ? std::string() : " (" + v.undefined_hint() + ")"));
    case Value::Type::kFunction:
      throw RenderError("tojson: cannot serialise function '" + v.function_data().name + "'");
  }
}

}  // namespace

Value value_from_json(const nlohmann::json& j) { return from_json_impl(j, 0); }
Value value_from_json(const nlohmann::ordered_json& j) { return from_json_impl(j, 0); }

std::string value_to_json(const Value& v, int indent, bool ensure_ascii, const JsonSeparators& seps) {
  std::string out;
  append_json(out, v, indent, ensure_ascii, seps, 0);
  return out;
}

std::string value_to_json(const Value& v, int indent, bool ensure_ascii) {
  return value_to_json(v, indent, ensure_ascii, JsonSeparators{indent < 0 ? ", " : ",", ": "});
}

std::string format_python_float(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0.0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  const auto res = std::to_chars(buf, buf + sizeof(buf), d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // e.g. "-1.2345e+02"
  std::string sign;
  if (sci[0] == '-') {
    sign = "-";
    sci.erase(0, 1);
  }
  const size_t e_pos = sci.find('e');
  std::string mantissa = sci.substr(0, e_pos);
  const int exp = std::stoi(sci.substr(e_pos + 1));
  std::string digits;
  for (const char c : mantissa) {
    if (c != '.') digits.push_back(c);
  }
  if (exp >= -5 + 1 && exp < 16) {
    std::string out;
    if (exp >= 0) {
      const size_t int_len = static_cast<size_t>(exp) + 1;
      if (digits.size() <= int_len) {
        out = digits + std::string(int_len - digits.size(), '0') + ".0";
      } else {
        out = digits.substr(0, int_len) + "." + digits.substr(int_len);
      }
    } else {
      out = "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
    }
    return sign + out;
  }
  std::string out = digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char ebuf[16];
  std::snprintf(ebuf, sizeof(ebuf), "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
  return sign + out + ebuf;
}

}  // namespace hangar::chat
