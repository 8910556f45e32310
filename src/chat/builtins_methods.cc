// Builtin methods of str, list and dict values, following Python's semantics.
#include <algorithm>
#include <unordered_set>

#include "chat/builtins.h"
#include "chat/interpreter.h"
#include "chat/render_error.h"
#include "chat/text_util.h"

namespace hangar::chat {
namespace {

// What one part of split()/splitlines() costs before it is charged as a value: the
// std::string holding it plus its Value and shared string block.
constexpr size_t kPartBytes = 128;

const std::unordered_set<std::string_view>& string_methods() {
  static const std::unordered_set<std::string_view> k = {
      "strip",      "lstrip",       "rstrip",      "split",   "rsplit",     "splitlines", "startswith",
      "endswith",   "upper",        "lower",       "title",   "capitalize", "swapcase",   "casefold",
      "replace",    "find",         "rfind",       "index",   "rindex",     "count",      "join",
      "format",     "isdigit",      "isalpha",     "isalnum", "isspace",    "islower",    "isupper",
      "isnumeric",  "isdecimal",    "zfill",       "center",  "ljust",      "rjust",      "partition",
      "rpartition", "removeprefix", "removesuffix"};
  return k;
}

const std::unordered_set<std::string_view>& list_methods() {
  static const std::unordered_set<std::string_view> k = {
      "append", "extend", "pop", "insert", "remove", "index", "count", "reverse", "sort", "copy", "clear"};
  return k;
}

const std::unordered_set<std::string_view>& dict_methods() {
  static const std::unordered_set<std::string_view> k = {"get",    "items",      "keys", "values", "pop",
                                                         "update", "setdefault", "copy", "clear"};
  return k;
}

// Python's str.find over code points: returns the code point index or -1.
int64_t find_cp(const std::string& s, const std::string& sub, bool reverse) {
  const size_t pos = reverse ? s.rfind(sub) : s.find(sub);
  if (pos == std::string::npos) return -1;
  return static_cast<int64_t>(utf8_length(std::string_view(s).substr(0, pos)));
}

bool match_affix(std::string_view s, const Value& affix, bool prefix, const std::string& fn) {
  auto one = [&](const Value& a) {
    if (!a.is_string()) throw RenderError(fn + "() argument must be a string or tuple of strings");
    const std::string& x = a.as_string();
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (affix.is_list()) {
    return std::any_of(affix.list_data().items.begin(), affix.list_data().items.end(), one);
  }
  return one(affix);
}

// Python str.format with {}, {0}, {name}, {{ }}, !r/!s and simple specs like {:.2f} or {:>8}.
std::string python_format(Interpreter& in, const std::string& fmt, CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    const char c = fmt[i];
    if (c == '}' && i + 1 < fmt.size() && fmt[i + 1] == '}') {
      out.push_back('}');
      ++i;
      continue;
    }
    if (c != '{') {
      out.push_back(c);
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out.push_back('{');
      ++i;
      continue;
    }
    const size_t close = fmt.find('}', i);
    if (close == std::string::npos) throw RenderError("format(): unmatched '{'");
    std::string field = fmt.substr(i + 1, close - i - 1);
    const auto number = [&](const std::string& digits) -> size_t {
      // Widths and precisions are template-controlled: parse them without stoul's exceptions
      // and check what they would allocate before anything is built.
      size_t v = 0;
      for (const char d : digits) {
        if (d < '0' || d > '9') throw RenderError("format(): invalid format spec '" + field + "'");
        if (__builtin_mul_overflow(v, size_t{10}, &v) || __builtin_add_overflow(v, size_t(d - '0'), &v))
          v = SIZE_MAX;
      }
      return v;
    };
    i = close;
    std::string spec;
    const size_t colon = field.find(':');
    if (colon != std::string::npos) {
      spec = field.substr(colon + 1);
      field.resize(colon);
    }
    char conversion = 's';
    const size_t bang = field.find('!');
    if (bang != std::string::npos) {
      conversion = bang + 1 < field.size() ? field[bang + 1] : 's';
      field.resize(bang);
    }
    const Value* arg = nullptr;
    if (field.empty()) {
      if (auto_index >= args.positional.size())
        throw RenderError("format(): not enough positional arguments");
      arg = &args.positional[auto_index++];
    } else if (std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; })) {
      const size_t k = number(field);
      if (k >= args.positional.size())
        throw RenderError("format(): positional index " + field + " out of range");
      arg = &args.positional[k];
    } else {
      for (const auto& [key, v] : args.keyword) {
        if (key == field) arg = &v;
      }
      if (arg == nullptr) throw RenderError("format(): missing keyword argument '" + field + "'");
    }
    if (spec.empty()) {
      out += conversion == 'r' ? arg->repr() : arg->str();
      continue;
    }
    // Map the common specs onto printf: [[fill]align][width][.precision][type].
    char align = 0;
    char fill = ' ';
    size_t p = 0;
    if (spec.size() >= 2 && (spec[1] == '<' || spec[1] == '>' || spec[1] == '^')) {
      fill = spec[0];
      align = spec[1];
      p = 2;
    } else if (!spec.empty() && (spec[0] == '<' || spec[0] == '>' || spec[0] == '^')) {
      align = spec[0];
      p = 1;
    }
    std::string rest = spec.substr(p);
    const char type =
        !rest.empty() && std::isalpha(static_cast<unsigned char>(rest.back())) ? rest.back() : 0;
    if (type) rest.pop_back();
    std::string body;
    if (type == 'f' || type == 'e' || type == 'g' || type == 'd' || type == 'x') {
      const size_t dot = rest.find('.');
      std::string prec = dot == std::string::npos ? "" : rest.substr(dot);
      Value packed = Value::tuple({*arg});
      body = percent_format(in, "%" + prec + std::string(1, type), packed);
      rest = dot == std::string::npos ? rest : rest.substr(0, dot);
    } else {
      body = conversion == 'r' ? arg->repr() : arg->str();
      const size_t dot = rest.find('.');
      if (dot != std::string::npos) {
        const size_t prec = number(rest.substr(dot + 1));
        body.resize(utf8_offset(body, prec));
        rest.resize(dot);
      }
    }
    const size_t width = number(rest);
    const size_t len = utf8_length(body);
    if (width > len) {
      const size_t pad = width - len;
      in.check_size(out.size() + body.size() + pad);
      const char a = align ? align : ((arg->is_number() && !arg->is_bool()) ? '>' : '<');
      if (a == '<') {
        body += std::string(pad, fill);
      } else if (a == '>') {
        body = std::string(pad, fill) + body;
      } else {
        body = std::string(pad / 2, fill) + body + std::string(pad - pad / 2, fill);
      }
    }
    out += body;
    in.check_size(out.size());
  }
  return out;
}

