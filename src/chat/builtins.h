// Builtin filters, tests, methods of str/list/dict, and global functions (range, namespace...).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "chat/value.h"

namespace hangar::chat {

using FilterFn = Value (*)(Interpreter&, const Value& input, CallArgs& args);
using TestFn = bool (*)(Interpreter&, const Value& input, CallArgs& args);

// Returns nullptr when no filter/test has that name.
FilterFn find_filter(std::string_view name);
TestFn find_test(std::string_view name);

// True when `obj` has a builtin method `name` (str.strip, list.append, dict.items, ...).
bool has_method(const Value& obj, std::string_view name);
// Calls method `name` of `obj`; has_method(obj, name) must hold.
Value call_method(Interpreter& in, const Value& obj, const std::string& name, CallArgs& args);

// Global functions every template sees: range, namespace, dict, raise_exception, zip, cycler,
// joiner. Returns nullopt when `name` is none of them.
std::optional<Value> find_global_function(std::string_view name);

// Binds CallArgs to named parameters like a Python signature; throws RenderError naming
// the function on unknown keywords or too many positionals.
class ArgBinder {
 public:
  ArgBinder(const std::string& fn, CallArgs& args, std::initializer_list<const char*> names);
  // The bound value, or undefined when the caller passed nothing for it.
  const Value& get(size_t i) const { return values_[i]; }
  bool has(size_t i) const { return !values_[i].is_undefined(); }
  int64_t get_int(size_t i, int64_t fallback) const;
  bool get_bool(size_t i, bool fallback) const;
  // The argument as a string; throws unless it is one (or absent, giving fallback).
  std::string get_string(size_t i, const std::string& fallback) const;
  std::optional<std::string> get_optional_string(size_t i) const;
  const std::string& fn() const { return fn_; }

 private:
  std::string fn_;
  std::vector<std::string> names_;
  std::vector<Value> values_;
};

// Python-style sequence view used by filters: list items, dict keys, string code points.
// Throws RenderError for values that cannot be iterated.
std::vector<Value> iterate_value(const Value& v, const std::string& what);

// Python < for sorting: numbers, strings, lists; throws RenderError across other types.
bool value_less(const Value& a, const Value& b);

// printf-style formatting used by `%` on strings and the `format` filter.
std::string percent_format(Interpreter& in, const std::string& fmt, const Value& args);

}  // namespace hangar::chat
