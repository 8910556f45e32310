// Tool-call grammars: each format's wrapper around the JSON grammars of the functions' parameters.
#include "api/tool_grammar.h"

#include "grammar/json_schema.h"

namespace hangar::api {
namespace {

using Seq = grammar::GrammarBuilder::Seq;
using grammar::concat;
using grammar::Elem;
using grammar::GrammarBuilder;

// A marker as the special token it is in this vocabulary, or as its text.
Seq marker(GrammarBuilder& b, const Tokenizer& tok, const std::string& text) {
  std::optional<TokenId> id = tok.find_token(text);
  if (id && tok.is_control(*id)) return {GrammarBuilder::token(*id)};
  return b.literal(text);
}

}  // namespace

Result<grammar::Grammar> tool_call_grammar(ToolFormat f, const Json& tools, const std::string& function,
                                           bool parallel, const Tokenizer& tok) {
  if (f != ToolFormat::kHermes && f != ToolFormat::kLlama3 && f != ToolFormat::kMistral &&
      f != ToolFormat::kMistralArgs)
    return Error(std::string("the model's tool-call format (") + tool_format_name(f) +
                 ") cannot be constrained; use tool_choice \"auto\"");
  GrammarBuilder b;
  grammar::JsonGrammar json(b);
  // One alternative per function: its name and its arguments.
  std::vector<Seq> calls;
  for (size_t i = 0; i < tools.size(); ++i) {
    const Json& fn = tools[i]["function"];
    const std::string name = fn["name"].get<std::string>();
    if (!function.empty() && name != function) continue;
    const Json params = fn.contains("parameters") && fn["parameters"].is_object() ? fn["parameters"]
                                                                                  : Json{{"type", "object"}};
    Result<uint32_t> args = json.schema(params, params);
    if (!args.ok()) return args.error().context("tools[" + std::to_string(i) + "] ('" + name + "') parameters");
    if (f == ToolFormat::kMistralArgs) {
      Seq s = concat(marker(b, tok, "[TOOL_CALLS]"), b.literal(name));
      s = concat(std::move(s), marker(b, tok, "[ARGS]"));
      s.push_back(GrammarBuilder::ref(*args));
      calls.push_back(std::move(s));
      continue;
    }
    const uint32_t name_rule = json.literal(Json(name), "tool-name");
    const char* args_key = f == ToolFormat::kLlama3 ? "parameters" : "arguments";
    calls.push_back({GrammarBuilder::ref(json.fixed_object({{"name", name_rule}, {args_key, *args}}, "tool-call"))});
  }
  if (calls.empty()) return Error("no tool is named '" + function + "'");
  const uint32_t call = b.choice(calls, "call");
  const Elem one = GrammarBuilder::ref(call);
  uint32_t root = 0;
  switch (f) {
    case ToolFormat::kHermes: {
      // As Qwen's and Hermes' templates show it: <tool_call>\n{...}\n</tool_call>, calls on
      // their own lines.
      const Seq block = concat(concat(b.literal("<tool_call>\n"), {one}), b.literal("\n</tool_call>"));
      const uint32_t r = b.choice({block}, "tool-block");
      root = parallel ? b.choice({{GrammarBuilder::ref(r), GrammarBuilder::ref(b.repeat(concat(b.literal("\n"),
                                                                                              {GrammarBuilder::ref(r)}),
                                                                                       0, -1, "more-blocks"))}},
                                 "root")
                      : r;
      break;
    }
    case ToolFormat::kLlama3: root = call; break;  // one call: the templates render no more
    case ToolFormat::kMistral: {
      const Elem w = GrammarBuilder::ref(json.ws());
      Seq s = concat(marker(b, tok, "[TOOL_CALLS]"), {b.byte('['), one});
      if (parallel) s.push_back(GrammarBuilder::ref(b.repeat({b.byte(','), w, one}, 0, -1, "more-calls")));
      s.push_back(b.byte(']'));
      root = b.choice({s}, "root");
      break;
    }
    case ToolFormat::kMistralArgs:
      root = parallel ? b.repeat({one}, 1, -1, "root") : call;
      break;
    default: break;
  }
  return std::move(b).build(root);
}

}  // namespace hangar::api
