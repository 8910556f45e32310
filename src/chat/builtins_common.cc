// Builtin tests, global functions, argument binding and formatting helpers (see builtins.h).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "chat/builtins.h"
#include "chat/interpreter.h"
#include "chat/render_budget.h"
#include "chat/render_error.h"
#include "chat/text_util.h"

namespace hangar::chat {
namespace {

constexpr size_t kMaxFormatWidth = 100'000;

}  // namespace

ArgBinder::ArgBinder(const std::string& fn, CallArgs& args, std::initializer_list<const char*> names)
    : fn_(fn) {
  for (const char* n : names) names_.emplace_back(n);
  values_.resize(names_.size());
  if (args.positional.size() > names_.size()) {
    throw RenderError(fn_ + "() takes at most " + std::to_string(names_.size()) + " arguments, got " +
                      std::to_string(args.positional.size()));
  }
  for (size_t i = 0; i < args.positional.size(); ++i) values_[i] = args.positional[i];
  for (auto& [key, value] : args.keyword) {
    const auto it = std::find(names_.begin(), names_.end(), key);
    if (it == names_.end()) throw RenderError(fn_ + "() got an unexpected keyword argument '" + key + "'");
    values_[static_cast<size_t>(it - names_.begin())] = value;
  }
}

int64_t ArgBinder::get_int(size_t i, int64_t fallback) const {
  const Value& v = values_[i];
  if (v.is_undefined() || v.is_none()) return fallback;
  if (v.is_int() || v.is_bool()) return v.as_int();
  if (v.is_float()) return static_cast<int64_t>(v.as_double());
  throw RenderError(fn_ + "(): argument '" + names_[i] + "' must be an integer, got " + v.type_name());
}

bool ArgBinder::get_bool(size_t i, bool fallback) const {
  const Value& v = values_[i];
  if (v.is_undefined()) return fallback;
  return v.truthy();
}

std::string ArgBinder::get_string(size_t i, const std::string& fallback) const {
  const Value& v = values_[i];
  if (v.is_undefined()) return fallback;
  if (!v.is_string()) {
    throw RenderError(fn_ + "(): argument '" + names_[i] + "' must be a string, got " + v.type_name());
  }
  return v.as_string();
}

std::optional<std::string> ArgBinder::get_optional_string(size_t i) const {
  const Value& v = values_[i];
  if (v.is_undefined() || v.is_none()) return std::nullopt;
  return get_string(i, "");
}

std::vector<Value> iterate_value(const Value& v, const std::string& what) {
  switch (v.type()) {
    case Value::Type::kUndefined:
      return {};
    case Value::Type::kList:
      return v.list_data().items;
    case Value::Type::kDict: {
      std::vector<Value> keys;
      for (const auto& [k, x] : v.dict_data().entries) keys.push_back(k);
      return keys;
    }
    case Value::Type::kString: {
      const std::string& s = v.as_string();
      const std::vector<size_t> off = utf8_offsets(s);
      std::vector<Value> chars;
      for (size_t i = 0; i + 1 < off.size(); ++i) chars.emplace_back(s.substr(off[i], off[i + 1] - off[i]));
      return chars;
    }
    default:
      throw RenderError(what + ": " + v.type_name() + " is not iterable");
  }
}

namespace {

bool value_less_depth(const Value& a, const Value& b, int depth) {
  if (depth > Value::kMaxDepth) throw RenderError("values nested too deeply to order (cyclic list?)");
  note_render_work(1);
  const bool an = a.is_int() || a.is_float() || a.is_bool();
  const bool bn = b.is_int() || b.is_float() || b.is_bool();
  if (an && bn) return a.as_double() < b.as_double();
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();
  if (a.is_list() && b.is_list()) {
    const auto& x = a.list_data().items;
    const auto& y = b.list_data().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (value_less_depth(x[i], y[i], depth + 1)) return true;
      if (value_less_depth(y[i], x[i], depth + 1)) return false;
    }
    return x.size() < y.size();
  }
  if (a.is_none() && b.is_none()) return false;
  throw RenderError("cannot order " + a.type_name() + " and " + b.type_name());
}

// Parses the digits of a printf width or precision; huge ones are refused, since glibc
// allocates for them and nothing in a chat template needs them.
size_t spec_number(const std::string& spec, size_t& i) {
  size_t v = 0;
  while (i < spec.size() && spec[i] >= '0' && spec[i] <= '9') {
    v = v * 10 + static_cast<size_t>(spec[i] - '0');
    if (v > kMaxFormatWidth) throw RenderError("format width or precision over " + std::to_string(kMaxFormatWidth));
    ++i;
  }
  return v;
}

}  // namespace

