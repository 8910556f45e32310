// POST /v1/chat/completions: render the chat template, generate, answer in OpenAI's format.
#include "api/generation_route.h"
#include "api/model_settings.h"
#include "api/response.h"
#include "api/routes.h"

namespace hangar::api {
namespace {

class ChatFormat final : public OutputFormat {
 public:
  ChatFormat(const Tokenizer& tok, bool logprobs) : tok_(tok), logprobs_(logprobs) {}
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
    if (!text.empty() || (finish == nullptr)) c["delta"]["content"] = text;
    c["logprobs"] = logprobs_ && !lps.empty() ? chat_logprobs_json(tok_, lps) : Json();
    c["finish_reason"] = finish ? Json(finish) : Json();
    return c;
  }

  Json final_choice(int index, const ChoiceState& s) const override {
    Json c;
    c["index"] = index;
    c["message"] = {{"role", "assistant"}, {"content", s.text}};
    c["logprobs"] = logprobs_ ? chat_logprobs_json(tok_, s.logprobs) : Json();
    c["finish_reason"] = finish_reason_json(s.reason);
    return c;
  }

 private:
  const Tokenizer& tok_;
  bool logprobs_;
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
  apply_model_settings(ctx, body, &cr.model, &cr.common);
  ModelHold hold;
  if (MaybeError e = hold_model_for(ctx, cr.model, cr.common, &hold)) return send_error(res, *e);
  std::string prompt;
  {
    ProfileScope scope(ctx.options.profiler, "chat template");
    if (MaybeError e = render_chat_prompt(ctx, *hold.model, cr.messages, cr.tools, cr.add_generation_prompt,
                                          cr.chat_template_kwargs, &prompt))
      return send_error(res, *e);
  }
  if (MaybeError e = check_prompt_bytes(prompt, *hold.model, "messages")) return send_error(res, *e);
  const Tokenizer& tok = hold.model->tokenizer();
  std::vector<int32_t> tokens;
  {
    // Like llama.cpp: the template's special tokens are parsed, BOS is added as the vocab asks.
    ProfileScope scope(ctx.options.profiler, "tokenization");
    tokens = tok.encode(prompt, /*add_special=*/true, /*parse_special=*/true);
  }
  plan.take_common(cr.model, cr.common, "chatcmpl");
  plan.constrain(cr.common.grammar, *hold.model);
  plan.add_prompt(tokens, cr.common.n, 0);
  if (MaybeError e = validate_prompts(plan, *hold.model)) return send_error(res, *e);
  auto format = std::make_unique<ChatFormat>(tok, cr.logprobs);
  run_generation(ctx, req, std::move(hold), std::move(plan), std::move(format), res);
}

}  // namespace

void add_chat_routes(httplib::Server& http, ServerContext& ctx) {
  auto handler = [&ctx](const httplib::Request& req, httplib::Response& res) { handle_chat(ctx, req, res); };
  http.Post("/v1/chat/completions", handler);
  http.Post("/chat/completions", handler);  // llama.cpp's server accepts both
}

}  // namespace hangar::api