Value string_method(Interpreter& in, const std::string& s, const std::string& name, CallArgs& args) {
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    ArgBinder a(name, args, {"chars"});
    return Value(py_strip(s, a.get_optional_string(0), name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    ArgBinder a(name, args, {"sep", "maxsplit"});
    const auto sep = a.get_optional_string(0);
    if (sep && sep->empty()) throw RenderError(name + "(): empty separator");
    const int64_t maxsplit = a.get_int(1, -1);
    // Counted first: a long run of separators would otherwise build millions of parts
    // before the first one is charged.
    const size_t parts = py_split_count(s, sep, maxsplit);
    in.count_steps(static_cast<int64_t>(parts));
    in.check_size(parts * kPartBytes);
    std::vector<Value> out;
    for (auto& part : name == "split" ? py_split(s, sep, maxsplit) : py_rsplit(s, sep, maxsplit)) {
      out.emplace_back(std::move(part));
    }
    return Value::list(std::move(out));
  }
  if (name == "splitlines") {
    const size_t lines = py_splitlines_count(s);
    in.count_steps(static_cast<int64_t>(lines));
    in.check_size(lines * kPartBytes);
    std::vector<Value> out;
    for (auto& line : py_splitlines(s)) out.emplace_back(std::move(line));
    return Value::list(std::move(out));
  }
  if (name == "startswith" || name == "endswith") {
    ArgBinder a(name, args, {"affix", "start", "end"});
    std::string_view sub = s;
    if (a.has(1) || a.has(2)) {
      const int64_t n = static_cast<int64_t>(utf8_length(s));
      auto norm = [&](int64_t i) { return std::clamp<int64_t>(i < 0 ? i + n : i, 0, n); };
      const int64_t b = norm(a.get_int(1, 0));
      const int64_t e = norm(a.get_int(2, n));
      const size_t bb = utf8_offset(s, static_cast<size_t>(b));
      sub = b >= e ? std::string_view() : sub.substr(bb, utf8_offset(sub.substr(bb), static_cast<size_t>(e - b)));
    }
    return Value(match_affix(sub, a.get(0), name == "startswith", name));
  }
  if (name == "upper") return Value(to_upper(s));
  if (name == "lower" || name == "casefold") return Value(to_lower(s));
  if (name == "title") return Value(title_case(s));
  if (name == "capitalize") return Value(capitalize(s));
  if (name == "swapcase") {
    std::string out = s;
    for (char& c : out) {
      if (std::islower(static_cast<unsigned char>(c))) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      } else if (std::isupper(static_cast<unsigned char>(c))) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
    }
    return Value(out);
  }
  if (name == "replace") {
    ArgBinder a(name, args, {"old", "new", "count"});
    const std::string from = a.get_string(0, "");
    const std::string to = a.get_string(1, "");
    const int64_t count = a.get_int(2, -1);
    in.check_size(py_replace_size(s, from, to, count));
    return Value(py_replace(s, from, to, count));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    ArgBinder a(name, args, {"sub"});
    const int64_t r = find_cp(s, a.get_string(0, ""), name[0] == 'r');
    if (r < 0 && (name == "index" || name == "rindex")) throw RenderError(name + "(): substring not found");
    return Value(r);
  }
  if (name == "count") {
    ArgBinder a(name, args, {"sub"});
    const std::string sub = a.get_string(0, "");
    if (sub.empty()) return Value(static_cast<int64_t>(utf8_length(s)) + 1);
    int64_t n = 0;
    for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
    return Value(n);
  }
  if (name == "join") {
    ArgBinder a(name, args, {"iterable"});
    std::string out;
    bool first = true;
    for (const Value& item : iterate_value(a.get(0), "join()")) {
      if (!item.is_string())
        throw RenderError("join(): sequence item is a " + item.type_name() + ", expected a string");
      if (!first) out += s;
      first = false;
      out += item.as_string();
      in.check_size(out.size());
    }
    return Value(std::move(out));
  }
  if (name == "format") return Value(python_format(in, s, args));
  if (name == "isdigit" || name == "isnumeric" || name == "isdecimal") {
    return Value(!s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }));
  }
  if (name == "isalpha") {
    return Value(!s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
      return std::isalpha(static_cast<unsigned char>(c)) != 0;
    }));
  }
  if (name == "isalnum") {
    return Value(!s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) != 0;
    }));
  }
  if (name == "isspace") return Value(!s.empty() && std::all_of(s.begin(), s.end(), is_py_space));
  if (name == "islower" || name == "isupper") {
    const bool has_cased = std::any_of(
        s.begin(), s.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)) != 0; });
    return Value(has_cased && (name == "islower" ? to_lower(s) == s : to_upper(s) == s));
  }
  if (name == "zfill" || name == "center" || name == "ljust" || name == "rjust") {
    ArgBinder a(name, args, {"width", "fillchar"});
    const int64_t width = a.get_int(0, 0);
    const std::string fill = a.get_string(1, name == "zfill" ? "0" : " ");
    if (utf8_length(fill) != 1) throw RenderError(name + "(): the fill character must be exactly one character long");
    const int64_t len = static_cast<int64_t>(utf8_length(s));
    if (width <= len) return Value(s);
    const int64_t pad = width - len;
    size_t bytes = 0;
    if (__builtin_mul_overflow(static_cast<size_t>(pad), fill.size(), &bytes)) bytes = SIZE_MAX;
    in.check_size(s.size() + bytes);
    auto rep = [&](int64_t n) {
      std::string r;
      r.reserve(static_cast<size_t>(n) * fill.size());
      for (int64_t i = 0; i < n; ++i) r += fill;
      return r;
    };
    if (name == "ljust") return Value(s + rep(pad));
    if (name == "rjust") return Value(rep(pad) + s);
    if (name == "zfill") {
      if (!s.empty() && (s[0] == '-' || s[0] == '+')) return Value(s.substr(0, 1) + rep(pad) + s.substr(1));
      return Value(rep(pad) + s);
    }
    const int64_t left = pad / 2 + (pad & width & 1);
    return Value(rep(left) + s + rep(pad - left));
  }
  if (name == "partition" || name == "rpartition") {
    ArgBinder a(name, args, {"sep"});
    const std::string sep = a.get_string(0, "");
    if (sep.empty()) throw RenderError(name + "(): empty separator");
    const size_t p = name == "partition" ? s.find(sep) : s.rfind(sep);
    if (p == std::string::npos) {
      return name == "partition" ? Value::tuple({Value(s), Value(""), Value("")})
                                 : Value::tuple({Value(""), Value(""), Value(s)});
    }
    return Value::tuple({Value(s.substr(0, p)), Value(sep), Value(s.substr(p + sep.size()))});
  }
  if (name == "removeprefix" || name == "removesuffix") {
    ArgBinder a(name, args, {"affix"});
    const std::string x = a.get_string(0, "");
    if (name == "removeprefix") return Value(s.compare(0, x.size(), x) == 0 ? s.substr(x.size()) : s);
    if (x.size() <= s.size() && s.compare(s.size() - x.size(), x.size(), x) == 0)
      return Value(s.substr(0, s.size() - x.size()));
    return Value(s);
  }
  throw RenderError("str has no method '" + name + "'");
}

