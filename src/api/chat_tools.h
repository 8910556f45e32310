// Chat requests on a model: what its tools, tool_choice and the model's template call for, and the prompt.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api/api_error.h"
#include "api/context.h"
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

// The prompt of chat request `cr` on `model`, as every chat route builds it: the model's
// template (chat_template_for), the request's tools planned against it into `tools` unless
// that is null (plan_tools), then the render (render_chat_prompt, timed as "chat template"
// under --profile). Errors are the responses to send.
MaybeError render_chat_request(ServerContext& ctx, const ChatRequest& cr, const manager::EngineModel& model,
                               ToolPlan* tools, std::string* prompt);

}  // namespace hangar::api