bool value_less(const Value& a, const Value& b) { return value_less_depth(a, b, 0); }

std::string percent_format(Interpreter& in, const std::string& fmt, const Value& args) {
  std::vector<Value> positional;
  if (args.is_tuple()) {
    positional = args.list_data().items;
  } else {
    positional.push_back(args);
  }
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out.push_back(fmt[i]);
      continue;
    }
    if (++i >= fmt.size()) throw RenderError("incomplete format string");
    if (fmt[i] == '%') {
      out.push_back('%');
      continue;
    }
    const Value* arg = nullptr;
    if (fmt[i] == '(') {
      const size_t close = fmt.find(')', i);
      if (close == std::string::npos || !args.is_dict()) throw RenderError("format requires a mapping");
      arg = args.dict_data().find_str(std::string_view(fmt).substr(i + 1, close - i - 1));
      if (arg == nullptr) throw RenderError("format key missing: " + fmt.substr(i + 1, close - i - 1));
      i = close + 1;
    }
    std::string spec = "%";
    while (i < fmt.size() && std::string("-+ #0123456789.").find(fmt[i]) != std::string::npos)
      spec.push_back(fmt[i++]);
    if (i >= fmt.size()) throw RenderError("incomplete format string");
    const char conv = fmt[i];
    // Width and precision bound what snprintf writes; the buffer is sized from them.
    size_t width = 0;
    size_t precision = 0;
    for (size_t k = 1; k < spec.size();) {
      if (spec[k] == '.') {
        ++k;
        precision = spec_number(spec, k);
      } else if (spec[k] >= '1' && spec[k] <= '9') {
        width = spec_number(spec, k);
      } else {
        ++k;
      }
    }
    std::vector<char> buf(width + precision + 512);
    if (arg == nullptr) {
      if (next >= positional.size()) throw RenderError("not enough arguments for format string");
      arg = &positional[next++];
    }
    switch (conv) {
      case 's':
      case 'r': {
        const std::string s = conv == 's' ? arg->str() : arg->repr();
        if (spec == "%") {
          out += s;
        } else {
          // %s with a precision or width: pad or cut by hand (snprintf's buffer would cut
          // long strings and stops at NUL bytes).
          std::string body = s;
          if (spec.find('.') != std::string::npos) body.resize(std::min(body.size(), precision));
          if (body.size() < width) {
            const std::string pad(width - body.size(), ' ');
            body = spec.find('-') != std::string::npos ? body + pad : pad + body;
          }
          out += body;
        }
        break;
      }
      case 'd':
      case 'i':
      case 'x':
      case 'X':
      case 'o': {
        if (!arg->is_number())
          throw RenderError("%" + std::string(1, conv) + " format needs a number, got " + arg->type_name());
        const long long v = arg->is_float() ? static_cast<long long>(arg->as_double()) : arg->as_int();
        std::snprintf(buf.data(), buf.size(), (spec + "ll" + std::string(1, conv == 'i' ? 'd' : conv)).c_str(), v);
        out += buf.data();
        break;
      }
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G': {
        if (!arg->is_number())
          throw RenderError("%" + std::string(1, conv) + " format needs a number, got " + arg->type_name());
        // %f of 1e300 writes 300 digits before the point.
        buf.resize(buf.size() + 320);
        std::snprintf(buf.data(), buf.size(), (spec + std::string(1, conv)).c_str(), arg->as_double());
        out += buf.data();
        break;
      }
      default:
        throw RenderError(std::string("unsupported format character '") + conv + "'");
    }
    in.check_size(out.size());
  }
  return out;
}

