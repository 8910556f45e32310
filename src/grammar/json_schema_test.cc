// JSON schema grammars: sampled outputs of schemas of increasing difficulty parse and validate.
#include "grammar/json_schema.h"

#include <gtest/gtest.h>

#include <functional>
#include <regex>
#include <set>

#include "grammar/grammar_test_util.h"

namespace hangar::grammar {
namespace {

using json = nlohmann::ordered_json;

size_t code_points(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// Parses `text` strictly (no duplicate keys anywhere); null on failure.
std::optional<json> parse_strict(const std::string& text) {
  struct Sax : nlohmann::json_sax<json> {
    std::vector<std::set<std::string>> keys;
    bool duplicate = false;
    bool null() override { return true; }
    bool boolean(bool) override { return true; }
    bool number_integer(number_integer_t) override { return true; }
    bool number_unsigned(number_unsigned_t) override { return true; }
    bool number_float(number_float_t, const string_t&) override { return true; }
    bool string(string_t&) override { return true; }
    bool binary(binary_t&) override { return true; }
    bool start_object(std::size_t) override { keys.emplace_back(); return true; }
    bool key(string_t& k) override { duplicate |= !keys.back().insert(k).second; return true; }
    bool end_object() override { keys.pop_back(); return true; }
    bool start_array(std::size_t) override { return true; }
    bool end_array() override { return true; }
    bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }
  } sax;
  if (!json::sax_parse(text, &sax) || sax.duplicate) return std::nullopt;
  return json::parse(text);
}

struct Case {
  const char* name;
  const char* schema;
  std::function<bool(const json&)> valid;
};

bool is_int_in(const json& v, int64_t lo, int64_t hi) {
  return v.is_number_integer() && v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
}

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      {"boolean", R"({"type": "boolean"})", [](const json& v) { return v.is_boolean(); }},
      {"integer range", R"({"type": "integer", "minimum": -20, "maximum": 1234})",
       [](const json& v) { return is_int_in(v, -20, 1234); }},
      {"negative range", R"({"type": "integer", "minimum": -1000000, "maximum": -37})",
       [](const json& v) { return is_int_in(v, -1000000, -37); }},
      {"string length", R"({"type": "string", "minLength": 2, "maxLength": 5})",
       [](const json& v) { return v.is_string() && code_points(v) >= 2 && code_points(v) <= 5; }},
      {"enum", R"({"enum": ["red", "green", 3, null, {"a": [1]}]})",
       [](const json& v) {
         return v == "red" || v == "green" || v == 3 || v.is_null() || v == json::parse(R"({"a": [1]})");
       }},
      {"array bounds", R"({"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": 9}, "minItems": 2, "maxItems": 4})",
       [](const json& v) {
         if (!v.is_array() || v.size() < 2 || v.size() > 4) return false;
         for (const auto& x : v) if (!is_int_in(x, 0, 9)) return false;
         return true;
       }},
      {"tuple", R"({"type": "array", "prefixItems": [{"enum": ["x", "y"]}, {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10}], "minItems": 1})",
       [](const json& v) {
         if (!v.is_array() || v.empty() || v.size() > 2) return false;
         if (v[0] != "x" && v[0] != "y") return false;
         return v.size() == 1 || is_int_in(v[1], 1, 9);
       }},
      {"object", R"({"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}, "age": {"type": "integer", "minimum": 0, "maximum": 150}, "email": {"type": "string", "format": "email"}}, "required": ["name", "age"]})",
       [](const json& v) {
         if (!v.is_object() || !v.contains("name") || !v.contains("age")) return false;
         for (auto it = v.begin(); it != v.end(); ++it)
           if (it.key() != "name" && it.key() != "age" && it.key() != "email") return false;
         return v["name"].is_string() && code_points(v["name"]) <= 10 && is_int_in(v["age"], 0, 150) &&
                (!v.contains("email") || v["email"].is_string());
       }},
      {"nested", R"({"type": "object", "properties": {"person": {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]{1,5}$"}, "maxItems": 3}, "kind": {"const": "user"}}, "required": ["tags", "kind"]}, "score": {"type": "number"}}, "required": ["person"]})",
       [](const json& v) {
         if (!v.is_object() || v.size() > 2 || !v.contains("person")) return false;
         if (v.contains("score") && !v["score"].is_number()) return false;
         const json& p = v["person"];
         if (!p.is_object() || p.size() != 2 || p["kind"] != "user" || !p["tags"].is_array() || p["tags"].size() > 3) return false;
         for (const auto& t : p["tags"])
           if (!t.is_string() || !std::regex_match(t.get<std::string>(), std::regex("[a-z]{1,5}"))) return false;
         return true;
       }},
      {"anyOf", R"({"anyOf": [{"type": "string", "maxLength": 3}, {"type": "integer"}, {"type": "array", "items": {"type": "boolean"}, "maxItems": 2}]})",
       [](const json& v) {
         if (v.is_string()) return code_points(v) <= 3;
         if (v.is_number_integer()) return true;
         if (!v.is_array() || v.size() > 2) return false;
         for (const auto& x : v) if (!x.is_boolean()) return false;
         return true;
       }},
      {"recursive $ref", R"({"$defs": {"node": {"type": "object", "properties": {"value": {"type": "integer"}, "children": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2}}, "required": ["value"]}}, "$ref": "#/$defs/node"})",
       [](const json& v) {
         std::function<bool(const json&)> node = [&](const json& n) {
           if (!n.is_object() || !n.contains("value") || !n["value"].is_number_integer()) return false;
           for (auto it = n.begin(); it != n.end(); ++it)
             if (it.key() != "value" && it.key() != "children") return false;
           if (!n.contains("children")) return true;
           if (!n["children"].is_array() || n["children"].size() > 2) return false;
           for (const auto& c : n["children"]) if (!node(c)) return false;
           return true;
         };
         return node(v);
       }},
      {"additionalProperties", R"({"type": "object", "properties": {"a": {"type": "integer"}, "ab": {"type": "boolean"}}, "additionalProperties": {"type": "string", "maxLength": 4}})",
       [](const json& v) {
         if (!v.is_object()) return false;
         for (auto it = v.begin(); it != v.end(); ++it) {
           if (it.key() == "a") { if (!it->is_number_integer()) return false; }
           else if (it.key() == "ab") { if (!it->is_boolean()) return false; }
           else if (!it->is_string() || code_points(*it) > 4) return false;
         }
         return true;
       }},
      {"formats", R"({"type": "object", "properties": {"when": {"type": "string", "format": "date-time"}, "id": {"type": "string", "format": "uuid"}}, "required": ["when", "id"]})",
       [](const json& v) {
         static const std::regex when("\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?(Z|[+-]\\d\\d:\\d\\d)");
         static const std::regex id("[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}");
         return v.is_object() && v.size() == 2 && std::regex_match(v["when"].get<std::string>(), when) &&
                std::regex_match(v["id"].get<std::string>(), id);
       }},
      {"nullable union", R"({"type": ["string", "null"], "maxLength": 2})",
       [](const json& v) { return v.is_null() || (v.is_string() && code_points(v) <= 2); }},
  };
  return all;
}

