// JSON schema to grammar: the JSON texts that validate against a schema, as grammar rules.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "grammar/grammar.h"

namespace hangar::grammar {

using Json = nlohmann::ordered_json;

// Adds JSON rules to a GrammarBuilder. Supported: type (one or a list), enum, const,
// properties, required, additionalProperties, items, prefixItems, minItems, maxItems,
// minLength, maxLength, pattern (ECMAScript subset, see regex.h), format (date, time,
// date-time, uuid; others are annotations, as the JSON Schema specification allows),
// minimum/maximum/exclusiveMinimum/exclusiveMaximum on integers (and minimum 0 on numbers),
// anyOf, oneOf (as anyOf), allOf of object schemas, $ref to "#", "#/$defs/..." and
// "#/definitions/..." (recursion allowed), and annotations (title, description, default,
// examples, ...). Any other keyword is an Error naming it and where it is.
//
// The texts are JSON as models write it: properties in the schema's order (optional ones may
// be left out), at most one space or a newline with up to 20 spaces or tabs between tokens,
// integer parts up to 18 digits, fractions up to 16, exponents up to 3 (so that every text
// is finite), strings as raw UTF-8 with escapes (no lone surrogates). Properties not in
// `properties` appear only when additionalProperties allows them (missing means none, as
// llama.cpp does: the output still validates).
class JsonGrammar {
 public:
  explicit JsonGrammar(GrammarBuilder& b) : b_(b) {}

  // A rule for the values valid under `schema`; `$ref`s resolve in `document` (the schema's
  // root). Errors name the keyword and its JSON pointer ("#/properties/age: ...").
  Result<uint32_t> schema(const Json& schema, const Json& document);
  // Any JSON value / any JSON object.
  uint32_t any_value();
  uint32_t any_object();
  // Optional whitespace between tokens.
  uint32_t ws();
  // An object with exactly these keys in this order, each value matching its rule.
  uint32_t fixed_object(const std::vector<std::pair<std::string, uint32_t>>& fields, std::string_view name);
  // A literal JSON value (its compact serialization).
  uint32_t literal(const Json& value, std::string_view name);

 private:
  Result<uint32_t> compile(const Json& s, const std::string& path, std::string_view name);
  Result<uint32_t> compile_typed(const Json& s, const std::string& type, const std::string& path,
                                 std::string_view name);
  Result<uint32_t> object_rule(const Json& s, const std::string& path, std::string_view name);
  Result<uint32_t> array_rule(const Json& s, const std::string& path, std::string_view name);
  Result<uint32_t> string_rule(const Json& s, const std::string& path, std::string_view name);
  Result<uint32_t> integer_rule(const Json& s, const std::string& path, std::string_view name);
  Result<uint32_t> number_rule(const Json& s, const std::string& path, std::string_view name);
  Result<uint32_t> ref_rule(const std::string& ref, const std::string& path);
  Result<Json> merge_all_of(const Json& s, const std::string& path);
  Result<uint32_t> key_not_in(const std::vector<std::string>& keys, const std::string& path);
  uint32_t utf8_char();
  uint32_t digits(int32_t min, int32_t max);

  GrammarBuilder& b_;
  const Json* document_ = nullptr;
  std::map<std::pair<const Json*, std::string>, uint32_t> refs_;
  std::map<std::string, uint32_t> shared_;  // ws, any-value, ... made once
  int depth_ = 0;
};

// The grammar of JSON texts valid under `schema` (root: the value).
Result<Grammar> compile_json_schema(const Json& schema);
// The grammar of any JSON object (response_format {"type": "json_object"}).
Grammar any_json_object_grammar();

}  // namespace hangar::grammar
