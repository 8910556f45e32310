// Builtin filters with Jinja2 semantics (tojson as HF transformers defines it).
#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "chat/builtins.h"
#include "chat/interpreter.h"
#include "chat/render_error.h"
#include "chat/text_util.h"

namespace hangar::chat {
namespace {

// Resolves "a.b.0" against `v` the way Jinja2's attribute getters do.
Value get_path(Interpreter& in, const Value& v, const Value& attribute) {
  if (attribute.is_int()) {
    if (v.is_list()) {
      int64_t i = attribute.as_int();
      const auto& items = v.list_data().items;
      if (i < 0) i += static_cast<int64_t>(items.size());
      return (i >= 0 && i < static_cast<int64_t>(items.size())) ? items[static_cast<size_t>(i)]
                                                                : Value::undefined();
    }
    return Value::undefined();
  }
  if (!attribute.is_string()) throw RenderError("attribute must be a string, got " + attribute.type_name());
  const std::string& path = attribute.as_string();
  in.add_work(path.size());
  in.check_size(py_split_count(path, std::string("."), -1) * sizeof(std::string));
  Value cur = v;
  for (const std::string& part : py_split(path, std::string("."), -1)) {
    const bool numeric =
        !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (numeric && cur.is_list()) {
      cur = get_path(in, cur, Value(static_cast<int64_t>(std::stoll(part))));
    } else if (cur.is_dict()) {
      const Value* x = cur.dict_data().find_str(std::string_view(part));
      cur = x != nullptr ? *x : in.get_attr(cur, part);
    } else {
      cur = in.get_attr(cur, part);
    }
  }
  return cur;
}

// Sequence filters treat none like an empty list, as llama.cpp does; templates such as
// functionary's run `tools | selectattr(...)` after `set tools = none`.
std::vector<Value> filter_items(const Value& v, const std::string& what) {
  if (v.is_none()) return {};
  return iterate_value(v, what);
}

bool less_ci(const Value& a, const Value& b, bool case_sensitive) {
  if (!case_sensitive && a.is_string() && b.is_string())
    return to_lower(a.as_string()) < to_lower(b.as_string());
  return value_less(a, b);
}

Value f_abs(Interpreter&, const Value& v, CallArgs&) {
  if (v.is_float()) return Value(std::fabs(v.as_double()));
  if (v.is_int() || v.is_bool()) return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
  throw RenderError("abs: expected a number, got " + v.type_name());
}

Value f_attr(Interpreter& in, const Value& v, CallArgs& args) {
  ArgBinder a("attr", args, {"name"});
  return in.get_attr(v, a.get_string(0, ""));
}

Value f_capitalize(Interpreter&, const Value& v, CallArgs&) { return Value(capitalize(v.str())); }
Value f_lower(Interpreter&, const Value& v, CallArgs&) { return Value(to_lower(v.str())); }
Value f_upper(Interpreter&, const Value& v, CallArgs&) { return Value(to_upper(v.str())); }
Value f_title(Interpreter&, const Value& v, CallArgs&) { return Value(title_case(v.str())); }
Value f_string(Interpreter&, const Value& v, CallArgs&) { return v.is_string() ? v : Value(v.str()); }
Value f_safe(Interpreter&, const Value& v, CallArgs&) { return v; }
Value f_pprint(Interpreter&, const Value& v, CallArgs&) { return Value(v.repr()); }

Value f_center(Interpreter& in, const Value& v, CallArgs& args) {
  ArgBinder a("center", args, {"width"});
  const std::string s = v.str();
  const int64_t width = a.get_int(0, 80);
  const int64_t len = static_cast<int64_t>(utf8_length(s));
  if (width <= len) return Value(s);
  const int64_t total = width - len;
  in.check_size(s.size() + static_cast<size_t>(total));
  const int64_t left = total / 2 + (total & width & 1);
  return Value(std::string(static_cast<size_t>(left), ' ') + s +
               std::string(static_cast<size_t>(total - left), ' '));
}

Value f_length(Interpreter&, const Value& v, CallArgs&) {
  switch (v.type()) {
    case Value::Type::kUndefined:
    case Value::Type::kNone:
      return Value(0);
    case Value::Type::kString:
      return Value(static_cast<int64_t>(utf8_length(v.as_string())));
    case Value::Type::kList:
      return Value(static_cast<int64_t>(v.list_data().items.size()));
    case Value::Type::kDict:
      return Value(static_cast<int64_t>(v.dict_data().size()));
    default:
      throw RenderError("length: " + v.type_name() + " has no length");
  }
}

Value f_default(Interpreter&, const Value& v, CallArgs& args) {
  ArgBinder a("default", args, {"default_value", "boolean"});
  const bool boolean = a.get_bool(1, false);
  // llama.cpp also replaces none (Jinja2 only replaces undefined).
  if (v.is_undefined() || v.is_none() || (boolean && !v.truthy())) return a.has(0) ? a.get(0) : Value("");
  return v;
}

Value f_dictsort(Interpreter&, const Value& v, CallArgs& args) {
  ArgBinder a("dictsort", args, {"case_sensitive", "by", "reverse"});
  if (!v.is_dict()) throw RenderError("dictsort: expected a dict, got " + v.type_name());
  const bool cs = a.get_bool(0, false);
  const bool by_value = a.get_string(1, "key") == "value";
  const bool reverse = a.get_bool(2, false);
  std::vector<Value> items;
  for (const auto& [k, x] : v.dict_data().entries) items.push_back(Value::tuple({k, x}));
  std::stable_sort(items.begin(), items.end(), [&](const Value& p, const Value& q) {
    const Value& x = p.list_data().items[by_value ? 1 : 0];
    const Value& y = q.list_data().items[by_value ? 1 : 0];
    return reverse ? less_ci(y, x, cs) : less_ci(x, y, cs);
  });
  return Value::list(std::move(items));
}

Value f_escape(Interpreter& in, const Value& v, CallArgs&) {
  const std::string s = v.str();
  size_t size = s.size();
  for (const char c : s) {
    if (c == '&' || c == '<' || c == '>') size += 4;
    if (c == '"' || c == '\'') size += 4;
  }
  in.check_size(size);
  std::string out;
  out.reserve(size);
  for (const char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&#34;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return Value(std::move(out));
}

Value f_first(Interpreter&, const Value& v, CallArgs&) {
  if (v.is_list())
    return v.list_data().items.empty() ? Value::undefined("first") : v.list_data().items.front();
  if (v.is_string()) {
    const std::string& s = v.as_string();
    return s.empty() ? Value::undefined("first") : Value(s.substr(0, utf8_offset(s, 1)));
  }
  const std::vector<Value> items = filter_items(v, "first");
  return items.empty() ? Value::undefined("first") : items.front();
}

Value f_last(Interpreter&, const Value& v, CallArgs&) {
  if (v.is_list()) return v.list_data().items.empty() ? Value::undefined("last") : v.list_data().items.back();
  const std::vector<Value> items = filter_items(v, "last");
  return items.empty() ? Value::undefined("last") : items.back();
}

Value f_float(Interpreter&, const Value& v, CallArgs& args) {
  ArgBinder a("float", args, {"default"});
  const Value fallback = a.has(0) ? a.get(0) : Value(0.0);
  if (v.is_number()) return Value(v.as_double());
  if (v.is_string()) {
    const std::string s = py_strip(v.as_string(), std::nullopt, true, true);
    char* end = nullptr;
    const double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end == s.c_str() + s.size()) return Value(d);
  }
  return fallback;
}

Value f_int(Interpreter&, const Value& v, CallArgs& args) {
  ArgBinder a("int", args, {"default", "base"});
  const Value fallback = a.has(0) ? a.get(0) : Value(0);
  if (v.is_int() || v.is_bool()) return Value(v.as_int());
  if (v.is_float()) return Value(static_cast<int64_t>(v.as_double()));
  if (v.is_string()) {
    const std::string s = py_strip(v.as_string(), std::nullopt, true, true);
    const int base = static_cast<int>(a.get_int(1, 10));
    char* end = nullptr;
    errno = 0;
    const long long i = std::strtoll(s.c_str(), &end, base);
    if (!s.empty() && end == s.c_str() + s.size() && errno == 0) return Value(static_cast<int64_t>(i));
    const double d = std::strtod(s.c_str(), &end);
    if (!s.empty() && end == s.c_str() + s.size() && std::isfinite(d)) return Value(static_cast<int64_t>(d));
  }
  return fallback;
}

Value f_indent(Interpreter& in, const Value& v, CallArgs& args) {
  ArgBinder a("indent", args, {"width", "first", "blank"});
  const std::string text = v.str() + "\n";
  // Every line may get the indentation: the whole result is checked before the indentation
  // (whose width the template chooses) is built.
  const size_t lines_count = py_splitlines_count(text);
  const size_t width = a.get(0).is_string() ? a.get(0).as_string().size()
                                            : static_cast<size_t>(std::max<int64_t>(0, a.get_int(0, 4)));
  size_t padding = 0;
  if (__builtin_mul_overflow(width, lines_count + 1, &padding)) padding = SIZE_MAX;
  in.check_size(padding > SIZE_MAX - text.size() ? SIZE_MAX : text.size() + padding);
  in.check_size(text.size() + lines_count * sizeof(std::string));
  std::string indentation;
  if (a.get(0).is_string()) {
    indentation = a.get(0).as_string();
  } else {
    indentation = std::string(width, ' ');
  }
  const bool first = a.get_bool(1, false);
  const bool blank = a.get_bool(2, false);
  // Jinja2 appends a newline before splitting so a trailing newline survives.
  const std::vector<std::string> lines = py_splitlines(text);
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i > 0) {
      out += "\n";
      if (blank || !lines[i].empty()) out += indentation;
    }
    out += lines[i];
  }
  if (first) out = indentation + out;
  return Value(std::move(out));
}