TEST(JsonSchema, EverySampledOutputParsesAndValidates) {
  for (const Case& c : cases()) {
    Result<Grammar> g = compile_json_schema(json::parse(c.schema));
    ASSERT_TRUE(g.ok()) << c.name << ": " << g.error().message();
    auto con = testing::constraint(*g);
    int n = 0;
    for (uint64_t seed : {1u, 2u})
      for (float temperature : {0.0f, 0.5f, 1.0f, 3.0f}) {
        testing::Sampled s = testing::sample(con, seed * 7919 + n++, temperature);
        ASSERT_TRUE(s.finished) << c.name << " did not finish: " << s.text;
        std::optional<json> v = parse_strict(s.text);
        ASSERT_TRUE(v.has_value()) << c.name << " does not parse: " << s.text;
        EXPECT_TRUE(c.valid(*v)) << c.name << " does not validate: " << s.text;
      }
  }
}

TEST(JsonSchema, AnyObjectOutputsParse) {
  auto con = testing::constraint(any_json_object_grammar());
  for (uint64_t seed = 0; seed < 6; ++seed) {
    testing::Sampled s = testing::sample(con, seed, seed % 2 ? 1.0f : 2.0f, 9.0f);
    ASSERT_TRUE(s.finished) << s.text;
    std::optional<json> v = parse_strict(s.text);
    ASSERT_TRUE(v.has_value()) << s.text;
    EXPECT_TRUE(v->is_object()) << s.text;
  }
}