void refuse_cycle(const Value& container, const Value& inserted, const std::string& method) {
  if (would_create_cycle(container, inserted)) {
    throw RenderError(method + "(): a container cannot hold itself");
  }
}

Value list_method(Interpreter& in, const Value& self, const std::string& name, CallArgs& args) {
  std::vector<Value>& items = self.list_data().items;
  const bool is_tuple = self.is_tuple();
  auto mutating = [&] {
    if (is_tuple) throw RenderError("tuple has no method '" + name + "'");
  };
  if (name == "append") {
    mutating();
    ArgBinder a(name, args, {"item"});
    in.count_steps();
    refuse_cycle(self, a.get(0), name);
    items.push_back(a.get(0));
    self.list_data().sync_charge();
    return Value::none();
  }
  if (name == "extend") {
    mutating();
    ArgBinder a(name, args, {"iterable"});
    const std::vector<Value> more = iterate_value(a.get(0), "extend()");
    in.count_steps(static_cast<int64_t>(more.size()));
    for (const auto& x : more) refuse_cycle(self, x, name);
    items.insert(items.end(), more.begin(), more.end());
    self.list_data().sync_charge();
    return Value::none();
  }
  if (name == "pop") {
    mutating();
    ArgBinder a(name, args, {"index"});
    int64_t i = a.get_int(0, -1);
    if (i < 0) i += static_cast<int64_t>(items.size());
    if (i < 0 || i >= static_cast<int64_t>(items.size())) throw RenderError("pop(): index out of range");
    Value v = items[static_cast<size_t>(i)];
    items.erase(items.begin() + i);
    return v;
  }
  if (name == "insert") {
    mutating();
    ArgBinder a(name, args, {"index", "item"});
    int64_t i = a.get_int(0, 0);
    const int64_t n = static_cast<int64_t>(items.size());
    if (i < 0) i = std::max<int64_t>(0, i + n);
    i = std::min(i, n);
    refuse_cycle(self, a.get(1), name);
    items.insert(items.begin() + i, a.get(1));
    self.list_data().sync_charge();
    return Value::none();
  }
  if (name == "remove") {
    mutating();
    ArgBinder a(name, args, {"item"});
    for (auto it = items.begin(); it != items.end(); ++it) {
      if (it->equals(a.get(0))) {
        items.erase(it);
        return Value::none();
      }
    }
    throw RenderError("remove(): item not in list");
  }
  if (name == "index" || name == "count") {
    ArgBinder a(name, args, {"item"});
    int64_t n = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].equals(a.get(0))) continue;
      if (name == "index") return Value(static_cast<int64_t>(i));
      ++n;
    }
    if (name == "index") throw RenderError("index(): item not in list");
    return Value(n);
  }
  if (name == "reverse") {
    mutating();
    std::reverse(items.begin(), items.end());
    return Value::none();
  }
  if (name == "sort") {
    mutating();
    ArgBinder a(name, args, {"reverse"});
    const bool reverse = a.get_bool(0, false);
    std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
      return reverse ? value_less(y, x) : value_less(x, y);
    });
    return Value::none();
  }
  if (name == "copy") {
    in.count_steps(static_cast<int64_t>(items.size()));
    return Value::list(items);
  }
  if (name == "clear") {
    mutating();
    items.clear();
    return Value::none();
  }
  throw RenderError("list has no method '" + name + "'");
}