Value f_items(Interpreter&, const Value& v, CallArgs&) {
  if (v.is_undefined()) return Value::list();
  if (!v.is_dict()) throw RenderError("items: expected a dict, got " + v.type_name());
  std::vector<Value> out;
  for (const auto& [k, x] : v.dict_data().entries) out.push_back(Value::tuple({k, x}));
  return Value::list(std::move(out));
}

Value f_join(Interpreter& in, const Value& v, CallArgs& args) {
  ArgBinder a("join", args, {"d", "attribute"});
  const std::string sep = a.has(0) ? a.get(0).str() : std::string();
  std::string out;
  bool first = true;
  for (const Value& item : filter_items(v, "join")) {
    if (!first) out += sep;
    first = false;
    out += a.has(1) ? get_path(in, item, a.get(1)).str() : item.str();
    in.check_size(out.size());
  }
  return Value(std::move(out));
}

Value f_list(Interpreter& in, const Value& v, CallArgs&) {
  std::vector<Value> items = filter_items(v, "list");
  in.count_steps(static_cast<int64_t>(items.size()));
  return Value::list(std::move(items));
}

Value f_map(Interpreter& in, const Value& v, CallArgs& args) {
  std::vector<Value> out;
  const std::vector<Value> items = filter_items(v, "map");
  in.count_steps(static_cast<int64_t>(items.size()));
  const auto attr_it = std::find_if(args.keyword.begin(), args.keyword.end(),
                                    [](const auto& kv) { return kv.first == "attribute"; });
  if (attr_it != args.keyword.end()) {
    Value fallback;
    for (auto& [k, x] : args.keyword) {
      if (k == "default") fallback = x;
    }
    for (const Value& item : items) {
      Value r = get_path(in, item, attr_it->second);
      out.push_back(r.is_undefined() && !fallback.is_undefined() ? fallback : r);
    }
    return Value::list(std::move(out));
  }
  if (args.positional.empty() || !args.positional[0].is_string())
    throw RenderError("map: expected a filter name or attribute=");
  const std::string name = args.positional[0].as_string();
  CallArgs rest;
  rest.positional.assign(args.positional.begin() + 1, args.positional.end());
  rest.keyword = args.keyword;
  for (const Value& item : items) {
    CallArgs copy = rest;
    out.push_back(in.apply_filter(name, item, copy));
  }
  return Value::list(std::move(out));
}

