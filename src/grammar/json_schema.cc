// JSON schema compilation: keywords to grammar rules, with errors that name the keyword.
#include "grammar/json_schema.h"

#include <algorithm>
#include <functional>
#include <set>

#include "grammar/regex.h"

namespace hangar::grammar {
namespace {

using Seq = GrammarBuilder::Seq;

constexpr int kMaxDepth = 64;
constexpr int64_t kMaxCount = 1000;  // minItems/maxItems expand into that many rules

// Keywords that describe but do not constrain.
const std::set<std::string> kAnnotations = {
    "$schema", "$id", "$comment", "$defs", "definitions", "title", "description", "default", "examples",
    "deprecated", "readOnly", "writeOnly", "strict", "contentEncoding", "contentMediaType", "$anchor"};
const std::set<std::string> kKeywords = {
    "type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "properties", "required",
    "additionalProperties", "items", "prefixItems", "minItems", "maxItems", "minLength", "maxLength",
    "pattern", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"};

// Regular expressions of the formats we constrain; other formats are annotations.
const char* format_pattern(const std::string& format) {
  static const char kDate[] = "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])";
  static const char kTime[] = "([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]{1,6})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])";
  static const std::string kDateTime = std::string("^") + kDate + "T" + kTime + "$";
  static const std::string kDateOnly = std::string("^") + kDate + "$";
  static const std::string kTimeOnly = std::string("^") + kTime + "$";
  if (format == "date") return kDateOnly.c_str();
  if (format == "time") return kTimeOnly.c_str();
  if (format == "date-time") return kDateTime.c_str();
  if (format == "uuid") return "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
  return nullptr;
}

Error keyword_error(const std::string& path, const std::string& what) { return Error(path + ": " + what); }

bool is_object_schema(const Json& s) {
  return s.is_object() && (s.value("type", Json()) == "object" || s.contains("properties"));
}

std::string key_path(const std::string& path, const std::string& key) { return path + "/" + key; }

// Digits "0".."9" as one element each, lo..hi.
ByteSet digit_set(char lo, char hi) {
  ByteSet s;
  s.add_range(uint8_t(lo), uint8_t(hi));
  return s;
}

}  // namespace

uint32_t JsonGrammar::ws() {
  auto it = shared_.find("ws");
  if (it != shared_.end()) return it->second;
  ByteSet blank;
  blank.add(' ');
  blank.add('\t');
  const uint32_t indent = b_.repeat({b_.bytes(blank)}, 0, 20, "ws-indent");
  const uint32_t r = b_.choice({{}, {b_.byte(' ')}, {b_.byte('\n'), GrammarBuilder::ref(indent)}}, "ws");
  return shared_["ws"] = r;
}

uint32_t JsonGrammar::digits(int32_t min, int32_t max) {
  const std::string key = "digits" + std::to_string(min) + "," + std::to_string(max);
  auto it = shared_.find(key);
  if (it != shared_.end()) return it->second;
  return shared_[key] = b_.repeat({b_.bytes(digit_set('0', '9'))}, min, max, "digits");
}

uint32_t JsonGrammar::utf8_char() {
  auto it = shared_.find("utf8");
  if (it != shared_.end()) return it->second;
  return shared_["utf8"] = b_.choice({code_set_elems(b_, {{0x80, 0x10FFFF}})}, "non-ascii-char");
}

uint32_t JsonGrammar::literal(const Json& value, std::string_view name) {
  return b_.choice({b_.literal(value.dump())}, name);
}

uint32_t JsonGrammar::any_value() {
  auto it = shared_.find("value");
  if (it != shared_.end()) return it->second;
  const uint32_t value = b_.add_rule("value");
  shared_["value"] = value;
  const Elem w = GrammarBuilder::ref(ws());
  const Elem str = b_.string({});
  // object ::= "{" ws (kv ("," ws kv)*)? "}" with kv ::= string ws ":" ws value ws
  const Seq kv = {str, w, b_.byte(':'), w, GrammarBuilder::ref(value), w};
  const uint32_t more_kv = b_.repeat(concat({b_.byte(','), w}, kv), 0, -1, "object-more");
  const uint32_t object = b_.choice({concat({b_.byte('{'), w}, concat(kv, {GrammarBuilder::ref(more_kv), b_.byte('}')})),
                                     {b_.byte('{'), w, b_.byte('}')}},
                                    "object");
  const Seq item = {GrammarBuilder::ref(value), w};
  const uint32_t more_items = b_.repeat(concat({b_.byte(','), w}, item), 0, -1, "array-more");
  const uint32_t array = b_.choice({concat({b_.byte('['), w}, concat(item, {GrammarBuilder::ref(more_items), b_.byte(']')})),
                                    {b_.byte('['), w, b_.byte(']')}},
                                   "array");
  Result<uint32_t> number = number_rule(Json::object(), "#", "number");
  HANGAR_ASSERT(number.ok());
  b_.add_alt(value, {GrammarBuilder::ref(object)});
  b_.add_alt(value, {GrammarBuilder::ref(array)});
  b_.add_alt(value, {str});
  b_.add_alt(value, {GrammarBuilder::ref(*number)});
  b_.add_alt(value, b_.literal("true"));
  b_.add_alt(value, b_.literal("false"));
  b_.add_alt(value, b_.literal("null"));
  shared_["object"] = object;
  return value;
}

uint32_t JsonGrammar::any_object() {
  any_value();
  return shared_["object"];
}

uint32_t JsonGrammar::fixed_object(const std::vector<std::pair<std::string, uint32_t>>& fields, std::string_view name) {
  const Elem w = GrammarBuilder::ref(ws());
  Seq s = {b_.byte('{'), w};
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) s = concat(std::move(s), {b_.byte(','), w});
    s = concat(std::move(s), b_.literal(Json(fields[i].first).dump()));
    s = concat(std::move(s), {w, b_.byte(':'), w, GrammarBuilder::ref(fields[i].second), w});
  }
  s.push_back(b_.byte('}'));
  return b_.choice({s}, name);
}

