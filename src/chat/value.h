// Value: the dynamically typed value a chat template computes with (Python/Jinja2 semantics).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

namespace hangar::chat {

class Value;
class Interpreter;
class MemoryMeter;

// The bytes one string, list or dict holds, charged to the memory meter of the render that
// made or grew it (render_budget.h) and given back when it is destroyed.
struct MeterCharge {
  std::shared_ptr<MemoryMeter> meter;
  size_t bytes = 0;
  // Charges the current render, if any, so the total becomes `target` bytes; throws
  // RenderError past the render's memory budget.
  void sync(size_t target);
  MeterCharge() = default;
  MeterCharge(const MeterCharge&) = delete;
  MeterCharge& operator=(const MeterCharge&) = delete;
  ~MeterCharge();
};

// Arguments of a call: positional first, then keyword arguments in source order.
struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

// A callable value: a builtin, a bound method or a template macro. `fn` throws RenderError
// (interpreter.h) on bad arguments; it runs on the rendering thread only. Macros refer to
// the interpreter and template that made them: they are valid only during that render.
struct Function {
  std::string name;
  std::function<Value(Interpreter&, CallArgs&)> fn;
};

struct ListData;
struct DictData;

// A template value with Python reference semantics: lists and dicts are shared, so
// `ns.items.append(x)` is visible through every reference, as in Jinja2. Strings are
// immutable and shared too, so copying any Value is cheap (at most a reference count).
// Not thread-safe: a Value graph belongs to one render.
class Value {
 public:
  enum class Type : uint8_t { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kFunction };

  Value() : v_(Undefined{}) {}
  static Value undefined(std::string hint = {}) { return Value(Undefined{std::move(hint)}); }
  static Value none() { return Value(None{}); }
  Value(bool b) : v_(b) {}                           // NOLINT: implicit by design
  Value(int v) : v_(static_cast<int64_t>(v)) {}      // NOLINT
  Value(int64_t v) : v_(v) {}                        // NOLINT
  Value(double v) : v_(v) {}                         // NOLINT
  // Strings made during a render are charged to its memory budget (and may throw RenderError).
  Value(std::string s);                                // NOLINT
  Value(std::string_view s) : Value(std::string(s)) {}  // NOLINT
  Value(const char* s) : Value(std::string(s)) {}       // NOLINT
  static Value list(std::vector<Value> items = {});
  static Value tuple(std::vector<Value> items);
  static Value dict();
  static Value namespace_object();  // Jinja2 namespace(): attributes are assignable
  static Value function(std::string name, std::function<Value(Interpreter&, CallArgs&)> fn);

  Type type() const { return static_cast<Type>(v_.index()); }
  bool is_undefined() const { return type() == Type::kUndefined; }
  bool is_none() const { return type() == Type::kNone; }
  bool is_bool() const { return type() == Type::kBool; }
  bool is_int() const { return type() == Type::kInt; }
  bool is_float() const { return type() == Type::kFloat; }
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return type() == Type::kString; }
  bool is_list() const { return type() == Type::kList; }
  bool is_dict() const { return type() == Type::kDict; }
  bool is_function() const { return type() == Type::kFunction; }
  bool is_namespace() const;
  bool is_tuple() const;

  // Accessors; calling the wrong one is a bug (ASSERT).
  bool as_bool() const;
  int64_t as_int() const;    // also accepts bool
  double as_double() const;  // int, float or bool
  const std::string& as_string() const;
  ListData& list_data() const;
  DictData& dict_data() const;
  const Function& function_data() const;
  const std::string& undefined_hint() const;

  // Python truthiness.
  bool truthy() const;
  // Python str(): what `{{ x }}` prints. Undefined prints as "", None as "None".
  // Throws RenderError on structures nested deeper than kMaxDepth (cyclic lists).
  std::string str() const;
  // Python repr(): strings quoted, used inside printed lists and dicts.
  std::string repr() const;
  // Short type name for error messages ("string", "list", ...).
  std::string type_name() const;