Value min_max(Interpreter& in, const Value& v, CallArgs& args, bool want_max) {
  ArgBinder a(want_max ? "max" : "min", args, {"case_sensitive", "attribute"});
  const bool cs = a.get_bool(0, false);
  const std::vector<Value> items = filter_items(v, want_max ? "max" : "min");
  if (items.empty()) return Value::undefined("empty sequence");
  size_t best = 0;
  for (size_t i = 1; i < items.size(); ++i) {
    const Value x = a.has(1) ? get_path(in, items[i], a.get(1)) : items[i];
    const Value y = a.has(1) ? get_path(in, items[best], a.get(1)) : items[best];
    if (want_max ? less_ci(y, x, cs) : less_ci(x, y, cs)) best = i;
  }
  return items[best];
}
Value f_max(Interpreter& in, const Value& v, CallArgs& args) { return min_max(in, v, args, true); }
Value f_min(Interpreter& in, const Value& v, CallArgs& args) { return min_max(in, v, args, false); }

// select/reject/selectattr/rejectattr share this: keep items whose (attribute) passes the test.
Value select_impl(Interpreter& in, const Value& v, CallArgs& args, bool with_attr, bool keep_if) {
  std::vector<Value> pos = args.positional;
  Value attribute;
  if (with_attr) {
    if (pos.empty()) throw RenderError("selectattr/rejectattr: expected an attribute name");
    attribute = pos[0];
    pos.erase(pos.begin());
  }
  std::string test;
  if (!pos.empty()) {
    if (!pos[0].is_string()) throw RenderError("select: test name must be a string");
    test = pos[0].as_string();
    pos.erase(pos.begin());
  }
  std::vector<Value> out;
  const std::vector<Value> items = filter_items(v, "select");
  in.count_steps(static_cast<int64_t>(items.size()));
  for (const Value& item : items) {
    const Value x = with_attr ? get_path(in, item, attribute) : item;
    bool pass = false;
    if (test.empty()) {
      pass = x.truthy();
    } else {
      CallArgs targs;
      targs.positional = pos;
      targs.keyword = args.keyword;
      pass = in.apply_test(test, x, targs);
    }
    if (pass == keep_if) out.push_back(item);
  }
  return Value::list(std::move(out));
}
Value f_select(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, false, true); }
Value f_reject(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, false, false); }
Value f_selectattr(Interpreter& in, const Value& v, CallArgs& a) { return select_impl(in, v, a, true, true); }
Value f_rejectattr(Interpreter& in, const Value& v, CallArgs& a) {
  return select_impl(in, v, a, true, false);
}

