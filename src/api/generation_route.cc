// The generation flow: scheduler events to a JSON response or an SSE stream, and metrics.
#include "api/generation_route.h"

#include <algorithm>
#include <cctype>
#include <chrono>

#include "api/generation_job.h"
#include "api/model_settings.h"
#include "api/response.h"
#include "api/sse.h"
#include "api/structured_output.h"
#include "base/log.h"
#include "engine/prompt_check.h"

namespace hangar::api {
namespace {

// Everything a response needs until its last byte; for a stream that is after the handler
// returned, so it is shared with httplib's content provider. Members are destroyed in reverse
// order: the job (which waits for the scheduler to let go) before the model hold.
struct Run {
  ServerContext* ctx = nullptr;
  ModelHold hold;
  GenerationPlan plan;
  std::unique_ptr<OutputFormat> format;
  std::unique_ptr<GenerationJob> job;
  std::vector<ChoiceState> choices;
  double first_token_s = -1;
  bool client_gone = false;

  ~Run() {
    job.reset();
    record_metrics();
  }

  const Tokenizer& tok() const { return hold.model->tokenizer(); }

  // Applies one event to its choice. Sets a step's new text and log-probabilities (for a
  // stream; null for an answer sent whole, which reads them from the choice).
  void apply(const ChoiceEvent& ev, std::string* text = nullptr, std::vector<engine::TokenLogprob>* lps = nullptr) {
    ChoiceState& c = choices[ev.index];
    if (ev.done) {
      c.done = true;
      c.timings = ev.result.timings;
      if (ev.result.reason == engine::FinishReason::kError) {
        c.reason = engine::FinishReason::kError;
        c.error = ev.result.error;
      } else if (c.reason == engine::FinishReason::kNone) {
        c.reason = ev.result.reason;
      }
      return;
    }
    if (first_token_s < 0) first_token_s = plan.since_request.elapsed_s();
    const engine::StepOutput& s = ev.step;
    if (!s.prompt_logprobs.empty()) c.prefix_logprobs = s.prompt_logprobs;  // first step only
    if (text) *text = s.text;
    c.text += s.text;
    if (s.logprob && step_is_content(s, tok(), plan.params.ignore_eos)) {
      if (lps) lps->push_back(*s.logprob);
      c.logprobs.push_back(*s.logprob);
    }
    if (s.finished) c.reason = s.reason;
  }

  Json head(bool chunk) const {
    Json j;
    j["id"] = plan.response_id;
    j["object"] = format->object_name(chunk);
    j["created"] = plan.created;
    j["model"] = plan.model_id;
    j["system_fingerprint"] = "hangar";
    return j;
  }

  std::vector<engine::RequestTimings> timings() const {
    std::vector<engine::RequestTimings> t;
    for (const auto& c : choices) t.push_back(c.timings);
    return t;
  }

  // Token counts as OpenAI bills them: with n > 1 a prompt (and what of it was cached, and of
  // that what came from the disk store) counts once.
  struct Usage {
    int64_t prompt = 0, completion = 0, cached = 0, disk = 0;
  };
  Usage count_usage() const {
    Usage u;
    std::vector<bool> seen(plan.prompts.size() + 1, false);
    for (size_t i = 0; i < choices.size(); ++i) {
      u.completion += choices[i].timings.generated_tokens;
      const int p = plan.prompt_of_choice[i];
      if (seen[p]) continue;
      seen[p] = true;
      u.prompt += static_cast<int64_t>(plan.prompts[i].size());
      u.cached += choices[i].timings.cached_tokens;
      u.disk += choices[i].timings.disk_tokens;
    }
    return u;
  }
  Json usage() const {
    const Usage u = count_usage();
    return usage_json(u.prompt, u.completion, u.cached);
  }

  const ChoiceState* first_error() const {
    for (const auto& c : choices)
      if (c.reason == engine::FinishReason::kError) return &c;
    return nullptr;
  }