Value dict_method(Interpreter& in, const Value& self, const std::string& name, CallArgs& args) {
  DictData& d = self.dict_data();
  if (name == "get") {
    ArgBinder a(name, args, {"key", "default"});
    const Value& key = a.get(0);
    if (key.is_dict() || key.is_function() || (key.is_list() && !key.is_tuple()))
      return a.has(1) ? a.get(1) : Value::none();
    const Value* v = key.is_undefined() ? nullptr : d.find(key);
    if (v != nullptr) return *v;
    return a.has(1) ? a.get(1) : Value::none();
  }
  if (name == "items" || name == "keys" || name == "values") {
    std::vector<Value> out;
    out.reserve(d.size());
    in.count_steps(static_cast<int64_t>(d.size()));
    for (const auto& [k, v] : d.entries) {
      out.push_back(name == "items" ? Value::tuple({k, v}) : (name == "keys" ? k : v));
    }
    return Value::list(std::move(out));
  }
  if (name == "pop") {
    ArgBinder a(name, args, {"key", "default"});
    const Value* v = d.find(a.get(0));
    if (v == nullptr) {
      if (a.has(1)) return a.get(1);
      throw RenderError("pop(): key " + a.get(0).repr() + " not found");
    }
    Value out = *v;
    d.erase(a.get(0));
    return out;
  }
  if (name == "setdefault") {
    ArgBinder a(name, args, {"key", "default"});
    if (const Value* v = d.find(a.get(0))) return *v;
    const Value def = a.has(1) ? a.get(1) : Value::none();
    refuse_cycle(self, def, name);
    d.set(a.get(0), def);
    return def;
  }
  if (name == "update") {
    for (const auto& p : args.positional) {
      if (!p.is_dict()) throw RenderError("update(): expected a dict, got " + p.type_name());
      in.count_steps(static_cast<int64_t>(p.dict_data().size()));
      for (const auto& [k, v] : p.dict_data().entries) {
        refuse_cycle(self, v, name);
        d.set(k, v);
      }
    }
    for (auto& [k, v] : args.keyword) {
      refuse_cycle(self, v, name);
      d.set(Value(k), v);
    }
    return Value::none();
  }
  if (name == "copy") {
    in.count_steps(static_cast<int64_t>(d.size()));
    Value c = Value::dict();
    for (const auto& [k, v] : d.entries) c.dict_data().set(k, v);
    return c;
  }
  if (name == "clear") {
    d.clear();
    return Value::none();
  }
  throw RenderError("dict has no method '" + name + "'");
}

}  // namespace

