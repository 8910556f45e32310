// Ollama's POST /api/chat and /api/generate: mapped onto our chat parsing, answered as NDJSON.
#include "api/chat_tools.h"
#include "api/generation_job.h"
#include "api/generation_route.h"
#include "api/json_fields.h"
#include "api/model_settings.h"
#include "api/ollama.h"
#include "api/routes.h"
#include "api/sse.h"
#include "base/log.h"

namespace hangar::api {
namespace {

int64_t ns(double ms) { return static_cast<int64_t>(ms * 1e6); }

// Our parsers name OpenAI's top-level fields; in Ollama's body a sampling field sits in
// `options` (and max_tokens is num_predict there), so the error names it where the client put it.
ApiError in_ollama_terms(ApiError e, const Json& body) {
  const std::string name = e.param == "max_tokens" ? "num_predict" : e.param;
  const auto opts = body.find("options");
  if (name.empty() || opts == body.end() || !opts->is_object() || !opts->contains(name)) return e;
  const std::string quoted = "'" + e.param + "'";
  if (const size_t at = e.message.find(quoted); at != std::string::npos)
    e.message.replace(at, quoted.size(), "'options." + name + "'");
  else
    e.message = "'options." + name + "': " + e.message;
  e.param = "options." + name;
  return e;
}

// One request's generation until its last byte (a stream outlives the handler). Members are
// destroyed in reverse order: the job (which waits for the scheduler) before the model hold.
struct OllamaRun {
  ServerContext* ctx = nullptr;
  ModelHold hold;
  GenerationPlan plan;
  bool chat = true;
  std::string name;  // the model as the client named it, echoed in every answer
  ToolFormat tools_format = ToolFormat::kNone;
  Json tools;
  std::unique_ptr<ToolCallStreamer> streamer;  // chat with tools
  std::unique_ptr<GenerationJob> job;
  std::string text;
  std::vector<int32_t> generated;
  engine::FinishReason reason = engine::FinishReason::kNone;
  std::string error;
  engine::RequestTimings timings;
  double load_ms = 0;
  double first_token_s = -1;
  bool client_gone = false;

  ~OllamaRun() {
    job.reset();
    GenerationSample s;
    s.model = plan.model_id;
    s.endpoint = chat ? "ollama_chat" : "ollama_generate";
    s.outcome = !error.empty() ? "error" : client_gone ? "cancelled" : "ok";
    s.prompt_tokens = timings.prompt_tokens;
    s.cached_tokens = timings.cached_tokens;
    s.disk_tokens = timings.disk_tokens;
    s.generated_tokens = timings.generated_tokens;
    s.ttft_s = first_token_s;
    s.decode_tps = timings.decode_tps();
    ctx->metrics.record_generation(s);
  }

  // Applies one event; returns the new text of a step.
  std::string apply(const ChoiceEvent& ev) {
    if (ev.done) {
      timings = ev.result.timings;
      if (ev.result.reason == engine::FinishReason::kError) error = ev.result.error.empty() ? "generation failed" : ev.result.error;
      if (reason == engine::FinishReason::kNone) reason = ev.result.reason;
      return "";
    }
    if (first_token_s < 0) first_token_s = plan.since_request.elapsed_s();
    // The answer's tokens: a step that ends at the length limit still added one; an end token did not.
    if (ev.step.token >= 0 && (!ev.step.finished || ev.step.reason == engine::FinishReason::kLength))
      generated.push_back(ev.step.token);
    text += ev.step.text;
    if (ev.step.finished) reason = ev.step.reason;
    return ev.step.text;
  }

  static Json call_json(const ToolCall& c) {
    Json args = Json::parse(c.arguments, nullptr, false);
    return {{"function", {{"name", c.name}, {"arguments", args.is_discarded() ? Json(c.arguments) : args}}}};
  }

  Json head() const {
    Json j;
    j["model"] = name;
    j["created_at"] = rfc3339_now();
    return j;
  }

  // A part of the answer: `content` (and, for chat, calls completed by it).
  Json part(const std::string& content, const std::vector<ToolCall>& calls) const {
    Json j = head();
    if (chat) {
      Json m = {{"role", "assistant"}, {"content", content}};
      if (!calls.empty()) {
        Json cs = Json::array();
        for (const ToolCall& c : calls) cs.push_back(call_json(c));
        m["tool_calls"] = std::move(cs);
      }
      j["message"] = std::move(m);
    } else {
      j["response"] = content;
    }
    return j;
  }

