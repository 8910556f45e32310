// Value: construction, Python truthiness/str/repr/equality, and insertion-ordered dicts.
#include "chat/value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <unordered_set>

#include "base/assert.h"
#include "chat/render_budget.h"
#include "chat/render_error.h"

namespace hangar::chat {
namespace {

// Heap overhead charged per string, list and dict besides their payload (allocation headers,
// the shared control block), so a flood of tiny values is charged too.
constexpr size_t kValueOverhead = 64;
// Per dict entry: the pair in `entries` plus its index node once the dict is indexed.
constexpr size_t kDictEntryBytes = sizeof(std::pair<Value, Value>) + 64;

}  // namespace

void MeterCharge::sync(size_t target) {
  if (target <= bytes) return;
  RenderBudget* budget = RenderBudget::current();
  if (budget == nullptr) return;  // built outside a render: inputs, not the template's doing
  if (meter == nullptr) {
    meter = budget->meter();
  } else if (meter != budget->meter()) {
    return;  // charged by an earlier render; its growth here is still bounded by steps
  }
  meter->charge(target - bytes);
  bytes = target;
}

MeterCharge::~MeterCharge() {
  if (meter != nullptr) meter->release(bytes);
}

Value::Value(std::string s) {
  auto data = std::make_shared<StringData>();
  // Charged before it is stored, so a string over budget is never kept.
  data->charge.sync(s.capacity() + kValueOverhead);
  data->text = std::move(s);
  v_ = std::shared_ptr<const StringData>(std::move(data));
}

namespace {

bool is_container(const Value& v) { return v.is_list() || v.is_dict(); }

// Frees `pending` and everything only it holds without recursing per nesting level: a
// template can build a list nested a million deep, whose recursive destruction would
// overflow the stack.
void free_iteratively(std::vector<Value>& pending) {
  while (!pending.empty()) {
    Value v = std::move(pending.back());
    pending.pop_back();
    v.take_children(pending);
  }
}

}  // namespace

void Value::take_children(std::vector<Value>& out) {
  if (auto* l = std::get_if<std::shared_ptr<ListData>>(&v_)) {
    if (l->use_count() != 1) return;
    for (auto& x : (*l)->items) out.push_back(std::move(x));
    (*l)->items.clear();
  } else if (auto* d = std::get_if<std::shared_ptr<DictData>>(&v_)) {
    if (d->use_count() != 1) return;
    for (auto& [k, x] : (*d)->entries) {
      out.push_back(std::move(k));
      out.push_back(std::move(x));
    }
    (*d)->clear();
  }
}

ListData::~ListData() {
  if (std::none_of(items.begin(), items.end(), is_container)) return;
  std::vector<Value> pending = std::move(items);
  free_iteratively(pending);
}

DictData::~DictData() {
  if (std::none_of(entries.begin(), entries.end(),
                   [](const auto& e) { return is_container(e.first) || is_container(e.second); })) {
    return;
  }
  std::vector<Value> pending;
  for (auto& [k, x] : entries) {
    pending.push_back(std::move(k));
    pending.push_back(std::move(x));
  }
  entries.clear();
  index_.clear();
  free_iteratively(pending);
}

void ListData::sync_charge() { charge.sync(items.capacity() * sizeof(Value) + kValueOverhead); }

void DictData::sync_charge() { charge.sync(entries.capacity() * kDictEntryBytes + kValueOverhead); }

Value Value::list(std::vector<Value> items) {
  auto data = std::make_shared<ListData>();
  data->items = std::move(items);
  data->sync_charge();
  return Value(Storage(std::move(data)));
}

Value Value::tuple(std::vector<Value> items) {
  auto data = std::make_shared<ListData>();
  data->items = std::move(items);
  data->is_tuple = true;
  data->sync_charge();
  return Value(Storage(std::move(data)));
}

Value Value::dict() {
  auto data = std::make_shared<DictData>();
  data->sync_charge();
  return Value(Storage(std::move(data)));
}

Value Value::namespace_object() {
  auto data = std::make_shared<DictData>();
  data->is_namespace = true;
  data->sync_charge();
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
  return std::get<std::shared_ptr<const StringData>>(v_)->text;
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
  // A list holding the same list twice, nested, prints exponentially long: the text is
  // checked against the render's memory as it grows.
  if (RenderBudget* budget = RenderBudget::current()) {
    budget->add_work(1);
    budget->reserve(out.size());
  }
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
      note_render_work(as_string().size());
      if (as_repr) {
        reserve_render_memory(out.size() + 4 * as_string().size());
        append_py_repr_string(out, as_string());
      } else {
        reserve_render_memory(out.size() + as_string().size());
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
  note_render_work(1);  // shared sublists make comparisons exponential; the clock bounds them
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
      note_render_work(as_string().size());
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
  sync_charge();
}

void DictData::clear() {
  entries.clear();
  index_.clear();
}

bool DictData::erase(const Value& key) {
  const size_t pos = find_pos(key);
  if (pos == kNpos) return false;
  entries.erase(entries.begin() + static_cast<std::ptrdiff_t>(pos));
  note_render_work(entries.size());  // the shift and the index rebuild
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

bool reaches(const Value& v, const void* target, std::unordered_set<const void*>& seen, int depth) {
  const void* id = container_id(v);
  if (id == nullptr) return false;
  if (id == target) return true;
  if (depth > Value::kMaxDepth) throw RenderError("value nested too deeply");
  if (!seen.insert(id).second) return false;
  note_render_work(1);
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
  std::unordered_set<const void*> seen;
  return reaches(inserted, target, seen, 0);
}

}  // namespace hangar::chat