bool has_method(const Value& obj, std::string_view name) {
  switch (obj.type()) {
    case Value::Type::kString:
      return string_methods().count(name) != 0;
    case Value::Type::kList:
      return list_methods().count(name) != 0;
    case Value::Type::kDict:
      return !obj.is_namespace() && dict_methods().count(name) != 0;
    default:
      return false;
  }
}

Value call_method(Interpreter& in, const Value& obj, const std::string& name, CallArgs& args) {
  // Every method is at most linear in its receiver (sort: n log n compares, which charge
  // themselves); charging the receiver's size paces the clock for long strings and lists.
  switch (obj.type()) {
    case Value::Type::kString:
      in.add_work(obj.as_string().size());
      break;
    case Value::Type::kList:
      in.add_work(obj.list_data().items.size());
      break;
    case Value::Type::kDict:
      in.add_work(obj.dict_data().size());
      break;
    default:
      break;
  }
  switch (obj.type()) {
    case Value::Type::kString:
      return string_method(in, obj.as_string(), name, args);
    case Value::Type::kList:
      return list_method(in, obj, name, args);
    case Value::Type::kDict:
      return dict_method(in, obj, name, args);
    default:
      throw RenderError(obj.type_name() + " has no method '" + name + "'");
  }
}

}  // namespace hangar::chat