Value f_replace(Interpreter& in, const Value& v, CallArgs& args) {
  ArgBinder a("replace", args, {"old", "new", "count"});
  const std::string s = v.str();
  const std::string from = a.get(0).str();
  const std::string to = a.get(1).str();
  const int64_t count = a.get_int(2, -1);
  in.check_size(py_replace_size(s, from, to, count));
  return Value(py_replace(s, from, to, count));
}

Value f_reverse(Interpreter& in, const Value& v, CallArgs&) {
  if (v.is_string()) {
    const std::string& s = v.as_string();
    if (is_ascii(s)) return Value(std::string(s.rbegin(), s.rend()));
    in.check_size((s.size() + 1) * sizeof(size_t) + s.size());
    const std::vector<size_t> off = utf8_offsets(s);
    std::string out;
    for (size_t i = off.size() - 1; i > 0; --i) out += s.substr(off[i - 1], off[i] - off[i - 1]);
    return Value(std::move(out));
  }
  std::vector<Value> items = filter_items(v, "reverse");
  std::reverse(items.begin(), items.end());
  return Value::list(std::move(items));
}

Value f_round(Interpreter&, const Value& v, CallArgs& args) {
  ArgBinder a("round", args, {"precision", "method"});
  if (!v.is_number()) throw RenderError("round: expected a number, got " + v.type_name());
  const int64_t precision = a.get_int(0, 0);
  const std::string method = a.get_string(1, "common");
  const double scale = std::pow(10.0, static_cast<double>(precision));
  const double x = v.as_double() * scale;
  double r = 0;
  if (method == "common") {
    r = std::round(x);
  } else if (method == "ceil") {
    r = std::ceil(x);
  } else if (method == "floor") {
    r = std::floor(x);
  } else {
    throw RenderError("round: method must be 'common', 'ceil' or 'floor'");
  }
  return Value(r / scale);
}

