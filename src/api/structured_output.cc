// Structured output: response_format parsing and JSON schema compilation for the OpenAI routes.
#include "api/structured_output.h"

#include "api/json_fields.h"
#include "grammar/json_schema.h"

namespace hangar::api {

MaybeError compile_schema(const Json& schema, const std::string& param, std::shared_ptr<const grammar::Grammar>* out) {
  Result<grammar::Grammar> g = grammar::compile_json_schema(schema);
  if (!g.ok()) return bad_request(param, "the JSON schema cannot be used: " + g.error().message());
  *out = std::make_shared<const grammar::Grammar>(std::move(g).value());
  return std::nullopt;
}

MaybeError parse_response_format(const Json& body, std::shared_ptr<const grammar::Grammar>* out) {
  out->reset();
  auto it = body.find("response_format");
  if (it == body.end() || it->is_null()) return std::nullopt;
  const Json& rf = *it;
  if (!rf.is_object() || !rf.contains("type") || !rf["type"].is_string())
    return bad_request("response_format", "'response_format' must be an object with a 'type' string");
  const std::string type = rf["type"].get<std::string>();
  if (type == "text") return std::nullopt;
  if (type == "json_object") {
    if (rf.contains("schema") && !rf["schema"].is_null()) return compile_schema(rf["schema"], "response_format", out);
    *out = std::make_shared<const grammar::Grammar>(grammar::any_json_object_grammar());
    return std::nullopt;
  }
  if (type == "json_schema") {
    if (!rf.contains("json_schema") || !rf["json_schema"].is_object())
      return bad_request("response_format", "'response_format.json_schema' must be an object with a 'schema'");
    const Json& js = rf["json_schema"];
    // OpenAI allows the schema to be left out (any JSON then); so do we.
    if (!js.contains("schema") || js["schema"].is_null()) {
      *out = std::make_shared<const grammar::Grammar>(grammar::any_json_object_grammar());
      return std::nullopt;
    }
    if (!js["schema"].is_object() && !js["schema"].is_boolean())
      return bad_request("response_format", "'response_format.json_schema.schema' must be a JSON schema object, got " +
                                                json_type_name(js["schema"]));
    return compile_schema(js["schema"], "response_format", out);
  }
  return bad_request("response_format", "'response_format' type \"" + type +
                                            "\" is not supported (text, json_object or json_schema)");
}

std::shared_ptr<const grammar::Constraint> bind_grammar(const manager::EngineModel& model,
                                                        std::shared_ptr<const grammar::Grammar> g) {
  if (!g) return nullptr;
  auto c = std::make_shared<grammar::Constraint>();
  c->grammar = std::move(g);
  c->vocab = model.grammar_vocab();
  return c;
}

}  // namespace hangar::api