  void record_metrics() {
    GenerationSample s;
    s.model = plan.model_id;
    s.endpoint = format->endpoint();
    s.outcome = first_error() ? "error" : client_gone ? "cancelled" : "ok";
    const Usage u = count_usage();
    s.prompt_tokens = u.prompt;
    s.cached_tokens = u.cached;
    s.disk_tokens = u.disk;  // of cached_tokens, as the metric says
    s.generated_tokens = u.completion;
    s.ttft_s = first_token_s;
    s.decode_tps = timings_json(timings())["predicted_per_second"].get<double>();
    ctx->metrics.record_generation(s);
  }
};

void respond_collected(Run& run, const httplib::Request& req, httplib::Response& res) {
  run.client_gone = !collect_events(*run.ctx, req, *run.job, [&](ChoiceEvent& ev) { run.apply(ev); });
  if (run.client_gone) {
    send_error(res, api_error(499, "the client closed the connection"));  // nobody reads it
    return;
  }
  if (const ChoiceState* err = run.first_error()) {
    send_error(res, server_error("generation failed: " + err->error));
    return;
  }
  Json body = run.head(false);
  body["choices"] = Json::array();
  for (size_t i = 0; i < run.choices.size(); ++i)
    body["choices"].push_back(run.format->final_choice(static_cast<int>(i), run.choices[i]));
  body["usage"] = run.usage();
  auto t = run.timings();
  body["timings"] = timings_json(t);
  ProfileScope scope(run.ctx->options.profiler, "http: build response");
  send_json(res, 200, body);
}

// Writes the whole stream; returns false when the client went away.
bool write_stream(Run& run, httplib::DataSink& sink) {
  auto write = [&](const std::string& s) {
    ProfileScope scope(run.ctx->options.profiler, "http: write stream");
    return sink.write(s.data(), s.size());
  };
  auto chunk = [&](Json choice) {
    Json c = run.head(true);
    c["choices"] = Json::array({std::move(choice)});
    if (run.plan.include_usage) c["usage"] = nullptr;
    return sse_event(c);
  };
  // A choice's opening chunk (the echo) goes first, or, when the prompt is scored, once its
  // log-probabilities have come with the first step.
  std::vector<bool> opened(run.choices.size(), false);
  auto open = [&](size_t i) {
    opened[i] = true;
    Json o = run.format->stream_open(static_cast<int>(i), run.choices[i]);
    return o.is_null() || write(chunk(std::move(o)));
  };
  for (size_t i = 0; i < run.choices.size(); ++i)
    if (run.choices[i].prefix_first_token < 0 && !open(i)) return false;
  ChoiceEvent ev;
  while (run.job->next(&ev)) {
    if (run.ctx->stopping) run.job->cancel();
    std::string text;
    std::vector<engine::TokenLogprob> lps;
    ChoiceState& c = run.choices[ev.index];
    const size_t offset = c.prefix.size() + c.text.size();
    run.apply(ev, &text, &lps);
    if (!ev.done && !opened[ev.index] && !open(ev.index)) return false;
    if (!ev.done) {
      if (text.empty() && lps.empty()) continue;  // held back (partial UTF-8 or a stop prefix)
      Json delta = run.format->stream_choice(ev.index, text, lps, offset, nullptr);
      if (delta.is_null()) continue;  // the format holds the text back for now
      if (!write(chunk(std::move(delta)))) return false;
      continue;
    }
    if (c.reason == engine::FinishReason::kError) {
      ApiError e = server_error("generation failed: " + c.error);
      if (!write(sse_event(e.to_json()))) return false;
      continue;
    }
    Json last = run.format->stream_choice(ev.index, "", {}, offset, finish_reason_json(c.reason));
    Json out = run.head(true);
    out["choices"] = Json::array({std::move(last)});
    if (run.plan.include_usage) out["usage"] = nullptr;
    out["timings"] = timings_json({&c.timings, 1});
    if (!write(sse_event(out))) return false;
  }
  // Every choice is done: let go of the model before the client can see the end of the
  // stream, so that its next request finds the model idle (and evictable). Only the plan and
  // the counts are needed from here on.
  run.job.reset();
  run.hold.lease.release();
  run.hold.model = nullptr;
  if (run.plan.include_usage) {
    Json u = run.head(true);
    u["choices"] = Json::array();
    u["usage"] = run.usage();
    auto t = run.timings();
    u["timings"] = timings_json(t);
    if (!write(sse_event(u))) return false;
  }
  if (!write(sse_done())) return false;
  sink.done();
  return true;
}

// A prompt check's refusal, the same before the model is held (token ids against the header)
// and after (the tokenized prompts against the loaded model).
ApiError prompt_refusal(const engine::PromptError& bad) {
  if (bad.kind == engine::PromptError::Kind::kTooLong)
    return bad_request("prompt", bad.message + " (start the server with a larger --ctx)", "context_length_exceeded");
  return bad_request("prompt", bad.message);
}

}  // namespace

bool collect_events(ServerContext& ctx, const httplib::Request& req, GenerationJob& job,
                    const std::function<void(ChoiceEvent&)>& on_event) {
  // A stream finds out that its client went away when a write fails; an answer sent whole
  // asks the listener, which is a lock and a poll: not at every token.
  constexpr std::chrono::milliseconds kClientCheck{100};
  auto last_check = std::chrono::steady_clock::now() - kClientCheck;  // check at the first wake-up
  bool client_gone = false, cancelled = false;
  ChoiceEvent ev;
  for (;;) {
    const GenerationJob::Wait w = job.next_for(&ev, kClientCheck);
    if (w == GenerationJob::Wait::kFinished) break;
    const auto now = std::chrono::steady_clock::now();
    if (now - last_check >= kClientCheck && !client_gone) {
      last_check = now;
      client_gone = !ctx.client_connected(req);
      if (client_gone) log_debug("client of " + req.path + " went away; generation cancelled");
    }
    if (!cancelled && (client_gone || ctx.stopping)) {
      cancelled = true;
      job.cancel();
    }
    if (w == GenerationJob::Wait::kEvent) on_event(ev);
  }
  return !client_gone;
}

void GenerationPlan::add_prompt(const std::vector<int32_t>& tokens, int n, int prompt, const std::string& prefix) {
  for (int i = 0; i < n; ++i) {
    prompts.push_back(tokens);
    prompt_of_choice.push_back(prompt);
    prefixes.push_back(prefix);
  }
}

void GenerationPlan::take_common(const std::string& model, const CommonParams& common, const char* id_prefix) {
  model_id = model;
  params = common.gen;
  stream = common.stream;
  include_usage = common.include_usage;
  response_id = make_response_id(id_prefix);
  created = unix_time_s();
}

void GenerationPlan::constrain(std::shared_ptr<const grammar::Grammar> g, const manager::EngineModel& model) {
  params.constraint = bind_grammar(model, std::move(g));
}

MaybeError hold_model_for(ServerContext& ctx, const std::string& model, const CommonParams& common,
                          ModelHold* hold, std::span<const PromptInput> prompts) {
  // Everything the model's header can answer is checked before the model is acquired, so a bad
  // request never loads a model (nor evicts another) just to be refused. Text prompts need the
  // tokenizer, so they are checked once the model is held (validate_prompts).
  Result<manager::AdmissionFigure> figure = ctx.manager.cache().admission(resolve_model_name(ctx, model));
  if (!figure.ok()) return not_found("The model '" + model + "' does not exist", "model_not_found");
  const manager::LoadPlan& plan = figure->plan;
  if (plan.n_vocab > 0) {
    if (MaybeError e = validate_for_model(common, plan.n_vocab)) return e;
    for (const PromptInput& p : prompts)
      if (p.is_tokens && plan.n_ctx > 0)
        if (std::optional<engine::PromptError> bad = engine::check_prompt(p.tokens, plan.n_vocab, plan.n_ctx))
          return prompt_refusal(*bad);
  }
  return acquire_model(ctx, model, common.keep_alive_ms, hold);
}

MaybeError check_prompt_bytes(const std::string& text, const manager::EngineModel& model, const std::string& param) {
  const int64_t n_ctx = model.n_ctx();
  if (static_cast<int64_t>(text.size()) < n_ctx) return std::nullopt;  // at most one token per byte
  const Tokenizer& tok = model.tokenizer();
  int64_t kept = static_cast<int64_t>(text.size());  // bytes no tokenization drops
  if (tok.strips_whitespace())
    kept = std::count_if(text.begin(), text.end(), [](char c) { return !std::isspace(static_cast<unsigned char>(c)); });
  const auto longest = static_cast<int64_t>(tok.longest_token_bytes());
  const int64_t at_least = (kept + longest - 1) / longest;
  if (at_least < n_ctx) return std::nullopt;
  return bad_request(param,
                     "the prompt (" + std::to_string(text.size()) + " bytes) needs at least " + std::to_string(at_least) +
                         " tokens, which does not fit the context of " + std::to_string(n_ctx) +
                         " tokens (start the server with a larger --ctx)",
                     "context_length_exceeded");
}

MaybeError validate_prompts(const GenerationPlan& plan, const manager::EngineModel& model) {
  for (const std::vector<int32_t>& p : plan.prompts) {
    if (std::optional<engine::PromptError> bad = engine::check_prompt(p, model.n_vocab(), model.n_ctx()))
      return prompt_refusal(*bad);
  }
  return std::nullopt;
}

void run_generation(ServerContext& ctx, const httplib::Request& req, ModelHold hold, GenerationPlan plan,
                    std::unique_ptr<OutputFormat> format, httplib::Response& res) {
  auto run = std::make_shared<Run>();
  run->ctx = &ctx;
  run->hold = std::move(hold);
  run->plan = std::move(plan);
  run->format = std::move(format);
  run->choices.resize(run->plan.prompts.size());
  for (size_t i = 0; i < run->choices.size(); ++i) {
    run->choices[i].prefix = run->plan.prefixes[i];
    if (run->plan.params.prompt_logprobs >= 0) run->choices[i].prefix_first_token = run->plan.prompts[i].front();
  }
  run->job = std::make_unique<GenerationJob>(run->hold.model->scheduler());
  for (size_t i = 0; i < run->plan.prompts.size(); ++i)
    run->job->submit(static_cast<int>(i), run->plan.prompts[i], run->plan.params);

  if (!run->plan.stream) {
    respond_collected(*run, req, res);
    return;
  }
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider(
      "text/event-stream",
      [run](size_t, httplib::DataSink& sink) {
        if (write_stream(*run, sink)) return true;
        run->client_gone = true;
        if (run->job) run->job->cancel();  // null once every choice is done
        log_debug("client of " + run->plan.response_id + " went away; generation cancelled");
        return false;
      },
      [run](bool success) {
        if (!success) {
          run->client_gone = true;
          if (run->job) run->job->cancel();  // null once every choice is done
        }
      });
}

}  // namespace hangar::api
