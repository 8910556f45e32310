// Structured output: response_format to a grammar, and grammars bound to a loaded model.
#pragma once

#include <memory>

#include "api/api_error.h"
#include "api/request.h"
#include "grammar/grammar.h"
#include "grammar/matcher.h"
#include "manager/engine_loader.h"

namespace hangar::api {

// Reads response_format: absent or {"type": "text"}: no grammar; {"type": "json_object"}: any
// JSON object (or, as llama.cpp allows, the JSON schema in its "schema" field);
// {"type": "json_schema", "json_schema": {"name", "schema", "strict"}}: the schema's texts.
// A schema that cannot be compiled is a 400 on response_format naming the keyword and where
// it is. Sets `out` (null for text).
MaybeError parse_response_format(const Json& body, std::shared_ptr<const grammar::Grammar>* out);

// The grammar of the JSON texts valid under `schema`; a 400 on `param` when it cannot be
// compiled.
MaybeError compile_schema(const Json& schema, const std::string& param, std::shared_ptr<const grammar::Grammar>* out);

// `g` with the model's token data (built on the model's first constrained request); null
// when `g` is null.
std::shared_ptr<const grammar::Constraint> bind_grammar(const manager::EngineModel& model,
                                                        std::shared_ptr<const grammar::Grammar> g);

}  // namespace hangar::api
