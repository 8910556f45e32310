// JSON conversion for template values: from nlohmann JSON, and tojson with Python's
// json.dumps formatting (separators, indent, ensure_ascii); Python float repr.
#include <charconv>
#include <cmath>
#include <cstdio>

#include "chat/render_budget.h"
#include "chat/render_error.h"
#include "chat/value.h"

namespace hangar::chat {

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
  // Shared sublists and wide indents can make the text far larger than the value: it is
  // checked against the render's memory before it grows.
  if (RenderBudget* budget = RenderBudget::current()) {
    budget->add_work(1);
    budget->reserve(out.size());
  }
  auto newline = [&](int level) {
    const size_t pad = static_cast<size_t>(indent) * static_cast<size_t>(level);
    reserve_render_memory(out.size() + pad + 1);
    out.push_back('\n');
    out.append(pad, ' ');
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
      note_render_work(v.as_string().size());
      reserve_render_memory(out.size() + 6 * v.as_string().size() + 2);
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
