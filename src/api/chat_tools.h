// Tools on chat requests: what a request's tools, tool_choice and the model's template call for.
#pragma once

#include <memory>
#include <vector>

#include "api/api_error.h"
#include "api/request.h"
#include "api/tool_calls.h"
#include "chat/chat_template.h"
#include "grammar/grammar.h"
#include "manager/engine_loader.h"

namespace hangar::api {

struct ToolPlan {
  ToolFormat format = ToolFormat::kNone;
  bool parse = false;                              // read tool calls from the output
  std::shared_ptr<const grammar::Grammar> grammar;  // tool_choice required or named
  std::vector<int32_t> preserved_tokens;           // markers that are special tokens
};

// Plans the tools of `cr` for a model whose chat template is `tmpl`. 400s: tools for a
// template that does not render them (param tools), a tool_choice that needs a grammar for
// a format we cannot constrain or beside a response_format (param tool_choice), parameters
// schemas with unsupported keywords (param tools).
MaybeError plan_tools(const ChatRequest& cr, const chat::ChatTemplate& tmpl, const manager::EngineModel& model,
                      ToolPlan* out);

}  // namespace hangar::api
