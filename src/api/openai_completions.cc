// POST /v1/completions: prompts as text or token ids, with echo and logprobs, OpenAI's format.
#include "api/generation_route.h"
#include "api/model_settings.h"
#include "api/response.h"
#include "api/routes.h"

namespace hangar::api {
namespace {

class CompletionFormat final : public OutputFormat {
 public:
  CompletionFormat(const Tokenizer& tok, bool logprobs) : tok_(tok), logprobs_(logprobs) {}
  const char* endpoint() const override { return "completions"; }
  const char* object_name(bool) const override { return "text_completion"; }

  // With echo, the stream starts with the prompt (and, asked for, its log-probabilities);
  // without it there is nothing to open with.
  Json stream_open(int index, const ChoiceState& c) const override {
    if (c.prefix.empty() && c.prefix_first_token < 0) return Json();
    Json j = stream_choice(index, c.prefix, {}, 0, nullptr);
    if (c.prefix_first_token >= 0) j["logprobs"] = prompt_logprobs(c);
    return j;
  }

  Json stream_choice(int index, const std::string& text, std::span<const engine::TokenLogprob> lps,
                     size_t offset, const char* finish) const override {
    Json c;
    c["index"] = index;
    c["text"] = text;
    c["logprobs"] = logprobs_ && !lps.empty() ? completion_logprobs_json(tok_, lps, offset) : Json();
    c["finish_reason"] = finish ? Json(finish) : Json();
    return c;
  }

  Json final_choice(int index, const ChoiceState& s) const override {
    Json c;
    c["index"] = index;
    c["text"] = s.prefix + s.text;
    c["logprobs"] = logprobs_ ? completion_logprobs_json(tok_, s.logprobs, s.prefix.size()) : Json();
    if (s.prefix_first_token >= 0) c["logprobs"] = concat_completion_logprobs(prompt_logprobs(s), c["logprobs"]);
    c["finish_reason"] = finish_reason_json(s.reason);
    return c;
  }

 private:
  Json prompt_logprobs(const ChoiceState& c) const {
    return completion_prompt_logprobs_json(tok_, c.prefix_first_token, c.prefix_logprobs);
  }

  const Tokenizer& tok_;
  bool logprobs_;
};

void handle_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  GenerationPlan plan;
  Json body;
  if (!read_json_body(req, res, &body)) return;
  CompletionRequest cr;
  {
    ProfileScope scope(ctx.options.profiler, "http: parse request");
    if (MaybeError e = parse_completion_request(body, &cr)) return send_error(res, *e);
  }
  if (MaybeError e = resolve_default_model(ctx, &cr.model)) return send_error(res, *e);
  apply_model_settings(ctx, body, &cr.model, &cr.common);
  ModelHold hold;
  if (MaybeError e = hold_model_for(ctx, cr.model, cr.common, &hold, cr.prompts)) return send_error(res, *e);
  const Tokenizer& tok = hold.model->tokenizer();
  plan.take_common(cr.model, cr.common, "cmpl");
  plan.constrain(cr.common.grammar, *hold.model);
  for (size_t p = 0; p < cr.prompts.size(); ++p) {
    const PromptInput& in = cr.prompts[p];
    if (!in.is_tokens)
      if (MaybeError e = check_prompt_bytes(in.text, *hold.model, "prompt")) return send_error(res, *e);
    // Text is tokenized as llama.cpp's /completion does (BOS as the vocab asks, special tokens
    // parsed); token ids are taken as given.
    std::vector<int32_t> tokens;
    {
      ProfileScope scope(ctx.options.profiler, "tokenization");
      tokens = in.is_tokens ? in.tokens : tok.encode(in.text, true, true);
    }
    std::string echo;
    if (cr.echo) echo = in.is_tokens ? tok.decode(in.tokens, /*special=*/false) : in.text;
    plan.add_prompt(tokens, cr.common.n, static_cast<int>(p), echo);
  }
  if (MaybeError e = validate_prompts(plan, *hold.model)) return send_error(res, *e);
  auto format = std::make_unique<CompletionFormat>(tok, cr.logprobs >= 0);
  run_generation(ctx, req, std::move(hold), std::move(plan), std::move(format), res);
}

}  // namespace

void add_completion_routes(httplib::Server& http, ServerContext& ctx) {
  auto handler = [&ctx](const httplib::Request& req, httplib::Response& res) { handle_completions(ctx, req, res); };
  http.Post("/v1/completions", handler);
  http.Post("/completions", handler);
}

}  // namespace hangar::api
