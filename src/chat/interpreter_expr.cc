// Interpreter expressions: names, attributes, indexing, slicing, calls and operators.
#include <algorithm>
#include <cmath>

#include "chat/builtins.h"
#include "chat/interpreter.h"
#include "chat/render_budget.h"
#include "chat/render_error.h"
#include "chat/text_util.h"

namespace hangar::chat {
namespace {

// Python slice index normalisation for a sequence of length n.
void slice_indices(int64_t n, const Value& start_v, const Value& stop_v, const Value& step_v, int64_t& start,
                   int64_t& stop, int64_t& step) {
  auto as_index = [](const Value& v, const char* what) {
    if (!v.is_int() && !v.is_bool()) throw RenderError(std::string("slice ") + what + " must be an integer");
    return v.as_int();
  };
  step = (step_v.is_undefined() || step_v.is_none()) ? 1 : as_index(step_v, "step");
  if (step == 0) throw RenderError("slice step cannot be zero");
  auto clamp = [&](const Value& v, int64_t def, const char* what) {
    if (v.is_undefined() || v.is_none()) return def;
    int64_t i = as_index(v, what);
    if (i < 0) i += n;
    if (step > 0) return std::clamp<int64_t>(i, 0, n);
    return std::clamp<int64_t>(i, -1, n - 1);
  };
  start = clamp(start_v, step > 0 ? 0 : n - 1, "start");
  stop = clamp(stop_v, step > 0 ? n : -1, "stop");
}

bool is_numberish(const Value& v) { return v.is_int() || v.is_float() || v.is_bool(); }

Value arithmetic(const std::string& op, const Value& a, const Value& b) {
  const bool use_float = a.is_float() || b.is_float();
  if (op == "/") {
    const double d = b.as_double();
    if (d == 0.0) throw RenderError("division by zero");
    return Value(a.as_double() / d);
  }
  if (use_float) {
    const double x = a.as_double();
    const double y = b.as_double();
    if (op == "+") return Value(x + y);
    if (op == "-") return Value(x - y);
    if (op == "*") return Value(x * y);
    if (op == "**") return Value(std::pow(x, y));
    if (y == 0.0) throw RenderError("division by zero");
    if (op == "//") return Value(std::floor(x / y));
    const double m = std::fmod(x, y);
    return Value((m != 0.0 && ((m < 0) != (y < 0))) ? m + y : m);
  }
  const int64_t x = a.as_int();
  const int64_t y = b.as_int();
  int64_t r = 0;
  if (op == "+") {
    if (__builtin_add_overflow(x, y, &r)) return Value(static_cast<double>(x) + static_cast<double>(y));
    return Value(r);
  }
  if (op == "-") {
    if (__builtin_sub_overflow(x, y, &r)) return Value(static_cast<double>(x) - static_cast<double>(y));
    return Value(r);
  }
  if (op == "*") {
    if (__builtin_mul_overflow(x, y, &r)) return Value(static_cast<double>(x) * static_cast<double>(y));
    return Value(r);
  }
  if (op == "**") {
    if (y < 0) return Value(std::pow(static_cast<double>(x), static_cast<double>(y)));
    int64_t result = 1;
    int64_t base = x;
    for (int64_t rest = y; rest > 0; rest >>= 1) {
      const bool overflow = ((rest & 1) && __builtin_mul_overflow(result, base, &result)) ||
                            (rest > 1 && __builtin_mul_overflow(base, base, &base));
      if (overflow) return Value(std::pow(static_cast<double>(x), static_cast<double>(y)));
    }
    return Value(result);
  }
  if (y == 0) throw RenderError("integer division or modulo by zero");
  if (x == INT64_MIN && y == -1) return Value(op == "//" ? -static_cast<double>(x) : 0.0);
  int64_t q = x / y;
  int64_t m = x % y;
  if (m != 0 && ((m < 0) != (y < 0))) {
    --q;
    m += y;
  }
  return Value(op == "//" ? q : m);
}

int compare_values(const Value& a, const Value& b, const std::string& op) {
  if (is_numberish(a) && is_numberish(b)) {
    const double x = a.as_double();
    const double y = b.as_double();
    if (!a.is_float() && !b.is_float())
      return a.as_int() < b.as_int() ? -1 : (a.as_int() > b.as_int() ? 1 : 0);
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.as_string().compare(b.as_string());
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.is_list() && b.is_list()) {
    const auto& x = a.list_data().items;
    const auto& y = b.list_data().items;
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (!x[i].equals(y[i])) return compare_values(x[i], y[i], op);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  throw RenderError("'" + op + "' is not supported between " + a.type_name() + " and " + b.type_name());
}

bool contains(const Value& container, const Value& item) {
  switch (container.type()) {
    case Value::Type::kUndefined:
    case Value::Type::kNone:
      return false;  // llama.cpp: "x in undefined" is false
    case Value::Type::kString:
      if (!item.is_string()) {
        throw RenderError("'in <string>' requires a string on the left, got " + item.type_name());
      }
      note_render_work(container.as_string().size());
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Type::kList:
      for (const auto& v : container.list_data().items) {
        if (v.equals(item)) return true;  // equals() charges its work
      }
      return false;
    case Value::Type::kDict:
      if (item.is_list() && !item.is_tuple()) return false;
      if (item.is_dict() || item.is_function() || item.is_undefined()) return false;
      return container.dict_data().find(item) != nullptr;
    default:
      throw RenderError("'in' needs a string, list or dict on the right, got " + container.type_name());
  }
}

}  // namespace

Value Interpreter::lookup(const ScopePtr& scope, const std::string& name) {
  for (const Scope* s = scope.get(); s != nullptr; s = s->parent.get()) {
    const auto it = s->vars.find(name);
    if (it != s->vars.end()) return it->second;
  }
  if (auto f = find_global_function(name)) return *f;
  return Value::undefined(name);
}

CallArgs Interpreter::eval_args(const Expr& e, size_t first, const ScopePtr& scope) {
  CallArgs args;
  for (size_t i = first; i < e.items.size(); ++i) args.positional.push_back(eval(*e.items[i], scope));
  for (const auto& [k, v] : e.kwargs) args.keyword.emplace_back(k, eval(*v, scope));
  return args;
}

Value Interpreter::get_attr(const Value& obj, const std::string& name) {
  switch (obj.type()) {
    case Value::Type::kDict: {
      const DictData& d = obj.dict_data();
      if (!d.is_namespace && has_method(obj, name)) break;
      if (const Value* v = d.find_str(std::string_view(name))) return *v;
      return Value::undefined(name);
    }
    case Value::Type::kString:
    case Value::Type::kList:
      break;
    default:
      return Value::undefined(name);
  }
  if (has_method(obj, name)) {
    const Value self = obj;
    const std::string method = name;
    return Value::function(name, [self, method](Interpreter& in, CallArgs& args) {
      return call_method(in, self, method, args);
    });
  }
  return Value::undefined(name);
}

Value Interpreter::get_item(const Value& obj, const Value& key) {
  switch (obj.type()) {
    case Value::Type::kDict: {
      if (key.is_dict() || (key.is_list() && !key.is_tuple()) || key.is_function() || key.is_undefined()) {
        return Value::undefined();
      }
      if (const Value* v = obj.dict_data().find(key)) return *v;
      if (key.is_string() && !obj.is_namespace() && has_method(obj, key.as_string())) {
        return get_attr(obj, key.as_string());
      }
      return Value::undefined(key.is_string() ? key.as_string() : key.repr());
    }
    case Value::Type::kList: {
      if (!key.is_int() && !key.is_bool()) return Value::undefined();
      const auto& items = obj.list_data().items;
      int64_t i = key.as_int();
      if (i < 0) i += static_cast<int64_t>(items.size());
      if (i < 0 || i >= static_cast<int64_t>(items.size())) return Value::undefined("index " + key.str());
      return items[static_cast<size_t>(i)];
    }
    case Value::Type::kString: {
      if (key.is_string()) return get_attr(obj, key.as_string());
      if (!key.is_int() && !key.is_bool()) return Value::undefined();
      const std::string& s = obj.as_string();
      add_work(s.size());
      const bool ascii = is_ascii(s);
      const int64_t n = static_cast<int64_t>(ascii ? s.size() : utf8_length(s));
      int64_t i = key.as_int();
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value::undefined("index " + key.str());
      if (ascii) return Value(s.substr(static_cast<size_t>(i), 1));
      const size_t b = utf8_offset(s, static_cast<size_t>(i));
      return Value(s.substr(b, utf8_offset(std::string_view(s).substr(b), 1)));
    }
    default:
      return Value::undefined();
  }
}

Value Interpreter::eval_slice(const Expr& e, const ScopePtr& scope) {
  const Value obj = eval(*e.items[0], scope);
  const Value start = e.items[1] ? eval(*e.items[1], scope) : Value();
  const Value stop = e.items[2] ? eval(*e.items[2], scope) : Value();
  const Value step = e.items[3] ? eval(*e.items[3], scope) : Value();
  if (obj.is_undefined()) return obj;
  int64_t b = 0;
  int64_t en = 0;
  int64_t st = 1;
  // Elements a slice [b:en:st] selects, counted before anything is built.
  auto slice_length = [&]() -> int64_t {
    if (st > 0) return en > b ? (en - b - 1) / st + 1 : 0;
    return b > en ? (b - en - 1) / -st + 1 : 0;
  };
  if (obj.is_list()) {
    const auto& items = obj.list_data().items;
    slice_indices(static_cast<int64_t>(items.size()), start, stop, step, b, en, st);
    count_steps(slice_length());
    std::vector<Value> out;
    out.reserve(static_cast<size_t>(slice_length()));
    for (int64_t i = b; st > 0 ? i < en : i > en; i += st) out.push_back(items[static_cast<size_t>(i)]);
    return obj.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
  }
  if (obj.is_string()) {
    const std::string& s = obj.as_string();
    add_work(s.size());
    if (is_ascii(s)) {
      slice_indices(static_cast<int64_t>(s.size()), start, stop, step, b, en, st);
      if (st == 1) return Value(s.substr(static_cast<size_t>(b), static_cast<size_t>(std::max(b, en) - b)));
      std::string out;
      out.reserve(static_cast<size_t>(slice_length()));
      for (int64_t i = b; st > 0 ? i < en : i > en; i += st) out.push_back(s[static_cast<size_t>(i)]);
      return Value(std::move(out));
    }
    // The offsets table costs 8 bytes per byte of text: charged as a transient.
    check_size((s.size() + 1) * sizeof(size_t));
    const std::vector<size_t> off = utf8_offsets(s);
    slice_indices(static_cast<int64_t>(off.size()) - 1, start, stop, step, b, en, st);
    if (st == 1)
      return Value(s.substr(off[static_cast<size_t>(b)],
                            off[static_cast<size_t>(std::max(b, en))] - off[static_cast<size_t>(b)]));
    std::string out;
    for (int64_t i = b; st > 0 ? i < en : i > en; i += st) {
      out += s.substr(off[static_cast<size_t>(i)],
                      off[static_cast<size_t>(i) + 1] - off[static_cast<size_t>(i)]);
    }
    return Value(std::move(out));
  }
  throw RenderError("cannot slice a " + obj.type_name());
}

Value Interpreter::eval_call(const Expr& e, const ScopePtr& scope) {
  const Expr& callee = *e.items[0];
  if (callee.kind == ExprKind::kAttr) {
    // Call methods directly instead of materialising a bound function first.
    const Value obj = eval(*callee.items[0], scope);
    const bool is_method = (obj.is_string() || obj.is_list() || (obj.is_dict() && !obj.is_namespace())) &&
                           has_method(obj, callee.name);
    if (is_method) {
      CallArgs args = eval_args(e, 1, scope);
      return call_method(*this, obj, callee.name, args);
    }
    const Value f = get_attr(obj, callee.name);
    CallArgs args = eval_args(e, 1, scope);
    return call(f, args, callee.name);
  }
  const Value f = eval(callee, scope);
  CallArgs args = eval_args(e, 1, scope);
  return call(f, args, callee.kind == ExprKind::kName ? callee.name : "expression");
}

Value Interpreter::concat(const Value& a, const Value& b) {
  // Strings are used in place: long prompts are concatenated without extra copies.
  std::string a_text, b_text;
  const std::string& x = a.is_string() ? a.as_string() : (a_text = a.str());
  const std::string& y = b.is_string() ? b.as_string() : (b_text = b.str());
  check_size(x.size() + y.size());
  std::string out;
  out.reserve(x.size() + y.size());
  out += x;
  out += y;
  return Value(std::move(out));
}

Value Interpreter::eval_binary(const Expr& e, const ScopePtr& scope) {
  const std::string& op = e.name;
  Value a = eval(*e.items[0], scope);
  if (op == "and") return a.truthy() ? eval(*e.items[1], scope) : a;
  if (op == "or") return a.truthy() ? a : eval(*e.items[1], scope);
  const Value b = eval(*e.items[1], scope);
  if (op == "==") return Value(a.equals(b));
  if (op == "!=") return Value(!a.equals(b));
  if (b.is_list()) count_steps(static_cast<int64_t>(b.list_data().items.size() / 16) + 1);
  if (op == "in") return Value(contains(b, a));
  if (op == "not in") return Value(!contains(b, a));
  if (op == "~") return concat(a, b);
  if (op == "<") return Value(compare_values(a, b, op) < 0);
  if (op == ">") return Value(compare_values(a, b, op) > 0);
  if (op == "<=") return Value(compare_values(a, b, op) <= 0);
  if (op == ">=") return Value(compare_values(a, b, op) >= 0);
  if (is_numberish(a) && is_numberish(b)) return arithmetic(op, a, b);
  if (op == "+") {
    if (a.is_list() && b.is_list()) {
      const auto& x = a.list_data().items;
      const auto& y = b.list_data().items;
      count_steps(static_cast<int64_t>(x.size() + y.size()));
      std::vector<Value> out;
      out.reserve(x.size() + y.size());
      out.insert(out.end(), x.begin(), x.end());
      out.insert(out.end(), y.begin(), y.end());
      return Value::list(std::move(out));
    }
    // llama.cpp concatenates when either side is a string, treating none/undefined as "".
    if (a.is_string() || b.is_string()) {
      if (a.is_undefined() || a.is_none()) a = Value("");
      return concat(a, (b.is_undefined() || b.is_none()) ? Value("") : b);
    }
  }
  if (op == "*" && (a.is_int() || b.is_int())) {
    const Value& seq = a.is_int() ? b : a;
    const int64_t n = std::max<int64_t>(0, (a.is_int() ? a : b).as_int());
    // The size is checked before anything is built; an empty sequence repeats to nothing
    // at once, however large the count.
    if (seq.is_string()) {
      const std::string& unit = seq.as_string();
      if (unit.empty() || n == 0) return Value("");
      size_t total = 0;
      if (__builtin_mul_overflow(unit.size(), static_cast<uint64_t>(n), &total)) total = SIZE_MAX;
      check_size(total);
      std::string out;
      out.reserve(total);
      for (int64_t i = 0; i < n; ++i) out += unit;
      add_work(total);
      return Value(std::move(out));
    }
    if (seq.is_list()) {
      const auto& items = seq.list_data().items;
      if (items.empty() || n == 0) return Value::list();
      int64_t total = 0;
      if (__builtin_mul_overflow(static_cast<int64_t>(items.size()), n, &total)) total = INT64_MAX;
      count_steps(total);
      check_size(static_cast<size_t>(total) * sizeof(Value));
      std::vector<Value> out;
      out.reserve(static_cast<size_t>(total));
      for (int64_t i = 0; i < n; ++i) out.insert(out.end(), items.begin(), items.end());
      return Value::list(std::move(out));
    }
  }
  if (op == "%" && a.is_string()) return Value(percent_format(*this, a.as_string(), b));
  if (a.is_undefined() || b.is_undefined()) {
    const Value& u = a.is_undefined() ? a : b;
    throw RenderError("cannot apply '" + op + "' to an undefined value" +
                      (u.undefined_hint().empty() ? std::string() : " ('" + u.undefined_hint() + "')"));
  }
  throw RenderError("unsupported operand types for '" + op + "': " + a.type_name() + " and " + b.type_name());
}

Value Interpreter::eval(const Expr& e, const ScopePtr& scope) {
  switch (e.kind) {
    case ExprKind::kLiteral:
      return e.literal;
    case ExprKind::kName:
      return lookup(scope, e.name);
    case ExprKind::kList:
    case ExprKind::kTuple: {
      std::vector<Value> items;
      items.reserve(e.items.size());
      for (const auto& it : e.items) items.push_back(eval(*it, scope));
      return e.kind == ExprKind::kList ? Value::list(std::move(items)) : Value::tuple(std::move(items));
    }
    case ExprKind::kDict: {
      Value d = Value::dict();
      for (size_t i = 0; i + 1 < e.items.size(); i += 2) {
        Value k = eval(*e.items[i], scope);
        d.dict_data().set(k, eval(*e.items[i + 1], scope));
      }
      return d;
    }
    case ExprKind::kAttr:
      return get_attr(eval(*e.items[0], scope), e.name);
    case ExprKind::kIndex: {
      const Value obj = eval(*e.items[0], scope);
      return get_item(obj, eval(*e.items[1], scope));
    }
    case ExprKind::kSlice:
      return eval_slice(e, scope);
    case ExprKind::kCall:
      return eval_call(e, scope);
    case ExprKind::kFilter: {
      const Value input = eval(*e.items[0], scope);
      CallArgs args = eval_args(e, 1, scope);
      return apply_filter(e.name, input, args);
    }
    case ExprKind::kTest: {
      const Value input = eval(*e.items[0], scope);
      CallArgs args = eval_args(e, 1, scope);
      const bool r = apply_test(e.name, input, args);
      return Value(e.negated ? !r : r);
    }
    case ExprKind::kUnary: {
      const Value v = eval(*e.items[0], scope);
      if (e.name == "not") return Value(!v.truthy());
      if (v.is_float()) return Value(e.name == "-" ? -v.as_double() : v.as_double());
      if (v.is_int() || v.is_bool()) return Value(e.name == "-" ? -v.as_int() : v.as_int());
      throw RenderError("unary '" + e.name + "' needs a number, got " + v.type_name());
    }
    case ExprKind::kBinary:
      return eval_binary(e, scope);
    case ExprKind::kCond:
      if (eval(*e.items[0], scope).truthy()) return eval(*e.items[1], scope);
      return e.items[2] ? eval(*e.items[2], scope) : Value::undefined();
  }
  return Value::undefined();
}

}  // namespace hangar::chat