// ---- tests ----
namespace {

bool test_defined(Interpreter&, const Value& v, CallArgs&) { return !v.is_undefined(); }
bool test_undefined(Interpreter&, const Value& v, CallArgs&) { return v.is_undefined(); }
bool test_none(Interpreter&, const Value& v, CallArgs&) { return v.is_none(); }
bool test_boolean(Interpreter&, const Value& v, CallArgs&) { return v.is_bool(); }
bool test_true(Interpreter&, const Value& v, CallArgs&) { return v.is_bool() && v.as_bool(); }
bool test_false(Interpreter&, const Value& v, CallArgs&) { return v.is_bool() && !v.as_bool(); }
bool test_integer(Interpreter&, const Value& v, CallArgs&) { return v.is_int(); }
bool test_float(Interpreter&, const Value& v, CallArgs&) { return v.is_float(); }
// Tests follow llama.cpp where it differs from Jinja2: bools are not numbers, dicts are
// neither iterable nor sequences, undefined is both.
bool test_number(Interpreter&, const Value& v, CallArgs&) { return v.is_int() || v.is_float(); }
bool test_string(Interpreter&, const Value& v, CallArgs&) { return v.is_string(); }
bool test_mapping(Interpreter&, const Value& v, CallArgs&) { return v.is_dict() && !v.is_namespace(); }
bool test_iterable(Interpreter&, const Value& v, CallArgs&) {
  return v.is_list() || v.is_string() || v.is_undefined();
}
bool test_sequence(Interpreter&, const Value& v, CallArgs&) {
  return v.is_list() || v.is_string() || v.is_undefined();
}
bool test_callable(Interpreter&, const Value& v, CallArgs&) { return v.is_function(); }
bool test_escaped(Interpreter&, const Value&, CallArgs&) { return false; }

const Value& one_arg(const char* test, CallArgs& args) {
  if (args.positional.size() != 1 || !args.keyword.empty()) {
    throw RenderError(std::string("test '") + test + "' takes exactly one argument");
  }
  return args.positional[0];
}

int compare_for_test(const Value& a, const Value& b) {
  if (value_less(a, b)) return -1;
  if (value_less(b, a)) return 1;
  return 0;
}

bool test_eq(Interpreter&, const Value& v, CallArgs& a) { return v.equals(one_arg("eq", a)); }
bool test_ne(Interpreter&, const Value& v, CallArgs& a) { return !v.equals(one_arg("ne", a)); }
bool test_lt(Interpreter&, const Value& v, CallArgs& a) { return compare_for_test(v, one_arg("lt", a)) < 0; }
bool test_le(Interpreter&, const Value& v, CallArgs& a) { return compare_for_test(v, one_arg("le", a)) <= 0; }
bool test_gt(Interpreter&, const Value& v, CallArgs& a) { return compare_for_test(v, one_arg("gt", a)) > 0; }
bool test_ge(Interpreter&, const Value& v, CallArgs& a) { return compare_for_test(v, one_arg("ge", a)) >= 0; }

bool test_sameas(Interpreter&, const Value& v, CallArgs& a) {
  const Value& o = one_arg("sameas", a);
  if (v.type() != o.type()) return false;
  if (v.is_list()) return &v.list_data() == &o.list_data();
  if (v.is_dict()) return &v.dict_data() == &o.dict_data();
  return v.equals(o);
}

bool test_in(Interpreter&, const Value& v, CallArgs& a) {
  const Value& seq = one_arg("in", a);
  if (seq.is_string()) return v.is_string() && seq.as_string().find(v.as_string()) != std::string::npos;
  if (seq.is_dict())
    return (v.is_string() || v.is_number() || v.is_none()) && seq.dict_data().find(v) != nullptr;
  if (seq.is_list()) {
    for (const auto& x : seq.list_data().items) {
      if (x.equals(v)) return true;
    }
  }
  return false;
}

bool test_divisibleby(Interpreter&, const Value& v, CallArgs& a) {
  const Value& n = one_arg("divisibleby", a);
  if (!v.is_number() || !n.is_number()) throw RenderError("test 'divisibleby' needs numbers");
  if (v.is_float() || n.is_float()) return n.as_double() != 0 && std::fmod(v.as_double(), n.as_double()) == 0;
  return n.as_int() != 0 && v.as_int() % n.as_int() == 0;
}

bool test_odd(Interpreter&, const Value& v, CallArgs&) {
  if (!v.is_int()) throw RenderError("test 'odd' needs an integer, got " + v.type_name());
  return v.as_int() % 2 != 0;
}

bool test_even(Interpreter&, const Value& v, CallArgs&) {
  if (!v.is_int()) throw RenderError("test 'even' needs an integer, got " + v.type_name());
  return v.as_int() % 2 == 0;
}

bool test_lower(Interpreter&, const Value& v, CallArgs&) {
  return v.is_string() && to_lower(v.as_string()) == v.as_string();
}
bool test_upper(Interpreter&, const Value& v, CallArgs&) {
  return v.is_string() && to_upper(v.as_string()) == v.as_string();
}

bool test_startingwith(Interpreter&, const Value& v, CallArgs& a) {
  const Value& p = one_arg("startingwith", a);
  return v.is_string() && p.is_string() && v.as_string().compare(0, p.as_string().size(), p.as_string()) == 0;
}

bool test_endingwith(Interpreter&, const Value& v, CallArgs& a) {
  const Value& p = one_arg("endingwith", a);
  if (!v.is_string() || !p.is_string()) return false;
  const std::string& s = v.as_string();
  const std::string& x = p.as_string();
  return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

bool test_filter(Interpreter&, const Value& v, CallArgs&) {
  return v.is_string() && find_filter(v.as_string()) != nullptr;
}
bool test_test(Interpreter&, const Value& v, CallArgs&) {
  return v.is_string() && find_test(v.as_string()) != nullptr;
}

}  // namespace

TestFn find_test(std::string_view name) {
  static const std::unordered_map<std::string_view, TestFn> kTests = {
      {"defined", test_defined},
      {"undefined", test_undefined},
      {"none", test_none},
      {"boolean", test_boolean},
      {"true", test_true},
      {"false", test_false},
      {"integer", test_integer},
      {"float", test_float},
      {"number", test_number},
      {"string", test_string},
      {"mapping", test_mapping},
      {"iterable", test_iterable},
      {"sequence", test_sequence},
      {"callable", test_callable},
      {"escaped", test_escaped},
      {"eq", test_eq},
      {"equalto", test_eq},
      {"==", test_eq},
      {"ne", test_ne},
      {"!=", test_ne},
      {"lt", test_lt},
      {"lessthan", test_lt},
      {"le", test_le},
      {"gt", test_gt},
      {"greaterthan", test_gt},
      {"ge", test_ge},
      {"sameas", test_sameas},
      {"in", test_in},
      {"divisibleby", test_divisibleby},
      {"odd", test_odd},
      {"even", test_even},
      {"lower", test_lower},
      {"upper", test_upper},
      {"startingwith", test_startingwith},
      {"endingwith", test_endingwith},
      {"filter", test_filter},
      {"test", test_test},
  };
  const auto it = kTests.find(name);
  return it == kTests.end() ? nullptr : it->second;
}

// ---- global functions ----
namespace {

Value fn_range(Interpreter& in, CallArgs& args) {
  if (!args.keyword.empty() || args.positional.empty() || args.positional.size() > 3) {
    throw RenderError("range() takes 1 to 3 integer arguments");
  }
  std::vector<int64_t> a;
  for (const auto& v : args.positional) {
    if (!v.is_int() && !v.is_bool())
      throw RenderError("range() arguments must be integers, got " + v.type_name());
    a.push_back(v.as_int());
  }
  const int64_t start = a.size() == 1 ? 0 : a[0];
  const int64_t stop = a.size() == 1 ? a[0] : a[1];
  const int64_t step = a.size() == 3 ? a[2] : 1;
  if (step == 0) throw RenderError("range() step must not be zero");
  const double count =
      std::ceil((static_cast<double>(stop) - static_cast<double>(start)) / static_cast<double>(step));
  if (count > static_cast<double>(in.limits().max_range)) {
    in.fail_limit("range() of " + (count < 9e18 ? std::to_string(static_cast<int64_t>(count)) : "too many") +
                  " elements exceeds the limit of " + std::to_string(in.limits().max_range));
  }
  std::vector<Value> out;
  if (count > 0) {
    in.count_steps(static_cast<int64_t>(count));
    out.reserve(static_cast<size_t>(count));
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) out.emplace_back(i);
  }
  return Value::list(std::move(out));
}

Value fn_namespace(Interpreter&, CallArgs& args) {
  Value ns = Value::namespace_object();
  for (const auto& p : args.positional) {
    if (!p.is_dict())
      throw RenderError("namespace() positional arguments must be dicts, got " + p.type_name());
    for (const auto& [k, v] : p.dict_data().entries) ns.dict_data().set(k, v);
  }
  for (auto& [k, v] : args.keyword) ns.dict_data().set(Value(k), v);
  return ns;
}

Value fn_dict(Interpreter&, CallArgs& args) {
  Value d = Value::dict();
  for (const auto& p : args.positional) {
    if (p.is_dict()) {
      for (const auto& [k, v] : p.dict_data().entries) d.dict_data().set(k, v);
    } else if (p.is_list()) {
      for (const auto& pair : p.list_data().items) {
        if (!pair.is_list() || pair.list_data().items.size() != 2)
          throw RenderError("dict() needs (key, value) pairs");
        d.dict_data().set(pair.list_data().items[0], pair.list_data().items[1]);
      }
    } else {
      throw RenderError("dict() cannot convert a " + p.type_name());
    }
  }
  for (auto& [k, v] : args.keyword) d.dict_data().set(Value(k), v);
  return d;
}

Value fn_raise_exception(Interpreter&, CallArgs& args) {
  const std::string msg =
      args.positional.empty() ? std::string("raise_exception() called") : args.positional[0].str();
  throw RenderError(msg);
}

Value fn_zip(Interpreter& in, CallArgs& args) {
  std::vector<std::vector<Value>> seqs;
  size_t n = SIZE_MAX;
  for (const auto& p : args.positional) {
    seqs.push_back(iterate_value(p, "zip()"));
    n = std::min(n, seqs.back().size());
  }
  if (seqs.empty()) n = 0;
  in.count_steps(static_cast<int64_t>(n));
  std::vector<Value> out;
  for (size_t i = 0; i < n; ++i) {
    std::vector<Value> row;
    for (const auto& s : seqs) row.push_back(s[i]);
    out.push_back(Value::tuple(std::move(row)));
  }
  return Value::list(std::move(out));
}

Value fn_joiner(Interpreter&, CallArgs& args) {
  ArgBinder a("joiner", args, {"sep"});
  const std::string sep = a.get_string(0, ", ");
  auto used = std::make_shared<bool>(false);
  return Value::function("joiner", [sep, used](Interpreter&, CallArgs&) {
    if (!*used) {
      *used = true;
      return Value("");
    }
    return Value(sep);
  });
}

}  // namespace

std::optional<Value> find_global_function(std::string_view name) {
  using Fn = Value (*)(Interpreter&, CallArgs&);
  static const std::unordered_map<std::string_view, Fn> kGlobals = {
      {"range", fn_range}, {"namespace", fn_namespace},
      {"dict", fn_dict},   {"raise_exception", fn_raise_exception},
      {"zip", fn_zip},     {"joiner", fn_joiner},
  };
  const auto it = kGlobals.find(name);
  if (it == kGlobals.end()) return std::nullopt;
  return Value::function(std::string(name), it->second);
}

}  // namespace hangar::chat