TEST(JsonSchema, ValidTextsMatchAndInvalidOnesDoNot) {
  auto check = [](const char* schema, std::vector<std::string> good, std::vector<std::string> bad) {
    Result<Grammar> g = compile_json_schema(json::parse(schema));
    ASSERT_TRUE(g.ok()) << g.error().message();
    for (const auto& t : good) EXPECT_TRUE(testing::matches(*g, t)) << schema << " should match " << t;
    for (const auto& t : bad) EXPECT_FALSE(testing::matches(*g, t)) << schema << " should not match " << t;
  };
  check(R"({"type": "integer", "minimum": 10, "maximum": 1205})", {"10", "99", "100", "1205", "999"},
        {"9", "1206", "010", "-10", "1e3"});
  check(R"({"type": "integer", "exclusiveMinimum": 0})", {"1", "123456789012345678"}, {"0", "-1", "1234567890123456789"});
  check(R"({"type": "number", "minimum": 0})", {"0", "0.5", "12e-3", "7E+10"}, {"-1", "01", ".5", "1."});
  check(R"({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}, "required": ["b"]})",
        {R"({"a": 1, "b": "x"})", R"({"b":"x"})", "{\n  \"a\": 2,\n  \"b\": \"\"\n}"},
        {R"({"a": 1})", R"({"b": "x", "a": 1})", R"({"b": "x", "c": 1})", R"({})"});
  check(R"({"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": true})",
        {R"({"a": 1, "ab": [1, {"x": null}]})", R"({"b": "x"})", R"({"": 0})"}, {R"({"a": 1, "a": 2})", R"({"a": "x"})"});
  check(R"({"type": "string", "maxLength": 2})", {R"("")", R"("ab")", R"("\n\u00e9")", R"("€😀")"},
        {R"("abc")", R"("\ud800")", "\"\x01\""});
  check(R"({"type": "array", "items": {"type": "null"}, "maxItems": 0})", {"[]", "[ ]"}, {"[null]"});
}

TEST(JsonSchema, UnsupportedKeywordsAreNamed) {
  const std::vector<std::pair<const char*, const char*>> bad = {
      {R"({"type": "object", "properties": {"a": {"not": {"type": "null"}}}})", "#/properties/a: unsupported JSON schema keyword 'not'"},
      {R"({"type": "array", "uniqueItems": true})", "'uniqueItems'"},
      {R"({"type": "object", "minProperties": 1})", "'minProperties'"},
      {R"({"type": "integer", "multipleOf": 3})", "'multipleOf'"},
      {R"({"if": {}, "then": {}})", "'if'"},
      {R"({"$ref": "https://example.com/s.json"})", "only local references"},
      {R"({"$ref": "#/$defs/missing"})", "does not resolve"},
      {R"({"type": "number", "maximum": 3.5})", "'maximum' on a number"},
      {R"J({"type": "string", "pattern": "(?!a)"})J", "#/pattern: pattern: lookaround"},
      {R"({"type": "strange"})", "unknown type"},
      {R"({"type": "array", "maxItems": 5000})", "'maxItems' above"},
      {R"(false)", "admits no value"},
  };
  for (const auto& [schema, want] : bad) {
    Result<Grammar> g = compile_json_schema(json::parse(schema));
    ASSERT_FALSE(g.ok()) << schema;
    EXPECT_NE(g.error().message().find(want), std::string::npos) << schema << " -> " << g.error().message();
  }
}

}  // namespace
}  // namespace hangar::grammar