  void add_final_fields(Json& j) const {
    j["done"] = true;
    j["done_reason"] = reason == engine::FinishReason::kLength ? "length" : "stop";
    j["total_duration"] = ns(plan.since_request.elapsed_ms());
    j["load_duration"] = ns(load_ms);
    j["prompt_eval_count"] = timings.prompt_tokens;
    j["prompt_eval_duration"] = ns(timings.prompt_ms);
    j["eval_count"] = timings.generated_tokens;
    j["eval_duration"] = ns(timings.decode_ms);
    if (!chat) {  // Ollama's (deprecated) conversation memory: the prompt and answer tokens
      Json context = Json::array();
      for (int32_t t : plan.prompts[0]) context.push_back(t);
      for (int32_t t : generated) context.push_back(t);
      j["context"] = std::move(context);
    }
  }
};

void respond_collected(OllamaRun& run, const httplib::Request& req, httplib::Response& res) {
  run.client_gone = !collect_events(*run.ctx, req, *run.job, [&](ChoiceEvent& ev) { run.apply(ev); });
  if (run.client_gone) return send_ollama_error(res, api_error(499, "the client closed the connection"));
  if (!run.error.empty()) return send_ollama_error(res, server_error("generation failed: " + run.error));
  Json out;
  if (run.chat && run.tools_format != ToolFormat::kNone) {
    ToolParse p = parse_tool_calls(run.tools_format, run.text, run.tools);
    out = run.part(p.content, p.calls);
  } else {
    out = run.part(run.text, {});
  }
  run.add_final_fields(out);
  send_json(res, 200, out);
}

// Writes the NDJSON stream; false when the client went away.
bool write_stream(OllamaRun& run, httplib::DataSink& sink) {
  auto write = [&](const Json& j) {
    const std::string line = dump_json(j) + "\n";
    return sink.write(line.data(), line.size());
  };
  ChoiceEvent ev;
  while (run.job->next(&ev)) {
    if (run.ctx->stopping) run.job->cancel();
    std::string text = run.apply(ev);
    std::vector<ToolCall> calls;
    if (run.streamer) {
      ToolParse p = run.streamer->push(text);
      if (ev.done) {
        ToolParse rest = run.streamer->finish();
        p.content += rest.content;
        for (auto& c : rest.calls) p.calls.push_back(std::move(c));
      }
      text = std::move(p.content);
      calls = std::move(p.calls);
    }
    if (text.empty() && calls.empty()) continue;
    Json j = run.part(text, calls);
    j["done"] = false;
    if (!write(j)) return false;
  }
  run.job.reset();  // every choice is done: let go of the model before the last line
  run.hold.lease.release();
  run.hold.model = nullptr;
  if (!run.error.empty()) return write({{"error", "generation failed: " + run.error}}) && (sink.done(), true);
  Json last = run.part("", {});
  run.add_final_fields(last);
  if (!write(last)) return false;
  sink.done();
  return true;
}

void start(std::shared_ptr<OllamaRun> run, const httplib::Request& req, httplib::Response& res) {
  run->job = std::make_unique<GenerationJob>(run->hold.model->scheduler());
  run->job->submit(0, run->plan.prompts[0], run->plan.params);
  if (!run->plan.stream) return respond_collected(*run, req, res);
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "application/x-ndjson",
      [run](size_t, httplib::DataSink& sink) {
        if (write_stream(*run, sink)) return true;
        run->client_gone = true;
        if (run->job) run->job->cancel();
        return false;
      },
      [run](bool success) {
        if (!success && run->job) {
          run->client_gone = true;
          run->job->cancel();
        }
      });
}

// An empty conversation or prompt only loads the model (or, with keep_alive 0, unloads it),
// as Ollama clients do to warm a model up.
void answer_load_only(ServerContext& ctx, const std::string& name, const CommonParams& common, bool chat,
                      httplib::Response& res) {
  const std::string id = resolve_model_name(ctx, name);
  Json j;
  j["model"] = name;
  j["created_at"] = rfc3339_now();
  if (chat) j["message"] = {{"role", "assistant"}, {"content", ""}};
  else j["response"] = "";
  if (common.keep_alive_ms && *common.keep_alive_ms == 0) {
    if (!ctx.manager.registry().get(id)) return send_ollama_error(res, not_found("model '" + name + "' not found"));
    if (Status st = ctx.manager.cache().unload(id); !st.ok()) return send_ollama_error(res, server_error(st.error().message()));
    j["done_reason"] = "unload";
  } else {
    ModelHold hold;
    if (MaybeError e = acquire_model(ctx, name, common.keep_alive_ms, &hold)) return send_ollama_error(res, *e);
    j["done_reason"] = "load";
  }
  j["done"] = true;
  send_json(res, 200, j);
}

void handle(ServerContext& ctx, const httplib::Request& req, httplib::Response& res, bool chat) {
  auto run = std::make_shared<OllamaRun>();  // its stopwatch starts now
  run->ctx = &ctx;
  run->chat = chat;
  Json body;
  if (MaybeError e = parse_json_body(req.body, &body)) return send_ollama_error(res, *e);
  Json oa;
  if (MaybeError e = ollama_to_openai(body, &oa)) return send_ollama_error(res, *e);
  run->name = oa.value("model", "");
  if (run->name.empty()) {
    if (MaybeError e = resolve_default_model(ctx, &run->name)) return send_ollama_error(res, *e);
    oa["model"] = run->name;
  }
  // Generate's prompt (and system) become a user (and system) message unless raw.
  bool raw = false;
  std::vector<int32_t> context;
  if (!chat) {
    FieldReader f(body);
    std::string prompt, system;
    for (MaybeError e : {f.string("prompt", &prompt), f.string("system", &system), f.boolean("raw", &raw)})
      if (e) return send_ollama_error(res, *e);
    for (const char* unsupported : {"suffix", "template", "images"})
      if (f.has(unsupported) && !(f.at(unsupported).is_string() && f.at(unsupported).get<std::string>().empty()) &&
          !(f.at(unsupported).is_array() && f.at(unsupported).empty()))
        return send_ollama_error(res, bad_request(unsupported, std::string("'") + unsupported + "' is not supported by hangar"));
    if (f.has("context")) {
      if (!f.at("context").is_array()) return send_ollama_error(res, bad_request("context", "'context' must be an array of token ids"));
      for (const Json& t : f.at("context")) {
        if (!t.is_number_integer() || t.get<int64_t>() < 0)
          return send_ollama_error(res, bad_request("context", "'context' must be an array of token ids"));
        context.push_back(static_cast<int32_t>(t.get<int64_t>()));
      }
    }
    Json messages = Json::array();
    if (!prompt.empty()) {
      if (!system.empty()) messages.push_back({{"role", "system"}, {"content", system}});
      messages.push_back({{"role", "user"}, {"content", prompt}});
    }
    oa["messages"] = std::move(messages);
    oa["raw_prompt"] = prompt;
  }
  if (!oa.contains("messages") || (oa["messages"].is_array() && oa["messages"].empty())) {
    CommonParams common;
    if (MaybeError e = parse_keep_alive(oa, &common.keep_alive_ms)) return send_ollama_error(res, *e);
    return answer_load_only(ctx, run->name, common, chat, res);
  }
  ChatRequest cr;
  if (MaybeError e = parse_chat_request(oa, &cr)) return send_ollama_error(res, in_ollama_terms(*e, body));
  apply_model_settings(ctx, oa, &cr.model, &cr.common);
  Stopwatch load;
  if (MaybeError e = hold_model_for(ctx, cr.model, cr.common, &run->hold)) return send_ollama_error(res, *e);
  run->load_ms = load.elapsed_ms();
  const manager::EngineModel& model = *run->hold.model;
  ToolPlan tools;
  std::string prompt;
  if (chat || !raw) {
    if (MaybeError e = render_chat_request(ctx, cr, model, chat ? &tools : nullptr, &prompt))
      return send_ollama_error(res, *e);
  } else {
    prompt = oa["raw_prompt"].get<std::string>();
  }
  if (MaybeError e = check_prompt_bytes(prompt, model, chat ? "messages" : "prompt")) return send_ollama_error(res, *e);
  // A continued conversation (context) already began with BOS.
  std::vector<int32_t> tokens = model.tokenizer().encode(prompt, /*add_special=*/context.empty(), /*parse_special=*/true);
  tokens.insert(tokens.begin(), context.begin(), context.end());
  run->plan.take_common(cr.model, cr.common, chat ? "ollama-chat" : "ollama-gen");
  run->plan.constrain(tools.grammar ? tools.grammar : cr.common.grammar, model);
  run->plan.params.preserved_tokens = tools.preserved_tokens;
  run->plan.add_prompt(tokens, 1, 0);
  if (MaybeError e = validate_prompts(run->plan, model)) return send_ollama_error(res, *e);
  if (tools.parse) {
    run->tools_format = tools.format;
    run->tools = cr.tools;
    if (run->plan.stream) run->streamer = std::make_unique<ToolCallStreamer>(tools.format, cr.tools);
  }
  start(std::move(run), req, res);
}

}  // namespace

void add_ollama_generation_routes(httplib::Server& http, ServerContext& ctx) {
  http.Post("/api/chat", [&ctx](const httplib::Request& req, httplib::Response& res) { handle(ctx, req, res, true); });
  http.Post("/api/generate", [&ctx](const httplib::Request& req, httplib::Response& res) { handle(ctx, req, res, false); });
}

}  // namespace hangar::api
