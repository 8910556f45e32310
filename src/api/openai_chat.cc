// POST /v1/chat/completions: render the chat template, generate, answer in OpenAI's format.
#include "api/chat_tools.h"
#include "api/generation_route.h"
#include "api/model_settings.h"
#include "api/response.h"
#include "api/routes.h"

namespace hangar::api {
namespace {

// Tool calls, when the request has tools: content and calls are separated as the text comes
// (per choice), and a choice that called tools finishes with "tool_calls".
class ChatFormat final : public OutputFormat {
 public:
  ChatFormat(const Tokenizer& tok, bool logprobs, ToolFormat tools_format, Json tools)
      : tok_(tok), logprobs_(logprobs), tools_format_(tools_format), tools_(std::move(tools)) {}
  const char* endpoint() const override { return "chat"; }
  const char* object_name(bool chunk) const override { return chunk ? "chat.completion.chunk" : "chat.completion"; }

  Json stream_open(int index, const ChoiceState&) const override {
    Json c;
    c["index"] = index;
    c["delta"] = {{"role", "assistant"}, {"content", ""}};
    c["logprobs"] = nullptr;
    c["finish_reason"] = nullptr;
    return c;
  }

  Json stream_choice(int index, const std::string& text, std::span<const engine::TokenLogprob> lps, size_t,
                     const char* finish) const override {
    Json c;
    c["index"] = index;
    c["delta"] = Json::object();
    std::string content = text;
    if (parses_tools()) {
      ToolCallStreamer& s = streamer(index);
      ToolParse p = s.push(text);
      if (finish) {
        ToolParse rest = s.finish();
        p.content += rest.content;
        for (auto& call : rest.calls) p.calls.push_back(std::move(call));
      }
      content = std::move(p.content);
      if (!p.calls.empty()) {
        Json calls = Json::array();
        size_t first = s.n_calls() - p.calls.size();
        for (size_t i = 0; i < p.calls.size(); ++i) calls.push_back(call_json(p.calls[i], first + i));
        c["delta"]["tool_calls"] = std::move(calls);
      }
      if (finish && s.n_calls() > 0 && std::string(finish) == "stop") finish = "tool_calls";
      // Text held back (it may start a call) and no log-probabilities: nothing to send yet.
      if (!finish && content.empty() && p.calls.empty() && (!logprobs_ || lps.empty())) return Json();
    }
    if (!content.empty() || (finish == nullptr && !c["delta"].contains("tool_calls"))) c["delta"]["content"] = content;
    c["logprobs"] = logprobs_ && !lps.empty() ? chat_logprobs_json(tok_, lps) : Json();
    c["finish_reason"] = finish ? Json(finish) : Json();
    return c;
  }

  Json final_choice(int index, const ChoiceState& s) const override {
    Json c;
    c["index"] = index;
    c["message"] = {{"role", "assistant"}, {"content", s.text}};
    const char* finish = finish_reason_json(s.reason);
    if (parses_tools()) {
      ToolParse p = parse_tool_calls(tools_format_, s.text, tools_);
      if (!p.calls.empty()) {
        // OpenAI: content is null when the answer is only calls.
        c["message"]["content"] = p.content.empty() ? Json() : Json(p.content);
        Json calls = Json::array();
        for (size_t i = 0; i < p.calls.size(); ++i) calls.push_back(call_json(p.calls[i], i));
        c["message"]["tool_calls"] = std::move(calls);
        if (std::string(finish) == "stop") finish = "tool_calls";
      }
    }
    c["logprobs"] = logprobs_ ? chat_logprobs_json(tok_, s.logprobs) : Json();
    c["finish_reason"] = finish;
    return c;
  }

 private:
  bool parses_tools() const { return tools_format_ != ToolFormat::kNone; }

  ToolCallStreamer& streamer(int index) const {
    while (streamers_.size() <= static_cast<size_t>(index)) streamers_.emplace_back(tools_format_, tools_);
    return streamers_[static_cast<size_t>(index)];
  }

  // OpenAI's shape; `index` (the call's place in the choice) is what stream clients join on.
  static Json call_json(const ToolCall& call, size_t index) {
    Json j;
    j["index"] = index;
    j["id"] = call.id;
    j["type"] = "function";
    j["function"] = {{"name", call.name}, {"arguments", call.arguments}};
    return j;
  }

  const Tokenizer& tok_;
  bool logprobs_;
  ToolFormat tools_format_;
  Json tools_;
  // Streams run on one thread per request; the formatter keeps each choice's parser.
  mutable std::vector<ToolCallStreamer> streamers_;
};

void handle_chat(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  GenerationPlan plan;  // its stopwatch starts now: time to first token counts from arrival
  Json body;
  if (!read_json_body(req, res, &body)) return;
  ChatRequest cr;
  {
    ProfileScope scope(ctx.options.profiler, "http: parse request");
    if (MaybeError e = parse_chat_request(body, &cr)) return send_error(res, *e);
  }
  if (MaybeError e = resolve_default_model(ctx, &cr.model)) return send_error(res, *e);
  apply_model_settings(ctx, body, &cr.model, &cr.common);
  ModelHold hold;
  if (MaybeError e = hold_model_for(ctx, cr.model, cr.common, &hold)) return send_error(res, *e);
  ToolPlan tools;
  std::string prompt;
  if (MaybeError e = render_chat_request(ctx, cr, *hold.model, &tools, &prompt)) return send_error(res, *e);
  if (MaybeError e = check_prompt_bytes(prompt, *hold.model, "messages")) return send_error(res, *e);
  const Tokenizer& tok = hold.model->tokenizer();
  std::vector<int32_t> tokens;
  {
    // Like llama.cpp: the template's special tokens are parsed, BOS is added as the vocab asks.
    ProfileScope scope(ctx.options.profiler, "tokenization");
    tokens = tok.encode(prompt, /*add_special=*/true, /*parse_special=*/true);
  }
  plan.take_common(cr.model, cr.common, "chatcmpl");
  plan.constrain(tools.grammar ? tools.grammar : cr.common.grammar, *hold.model);
  plan.params.preserved_tokens = tools.preserved_tokens;
  plan.add_prompt(tokens, cr.common.n, 0);
  if (MaybeError e = validate_prompts(plan, *hold.model)) return send_error(res, *e);
  auto format = std::make_unique<ChatFormat>(tok, cr.logprobs, tools.parse ? tools.format : ToolFormat::kNone,
                                             cr.tools);
  run_generation(ctx, req, std::move(hold), std::move(plan), std::move(format), res);
}

}  // namespace

void add_chat_routes(httplib::Server& http, ServerContext& ctx) {
  auto handler = [&ctx](const httplib::Request& req, httplib::Response& res) { handle_chat(ctx, req, res); };
  http.Post("/v1/chat/completions", handler);
  http.Post("/chat/completions", handler);  // llama.cpp's server accepts both
}

}  // namespace hangar::api