  // Python ==: numbers compare by value across int/float/bool, containers deeply.
  bool equals(const Value& other) const;

  static constexpr int kMaxDepth = 128;

  // When this is the last reference to a list or dict, moves its elements into `out`, so a
  // deep chain of containers is freed by a loop instead of one destructor per level.
  void take_children(std::vector<Value>& out);

 private:

  struct Undefined {
    std::string hint;  // names what was missing, for error messages
  };
  struct None {};
  struct StringData {
    std::string text;
    MeterCharge charge;
  };
  using Storage = std::variant<Undefined, None, bool, int64_t, double, std::shared_ptr<const StringData>,
                               std::shared_ptr<ListData>, std::shared_ptr<DictData>, std::shared_ptr<const Function>>;
  explicit Value(Storage v) : v_(std::move(v)) {}
  void append_str(std::string& out, bool as_repr, int depth) const;
  bool equals_depth(const Value& other, int depth) const;

  Storage v_;
};

struct ListData {
  ListData() = default;
  ListData(const ListData&) = delete;
  ListData& operator=(const ListData&) = delete;
  ~ListData();
  std::vector<Value> items;
  bool is_tuple = false;  // only changes how it prints: (a, b)
  MeterCharge charge;
  // Brings the charge up to date after `items` grew; throws past the memory budget.
  void sync_charge();
};

// An insertion-ordered dict keyed by hashable values (strings, numbers, bools, none).
struct DictData {
  DictData() = default;
  DictData(const DictData&) = delete;
  DictData& operator=(const DictData&) = delete;
  ~DictData();
  // Returns nullptr when the key is absent. Throws RenderError for unhashable keys.
  const Value* find(const Value& key) const;
  Value* find(const Value& key);
  const Value* find_str(std::string_view key) const;
  void set(const Value& key, Value value);
  // Removes the key; returns false when absent.
  bool erase(const Value& key);
  size_t size() const { return entries.size(); }

  std::vector<std::pair<Value, Value>> entries;
  bool is_namespace = false;
  MeterCharge charge;
  // Brings the charge up to date after entries were added; set() calls it itself.
  void sync_charge();
  // Removes every entry.
  void clear();

 private:
  static constexpr size_t kNpos = static_cast<size_t>(-1);
  static constexpr size_t kIndexThreshold = 8;
  static void check_hashable(const Value& key);
  static bool same_key(const Value& a, const Value& b);
  static std::string hash_key(const Value& key);
  size_t find_pos(const Value& key) const;
  // Built once the dict grows past kIndexThreshold entries; key -> position in entries.
  std::unordered_map<std::string, size_t> index_;
};

// True when storing `inserted` inside `container` (a list or dict) would make a reference
// cycle, i.e. `inserted` is `container` or reaches it. Templates are refused such inserts:
// shared_ptr cycles would leak and could never print.
bool would_create_cycle(const Value& container, const Value& inserted);

// Converts parsed JSON (objects keep their key order when given ordered_json).
Value value_from_json(const nlohmann::json& j);
Value value_from_json(const nlohmann::ordered_json& j);

// Serialises like Python's json.dumps as HF transformers' tojson does: separators ", " and
// ": " without indent, "," and ": " with one; indent < 0 means none; ensure_ascii escapes
// non-ASCII as \uXXXX. Throws RenderError for values JSON cannot hold (undefined,
// functions) or cycles.
struct JsonSeparators {
  std::string item = ", ";
  std::string key = ": ";
};
std::string value_to_json(const Value& v, int indent = -1, bool ensure_ascii = false);
// As above with explicit separators (Python's separators=(item, key)).
std::string value_to_json(const Value& v, int indent, bool ensure_ascii, const JsonSeparators& seps);

// Python float repr: shortest round-trip digits, "1.0", "1e-05", "1e+16", "inf", "nan".
std::string format_python_float(double d);

}  // namespace hangar::chat