Value f_sort(Interpreter& in, const Value& v, CallArgs& args) {
  ArgBinder a("sort", args, {"reverse", "case_sensitive", "attribute"});
  const bool reverse = a.get_bool(0, false);
  const bool cs = a.get_bool(1, false);
  std::vector<Value> items = filter_items(v, "sort");
  in.count_steps(static_cast<int64_t>(items.size()));
  auto key = [&](const Value& x) { return a.has(2) ? get_path(in, x, a.get(2)) : x; };
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    return reverse ? less_ci(key(y), key(x), cs) : less_ci(key(x), key(y), cs);
  });
  return Value::list(std::move(items));
}

Value f_sum(Interpreter& in, const Value& v, CallArgs& args) {
  ArgBinder a("sum", args, {"attribute", "start"});
  Value total = a.has(1) ? a.get(1) : Value(0);
  for (const Value& item : filter_items(v, "sum")) {
    const Value x = a.has(0) ? get_path(in, item, a.get(0)) : item;
    if (!x.is_number() || !total.is_number())
      throw RenderError("sum: expected numbers, got " + x.type_name());
    total = (x.is_float() || total.is_float()) ? Value(total.as_double() + x.as_double())
                                               : Value(total.as_int() + x.as_int());
  }
  return total;
}

Value f_tojson(Interpreter& in, const Value& v, CallArgs& args) {
  ArgBinder a("tojson", args, {"indent", "ensure_ascii", "separators", "sort_keys"});
  const int indent = a.has(0) && !a.get(0).is_none() ? static_cast<int>(a.get_int(0, -1)) : -1;
  if (a.get_bool(3, false)) throw RenderError("tojson: sort_keys=true is not supported");
  JsonSeparators seps{indent < 0 ? ", " : ",", ": "};
  if (a.has(2) && !a.get(2).is_none()) {
    const Value& sep = a.get(2);
    if (!sep.is_list() || sep.list_data().items.size() != 2 || !sep.list_data().items[0].is_string() ||
        !sep.list_data().items[1].is_string()) {
      throw RenderError("tojson: separators must be a pair of strings");
    }
    seps.item = sep.list_data().items[0].as_string();
    seps.key = sep.list_data().items[1].as_string();
  }
  std::string out = value_to_json(v, indent, a.get_bool(1, false), seps);
  in.check_size(out.size());
  return Value(std::move(out));
}

Value f_from_json(Interpreter& in, const Value& v, CallArgs&) {
  if (!v.is_string()) throw RenderError("from_json: expected a string, got " + v.type_name());
  // The parsed document can take several times the text; charge a generous estimate.
  in.check_size(v.as_string().size() * 8);
  const auto j = nlohmann::ordered_json::parse(v.as_string(), nullptr, false);
  if (j.is_discarded()) throw RenderError("from_json: input is not valid JSON");
  return value_from_json(j);
}

Value f_trim(Interpreter&, const Value& v, CallArgs& args) {
  ArgBinder a("trim", args, {"chars"});
  return Value(py_strip(v.str(), a.get_optional_string(0), true, true));
}

Value f_truncate(Interpreter& in, const Value& v, CallArgs& args) {
  ArgBinder a("truncate", args, {"length", "killwords", "end", "leeway"});
  const std::string s = v.str();
  const int64_t length = a.get_int(0, 255);
  const bool killwords = a.get_bool(1, false);
  const std::string end = a.get_string(2, "...");
  const int64_t leeway = a.get_int(3, 5);
  in.add_work(s.size());
  const int64_t n = static_cast<int64_t>(utf8_length(s));
  int64_t limit = 0;
  if (__builtin_add_overflow(length, leeway, &limit)) limit = INT64_MAX;
  if (n <= limit) return Value(s);
  const int64_t keep = std::clamp<int64_t>(length - static_cast<int64_t>(utf8_length(end)), 0, n);
  std::string head = s.substr(0, utf8_offset(s, static_cast<size_t>(keep)));
  if (!killwords) {
    const size_t sp = head.rfind(' ');
    if (sp != std::string::npos) head.resize(sp);
  }
  return Value(head + end);
}