Result<uint32_t> JsonGrammar::schema(const Json& schema, const Json& document) {
  const Json* saved = document_;
  document_ = &document;
  Result<uint32_t> r = compile(schema, "#", "root");
  document_ = saved;
  return r;
}

Result<uint32_t> JsonGrammar::compile(const Json& s, const std::string& path, std::string_view name) {
  if (depth_ >= kMaxDepth) return keyword_error(path, "the schema is nested too deeply");
  struct DepthGuard {
    int& d;
    explicit DepthGuard(int& depth) : d(depth) { ++d; }
    ~DepthGuard() { --d; }
  } guard(depth_);
  if (s.is_boolean()) {
    if (s.get<bool>()) return any_value();
    return keyword_error(path, "the schema false admits no value");
  }
  if (!s.is_object()) return keyword_error(path, "a schema must be an object or a boolean");
  for (auto it = s.begin(); it != s.end(); ++it)
    if (!kAnnotations.count(it.key()) && !kKeywords.count(it.key()))
      return keyword_error(path, "unsupported JSON schema keyword '" + it.key() + "'");
  auto siblings_only_annotations = [&](const char* keyword) -> Status {
    for (auto it = s.begin(); it != s.end(); ++it)
      if (it.key() != keyword && !kAnnotations.count(it.key()))
        return keyword_error(path, "'" + it.key() + "' beside '" + keyword + "' is not supported");
    return Status::Ok();
  };
  if (s.contains("$ref")) {
    HANGAR_TRY(siblings_only_annotations("$ref"));
    if (!s["$ref"].is_string()) return keyword_error(path, "'$ref' must be a string");
    return ref_rule(s["$ref"].get<std::string>(), key_path(path, "$ref"));
  }
  if (s.contains("const")) return literal(s["const"], std::string(name) + "-const");
  if (s.contains("enum")) {
    const Json& e = s["enum"];
    if (!e.is_array() || e.empty()) return keyword_error(path, "'enum' must be a non-empty array");
    std::vector<Seq> alts;
    for (const Json& v : e) alts.push_back(b_.literal(v.dump()));
    return b_.choice(alts, std::string(name) + "-enum");
  }
  if (s.contains("allOf")) {
    HANGAR_ASSIGN(Json merged, merge_all_of(s, path));
    return compile(merged, path, name);
  }
  for (const char* key : {"anyOf", "oneOf"}) {
    if (!s.contains(key)) continue;
    HANGAR_TRY(siblings_only_annotations(key));
    const Json& list = s[key];
    if (!list.is_array() || list.empty()) return keyword_error(path, std::string("'") + key + "' must be a non-empty array");
    // oneOf is taken as anyOf: a value matching two branches would be invalid, which
    // schemas written for generation do not have in practice.
    std::vector<Seq> alts;
    for (size_t i = 0; i < list.size(); ++i) {
      HANGAR_ASSIGN(uint32_t r, compile(list[i], key_path(path, std::string(key) + "/" + std::to_string(i)), name));
      alts.push_back({GrammarBuilder::ref(r)});
    }
    return b_.choice(alts, std::string(name) + "-" + key);
  }
  if (s.contains("type")) {
    const Json& t = s["type"];
    if (t.is_string()) return compile_typed(s, t.get<std::string>(), path, name);
    if (!t.is_array() || t.empty()) return keyword_error(path, "'type' must be a string or a non-empty array");
    std::vector<Seq> alts;
    for (const Json& one : t) {
      if (!one.is_string()) return keyword_error(path, "'type' entries must be strings");
      HANGAR_ASSIGN(uint32_t r, compile_typed(s, one.get<std::string>(), path, name));
      alts.push_back({GrammarBuilder::ref(r)});
    }
    return b_.choice(alts, std::string(name) + "-types");
  }
  // No type: what the keywords constrain tells it; with none, any value.
  auto has_any = [&](std::initializer_list<const char*> keys) {
    return std::any_of(keys.begin(), keys.end(), [&](const char* k) { return s.contains(k); });
  };
  if (has_any({"properties", "required", "additionalProperties"})) return compile_typed(s, "object", path, name);
  if (has_any({"items", "prefixItems", "minItems", "maxItems"})) return compile_typed(s, "array", path, name);
  if (has_any({"minLength", "maxLength", "pattern"})) return compile_typed(s, "string", path, name);
  if (has_any({"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}))
    return compile_typed(s, "number", path, name);
  return any_value();
}

Result<uint32_t> JsonGrammar::compile_typed(const Json& s, const std::string& type, const std::string& path,
                                            std::string_view name) {
  if (type == "object") return object_rule(s, path, name);
  if (type == "array") return array_rule(s, path, name);
  if (type == "string") return string_rule(s, path, name);
  if (type == "integer") return integer_rule(s, path, name);
  if (type == "number") return number_rule(s, path, name);
  if (type == "boolean") return b_.choice({b_.literal("true"), b_.literal("false")}, "boolean");
  if (type == "null") return b_.choice({b_.literal("null")}, "null");
  return keyword_error(path, "unknown type \"" + type + "\"");
}

Result<uint32_t> JsonGrammar::ref_rule(const std::string& ref, const std::string& path) {
  const auto key = std::make_pair(document_, ref);
  auto it = refs_.find(key);
  if (it != refs_.end()) return it->second;
  if (ref.empty() || ref[0] != '#')
    return keyword_error(path, "only local references (\"#/$defs/...\") are supported, got \"" + ref + "\"");
  const std::string pointer = ref.substr(1);
  if (!pointer.empty() && pointer[0] != '/') return keyword_error(path, "bad reference \"" + ref + "\"");
  const Json* target = nullptr;
  try {
    target = &document_->at(Json::json_pointer(pointer));
  } catch (const std::exception&) {
    target = nullptr;
  }
  if (target == nullptr) return keyword_error(path, "the reference \"" + ref + "\" does not resolve");
  const std::string rule_name = pointer.empty() ? "ref-root" : "ref" + pointer;
  const uint32_t rule = b_.add_rule(rule_name);
  refs_[key] = rule;  // before compiling: the target may refer to itself
  HANGAR_ASSIGN(uint32_t body, compile(*target, "#" + pointer, rule_name));
  b_.add_alt(rule, {GrammarBuilder::ref(body)});
  return rule;
}

Result<Json> JsonGrammar::merge_all_of(const Json& s, const std::string& path) {
  const Json& list = s["allOf"];
  if (!list.is_array() || list.empty()) return keyword_error(path, "'allOf' must be a non-empty array");
  Json merged = s;
  merged.erase("allOf");
  Json props = merged.value("properties", Json::object());
  Json required = merged.value("required", Json::array());
  for (size_t i = 0; i < list.size(); ++i) {
    const Json* part = &list[i];
    const std::string where = key_path(path, "allOf/" + std::to_string(i));
    if (part->is_object() && part->contains("$ref") && (*part)["$ref"].is_string()) {
      const std::string ref = (*part)["$ref"].get<std::string>();
      try {
        part = &document_->at(Json::json_pointer(ref.size() > 1 && ref[0] == '#' ? ref.substr(1) : "/?"));
      } catch (const std::exception&) {
        return keyword_error(where, "the reference \"" + ref + "\" does not resolve");
      }
    }
    if (!is_object_schema(*part)) return keyword_error(where, "'allOf' is supported for object schemas only");
    for (auto it = part->begin(); it != part->end(); ++it) {
      if (it.key() == "properties") {
        for (auto p = it->begin(); p != it->end(); ++p) props[p.key()] = p.value();
      } else if (it.key() == "required") {
        for (const Json& r : *it) required.push_back(r);
      } else if (it.key() != "type" && !kAnnotations.count(it.key())) {
        return keyword_error(where, "'" + it.key() + "' inside 'allOf' is not supported");
      }
    }
  }
  merged["type"] = "object";
  merged["properties"] = props;
  merged["required"] = required;
  return merged;
}

Result<uint32_t> JsonGrammar::object_rule(const Json& s, const std::string& path, std::string_view name) {
  const Json props = s.value("properties", Json::object());
  if (!props.is_object()) return keyword_error(path, "'properties' must be an object");
  std::set<std::string> required;
  if (s.contains("required")) {
    if (!s["required"].is_array()) return keyword_error(path, "'required' must be an array of strings");
    for (const Json& r : s["required"]) {
      if (!r.is_string()) return keyword_error(path, "'required' must be an array of strings");
      required.insert(r.get<std::string>());
    }
  }
  const Json additional = s.value("additionalProperties", Json(false));
  const bool extra = !(additional.is_boolean() && !additional.get<bool>());
  struct Prop {
    std::string name;
    uint32_t rule;
    bool required;
  };
  std::vector<Prop> list;
  std::vector<std::string> names;
  for (auto it = props.begin(); it != props.end(); ++it) {
    HANGAR_ASSIGN(uint32_t r, compile(it.value(), key_path(path, "properties/" + it.key()), it.key()));
    list.push_back({it.key(), r, required.count(it.key()) > 0});
    names.push_back(it.key());
  }
  uint32_t extra_value = 0;
  if (extra) {
    HANGAR_ASSIGN(extra_value, compile(additional, key_path(path, "additionalProperties"), "additional"));
  }
  for (const std::string& r : required) {
    if (props.contains(r)) continue;
    if (!extra)
      return keyword_error(path, "required property '" + r + "' is not in 'properties' and additionalProperties is false");
    list.push_back({r, extra_value, true});
    names.push_back(r);
  }
  const Elem w = GrammarBuilder::ref(ws());
  // tail[i][first]: properties i.. of the object; `first`: no property was written yet, so no
  // comma comes before the next one.
  const size_t n = list.size();
  std::vector<std::array<uint32_t, 2>> tail(n + 1);
  for (size_t i = 0; i <= n; ++i)
    for (int first = 0; first < 2; ++first) tail[i][first] = b_.add_rule(std::string(name) + "-tail");
  auto sep = [&](int first) { return first ? Seq{} : Seq{b_.byte(','), w}; };
  if (extra) {
    HANGAR_ASSIGN(uint32_t key, key_not_in(names, path));
    const Seq kv = {GrammarBuilder::ref(key), w, b_.byte(':'), w, GrammarBuilder::ref(extra_value), w};
    for (int first = 0; first < 2; ++first) {
      b_.add_alt(tail[n][first], {});
      b_.add_alt(tail[n][first], concat(concat(sep(first), kv), {GrammarBuilder::ref(tail[n][0])}));
    }
  } else {
    for (int first = 0; first < 2; ++first) b_.add_alt(tail[n][first], {});
  }
  for (size_t i = n; i-- > 0;) {
    const Seq kv = concat(b_.literal(Json(list[i].name).dump()),
                          {w, b_.byte(':'), w, GrammarBuilder::ref(list[i].rule), w});
    for (int first = 0; first < 2; ++first) {
      b_.add_alt(tail[i][first], concat(concat(sep(first), kv), {GrammarBuilder::ref(tail[i + 1][0])}));
      if (!list[i].required) b_.add_alt(tail[i][first], {GrammarBuilder::ref(tail[i + 1][first])});
    }
  }
  return b_.choice({{b_.byte('{'), w, GrammarBuilder::ref(tail[0][1]), b_.byte('}')}}, name);
}

Result<uint32_t> JsonGrammar::key_not_in(const std::vector<std::string>& keys, const std::string& path) {
  for (const std::string& k : keys)
    for (unsigned char c : k)
      if (c < 0x20 || c >= 0x7F || c == '"' || c == '\\')
        return keyword_error(path, "additionalProperties beside a property name with non-ASCII, quote, backslash "
                                   "or control characters is not supported");
  // key(K) after the opening quote: close unless "" is in K; a byte no key starts with, then
  // any string; or a byte some keys start with, then key(those keys' rests). Raw characters
  // only, so a key cannot be spelled another way with escapes.
  const Elem rest_any = b_.string({0, -1, false, false});
  const Elem non_ascii = GrammarBuilder::ref(utf8_char());
  std::function<uint32_t(const std::vector<std::string>&)> build = [&](const std::vector<std::string>& set) {
    const uint32_t rule = b_.add_rule("key-not-in");
    ByteSet firsts, other;
    bool has_empty = false;
    for (const std::string& k : set) {
      if (k.empty()) has_empty = true;
      else firsts.add(static_cast<uint8_t>(k[0]));
    }
    if (!has_empty) b_.add_alt(rule, {b_.byte('"')});
    for (int c = 0x20; c < 0x80; ++c)
      if (c != '"' && c != '\\' && !firsts.has(uint8_t(c))) other.add(uint8_t(c));
    if (!other.empty()) b_.add_alt(rule, {b_.bytes(other), rest_any});
    b_.add_alt(rule, {non_ascii, rest_any});
    for (int c = 0x20; c < 0x80; ++c) {
      if (!firsts.has(uint8_t(c))) continue;
      std::vector<std::string> rests;
      for (const std::string& k : set)
        if (!k.empty() && static_cast<uint8_t>(k[0]) == c) rests.push_back(k.substr(1));
      b_.add_alt(rule, {b_.byte(uint8_t(c)), GrammarBuilder::ref(build(rests))});
    }
    return rule;
  };
  const uint32_t body = build(keys);
  return b_.choice({{b_.byte('"'), GrammarBuilder::ref(body)}}, "extra-key");
}

Result<uint32_t> JsonGrammar::array_rule(const Json& s, const std::string& path, std::string_view name) {
  int64_t min = 0, max = -1;
  for (const auto& [key, out] : {std::pair<const char*, int64_t*>{"minItems", &min}, {"maxItems", &max}}) {
    if (!s.contains(key)) continue;
    if (!s[key].is_number_integer() || s[key].get<int64_t>() < 0)
      return keyword_error(path, std::string("'") + key + "' must be a non-negative integer");
    *out = s[key].get<int64_t>();
    if (*out > kMaxCount)
      return keyword_error(path, std::string("'") + key + "' above " + std::to_string(kMaxCount) + " is not supported");
  }
  if (max >= 0 && max < min) return keyword_error(path, "'maxItems' is below 'minItems'");
  const Elem w = GrammarBuilder::ref(ws());
  std::vector<uint32_t> prefix;
  if (s.contains("prefixItems")) {
    const Json& p = s["prefixItems"];
    if (!p.is_array()) return keyword_error(path, "'prefixItems' must be an array");
    for (size_t i = 0; i < p.size(); ++i) {
      HANGAR_ASSIGN(uint32_t r, compile(p[i], key_path(path, "prefixItems/" + std::to_string(i)), name));
      prefix.push_back(r);
    }
  }
  // The schema of items after the prefix; none when `items` is false, or absent beside
  // prefixItems (a tuple).
  bool more = true;
  uint32_t item = 0;
  if (s.contains("items") && !(s["items"].is_boolean() && !s["items"].get<bool>())) {
    HANGAR_ASSIGN(item, compile(s["items"], key_path(path, "items"), std::string(name) + "-item"));
  } else if (s.contains("items") || !prefix.empty()) {
    more = false;
  } else {
    item = any_value();
  }
  const int64_t n_prefix = static_cast<int64_t>(prefix.size());
  if (!more) max = max < 0 ? n_prefix : std::min(max, n_prefix);
  if (min > (max < 0 ? INT64_MAX : max)) return keyword_error(path, "'minItems' cannot be met by the items allowed");
  // Element k (0-based) of the array: prefix[k] or the item schema.
  auto elem_rule = [&](int64_t k) { return k < n_prefix ? prefix[k] : item; };
  // from(k): elements k.. with a comma before each; at least `min` elements in all.
  // Built from the back: positions past the prefix share one repeat rule.
  const int64_t limit = max < 0 ? std::max({min, n_prefix, int64_t{1}}) : max;
  uint32_t next = UINT32_MAX;  // from(limit)
  if (max < 0) {
    const Seq more_item = {b_.byte(','), w, GrammarBuilder::ref(item), w};
    next = b_.repeat(more_item, 0, -1, std::string(name) + "-more");
  }
  for (int64_t k = limit - 1; k >= 1; --k) {
    const uint32_t r = b_.add_rule(std::string(name) + "-from");
    Seq s1 = {b_.byte(','), w, GrammarBuilder::ref(elem_rule(k)), w};
    if (next != UINT32_MAX) s1.push_back(GrammarBuilder::ref(next));
    b_.add_alt(r, s1);
    if (k >= min) b_.add_alt(r, {});
    next = r;
  }
  std::vector<Seq> alts;
  if (min == 0) alts.push_back({b_.byte('['), w, b_.byte(']')});
  if (limit > 0) {
    Seq first = {b_.byte('['), w, GrammarBuilder::ref(elem_rule(0)), w};
    if (next != UINT32_MAX) first.push_back(GrammarBuilder::ref(next));
    first.push_back(b_.byte(']'));
    alts.push_back(std::move(first));
  }
  return b_.choice(alts, name);
}

Result<uint32_t> JsonGrammar::string_rule(const Json& s, const std::string& path, std::string_view name) {
  StringSpec spec;
  for (const auto& [key, out] :
       {std::pair<const char*, int32_t*>{"minLength", &spec.min_chars}, {"maxLength", &spec.max_chars}}) {
    if (!s.contains(key)) continue;
    if (!s[key].is_number_integer() || s[key].get<int64_t>() < 0 || s[key].get<int64_t>() > (1 << 24))
      return keyword_error(path, std::string("'") + key + "' must be a non-negative integer");
    *out = static_cast<int32_t>(s[key].get<int64_t>());
  }
  if (spec.max_chars >= 0 && spec.max_chars < spec.min_chars)
    return keyword_error(path, "'maxLength' is below 'minLength'");
  const char* pattern = nullptr;
  std::string pattern_key;
  if (s.contains("pattern")) {
    if (!s["pattern"].is_string()) return keyword_error(path, "'pattern' must be a string");
    pattern_key = "pattern";
  } else if (s.contains("format") && s["format"].is_string()) {
    pattern = format_pattern(s["format"].get<std::string>());
    if (pattern) pattern_key = "format";
  }
  if (pattern_key.empty()) return b_.choice({{b_.string(spec)}}, name);
  if (s.contains("minLength") || s.contains("maxLength"))
    return keyword_error(path, "'minLength'/'maxLength' beside '" + pattern_key + "' is not supported");
  const std::string regex = pattern ? std::string(pattern) : s["pattern"].get<std::string>();
  Result<Seq> body = regex_to_grammar(b_, regex);
  if (!body.ok()) return keyword_error(key_path(path, pattern_key), body.error().message());
  return b_.choice({concat(concat({b_.byte('"')}, *body), {b_.byte('"')})}, name);
}

}  // namespace hangar::grammar
