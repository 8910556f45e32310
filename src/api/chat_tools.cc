// Chat requests on a model: tool planning (template support, call format, grammars, kept markers), the prompt.
#include "api/chat_tools.h"

#include "api/json_fields.h"
#include "api/tool_grammar.h"
#include "base/profiler.h"

namespace hangar::api {

MaybeError plan_tools(const ChatRequest& cr, const chat::ChatTemplate& tmpl, const manager::EngineModel& model,
                      ToolPlan* out) {
  *out = ToolPlan();
  if (cr.tools.is_null() || cr.tools.empty()) return std::nullopt;
  if (!tmpl.caps().supports_tools)
    return bad_request("tools", "model '" + model.id() +
                                    "' cannot call tools: its chat template does not render the tools it is given");
  out->format = detect_tool_format(tmpl.tmpl().source(), true);
  const Tokenizer& tok = model.tokenizer();
  for (std::string_view m : tool_markers(out->format)) {
    std::optional<TokenId> id = tok.find_token(m);
    if (id && tok.is_control(*id)) out->preserved_tokens.push_back(*id);
  }
  const ToolChoice& choice = cr.tool_choice;
  out->parse = choice.kind != ToolChoice::Kind::kNone;
  if (choice.kind != ToolChoice::Kind::kRequired && choice.kind != ToolChoice::Kind::kFunction) return std::nullopt;
  if (cr.common.grammar)
    return bad_request("tool_choice", "tool_choice \"required\" or a named function cannot be combined with a "
                                      "JSON response_format");
  if (out->format == ToolFormat::kQwenXml || out->format == ToolFormat::kGeneric)
    return bad_request("tool_choice", std::string("model '") + model.id() + "' writes tool calls in a format (" +
                                          tool_format_name(out->format) +
                                          ") that cannot be constrained; use tool_choice \"auto\"");
  Result<grammar::Grammar> g = tool_call_grammar(out->format, cr.tools, choice.function, cr.parallel_tool_calls, tok);
  if (!g.ok()) return bad_request("tools", g.error().message());
  out->grammar = std::make_shared<const grammar::Grammar>(std::move(g).value());
  return std::nullopt;
}

MaybeError render_chat_request(ServerContext& ctx, const ChatRequest& cr, const manager::EngineModel& model,
                               ToolPlan* tools, std::string* prompt) {
  std::shared_ptr<const chat::ChatTemplate> tmpl;
  HANGAR_API_TRY(chat_template_for(ctx, model, &tmpl));
  if (tools) HANGAR_API_TRY(plan_tools(cr, *tmpl, model, tools));
  ProfileScope scope(ctx.options.profiler, "chat template");
  return render_chat_prompt(ctx, model, *tmpl, cr.messages, cr.tools, cr.add_generation_prompt,
                            cr.chat_template_kwargs, prompt);
}

}  // namespace hangar::api