Value f_unique(Interpreter& in, const Value& v, CallArgs& args) {
  ArgBinder a("unique", args, {"case_sensitive", "attribute"});
  const bool cs = a.get_bool(0, false);
  std::vector<Value> out;
  std::vector<Value> seen;
  for (const Value& item : filter_items(v, "unique")) {
    Value key = a.has(1) ? get_path(in, item, a.get(1)) : item;
    if (!cs && key.is_string()) key = Value(to_lower(key.as_string()));
    in.count_steps(static_cast<int64_t>(seen.size()) + 1);
    if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return s.equals(key); })) {
      seen.push_back(key);
      out.push_back(item);
    }
  }
  return Value::list(std::move(out));
}

Value f_wordcount(Interpreter&, const Value& v, CallArgs&) {
  const std::string s = v.str();
  int64_t n = 0;
  bool in_word = false;
  for (const char c : s) {
    const bool w =
        std::isalnum(static_cast<unsigned char>(c)) || c == '_' || static_cast<unsigned char>(c) >= 0x80;
    if (w && !in_word) ++n;
    in_word = w;
  }
  return Value(n);
}

Value f_format(Interpreter& in, const Value& v, CallArgs& args) {
  if (!args.keyword.empty()) {
    Value d = Value::dict();
    for (auto& [k, x] : args.keyword) d.dict_data().set(Value(k), x);
    return Value(percent_format(in, v.str(), d));
  }
  return Value(percent_format(in, v.str(), Value::tuple(args.positional)));
}

Value f_batch(Interpreter& in, const Value& v, CallArgs& args) {
  ArgBinder a("batch", args, {"linecount", "fill_with"});
  const int64_t n = a.get_int(0, 1);
  if (n <= 0) throw RenderError("batch: linecount must be positive");
  // A fill pads the last row up to n items: counted before it is built.
  if (a.has(1)) in.count_steps(n);
  std::vector<Value> out;
  std::vector<Value> row;
  for (const Value& item : filter_items(v, "batch")) {
    row.push_back(item);
    if (static_cast<int64_t>(row.size()) == n) {
      out.push_back(Value::list(std::move(row)));
      row.clear();
    }
  }
  if (!row.empty()) {
    if (a.has(1)) {
      while (static_cast<int64_t>(row.size()) < n) row.push_back(a.get(1));
    }
    out.push_back(Value::list(std::move(row)));
  }
  return Value::list(std::move(out));
}

}  // namespace

FilterFn find_filter(std::string_view name) {
  static const std::unordered_map<std::string_view, FilterFn> kFilters = {
      {"abs", f_abs},           {"attr", f_attr},
      {"batch", f_batch},       {"capitalize", f_capitalize},
      {"center", f_center},     {"count", f_length},
      {"d", f_default},         {"default", f_default},
      {"dictsort", f_dictsort}, {"e", f_escape},
      {"escape", f_escape},     {"forceescape", f_escape},
      {"first", f_first},       {"float", f_float},
      {"format", f_format},     {"from_json", f_from_json},
      {"indent", f_indent},     {"int", f_int},
      {"items", f_items},       {"join", f_join},
      {"last", f_last},         {"length", f_length},
      {"list", f_list},         {"lower", f_lower},
      {"map", f_map},           {"max", f_max},
      {"min", f_min},           {"pprint", f_pprint},
      {"reject", f_reject},     {"rejectattr", f_rejectattr},
      {"replace", f_replace},   {"reverse", f_reverse},
      {"round", f_round},       {"safe", f_safe},
      {"select", f_select},     {"selectattr", f_selectattr},
      {"sort", f_sort},         {"string", f_string},
      {"sum", f_sum},           {"title", f_title},
      {"tojson", f_tojson},     {"trim", f_trim},
      {"truncate", f_truncate}, {"unique", f_unique},
      {"upper", f_upper},       {"wordcount", f_wordcount},
  };
  const auto it = kFilters.find(name);
  return it == kFilters.end() ? nullptr : it->second;
}

}  // namespace hangar::chat
