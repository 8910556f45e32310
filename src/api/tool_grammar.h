// The grammar of a valid tool call in a model's format (tool_choice "required" or a named function).
#pragma once

#include <string>

#include "api/request.h"
#include "api/tool_calls.h"
#include "base/result.h"
#include "grammar/grammar.h"
#include "tokenizer/tokenizer.h"

namespace hangar::api {

// Outputs that are one call (several with `parallel`) of a function in `tools` (only
// `function` when it is not empty), in format `f`, with arguments valid under the function's
// parameters schema. Markers that are special tokens of `tok` ([TOOL_CALLS], [ARGS]) are
// matched as those tokens. Errors: a format we cannot write a grammar for (Qwen XML, unknown
// ones), or a parameters schema with an unsupported keyword (naming the tool and keyword).
Result<grammar::Grammar> tool_call_grammar(ToolFormat f, const Json& tools, const std::string& function,
                                           bool parallel, const Tokenizer& tok);

}  // namespace hangar::api
