// The generation flow shared by chat and completions: submit, then stream (SSE) or collect.
#pragma once

#include <httplib.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "api/context.h"
#include "base/clock.h"
#include "engine/generation.h"
#include "engine/scheduler.h"

namespace hangar::api {

// One choice as it accumulates.
struct ChoiceState {
  std::string text;                            // everything emitted (after the echo prefix)
  std::string prefix;                          // completions' echo: the prompt text shown first
  std::vector<engine::TokenLogprob> logprobs;  // only when asked for
  // Completions' echo with logprobs: the prompt's first token (-1: not scored) and the
  // log-probabilities of the others, which arrive with the first step.
  int32_t prefix_first_token = -1;
  std::vector<engine::TokenLogprob> prefix_logprobs;
  engine::FinishReason reason = engine::FinishReason::kNone;
  std::string error;
  engine::RequestTimings timings;
  bool done = false;
};

// What differs between the endpoints: the JSON shape of chunks and responses.
class OutputFormat {
 public:
  virtual ~OutputFormat() = default;
  virtual const char* endpoint() const = 0;                 // "chat" or "completions" (metrics)
  virtual const char* object_name(bool chunk) const = 0;    // "chat.completion.chunk", ...
  // Streaming: the first chunk of a choice's stream, or null for none.
  virtual Json stream_open(int index, const ChoiceState& c) const = 0;
  // Streaming: new text and the log-probabilities of its tokens; `finish` is null until the
  // choice ends. `offset` is where `text` starts in prefix + text (completions' text_offset).
  // Null (before the end): nothing to send yet.
  virtual Json stream_choice(int index, const std::string& text, std::span<const engine::TokenLogprob> lps,
                             size_t offset, const char* finish) const = 0;
  // Non-streaming: one finished choice.
  virtual Json final_choice(int index, const ChoiceState& c) const = 0;
};

// What one request asks to generate, after parsing, templating and tokenization.
struct GenerationPlan {
  std::string model_id;
  std::vector<std::vector<int32_t>> prompts;  // per choice (a prompt repeats for n > 1)
  std::vector<int> prompt_of_choice;          // which distinct prompt each choice uses
  std::vector<std::string> prefixes;          // per choice: text shown before the output (echo)
                                              // (all three filled by add_prompt)
  engine::GenerationParams params;
  bool stream = false;
  bool include_usage = false;
  std::string response_id;
  int64_t created = 0;           // unix seconds
  Stopwatch since_request;       // started when the request arrived (time to first token)

  // Appends `n` choices of one tokenized prompt (index `prompt` among the request's prompts),
  // each shown after `prefix` (completions' echo; empty for chat).
  void add_prompt(const std::vector<int32_t>& tokens, int n, int prompt, const std::string& prefix = "");
  // What chat and completions take alike from the request: model, sampling and stream options,
  // a fresh "<id_prefix>-..." response id and the creation time.
  void take_common(const std::string& model, const CommonParams& common, const char* id_prefix);
  // Constrains every choice to `g` (null: no constraint) with the model's token data.
  void constrain(std::shared_ptr<const grammar::Grammar> g, const manager::EngineModel& model);
};

// The start both generation routes share: checks the request's sampling parameters and the
// prompts given as token ids against the model's header (vocabulary, context) first, then
// acquires `model` (loading it or waiting for memory if needed), so a request refused for what
// the header can answer never loads a model nor evicts another. Errors are the responses to send.
MaybeError hold_model_for(ServerContext& ctx, const std::string& model, const CommonParams& common,
                          ModelHold* hold, std::span<const PromptInput> prompts = {});

class GenerationJob;
struct ChoiceEvent;

// Takes every event of `job` for an answer sent whole, giving each to `on_event` (which may
// move out of it), until every choice is done. Every 100 ms at most it asks whether the client of `req` is still connected
// and cancels the job when it is not; a stopping server cancels the job too, and the answer
// then carries what was generated. Returns false when the client went away (its answer, a 499,
// has nobody to read it). Shared by the OpenAI and Ollama routes.
bool collect_events(ServerContext& ctx, const httplib::Request& req, GenerationJob& job,
                    const std::function<void(ChoiceEvent&)>& on_event);

// Submits every choice to the model's scheduler and answers: one JSON response, or an SSE
// stream of chunks ending with "data: [DONE]" (an error mid-stream is sent as a data event
// holding OpenAI's error object). A client that disconnects cancels the generation, streamed
// or not (`req` identifies the client). Records the request in ctx.metrics. Takes over the
// model hold: the lease is released once every choice is done, before the response's last
// byte, so a client that waits for its answer never finds the model still held.
void run_generation(ServerContext& ctx, const httplib::Request& req, ModelHold hold, GenerationPlan plan,
                    std::unique_ptr<OutputFormat> format, httplib::Response& res);

// A bound checked before tokenizing `text` (tokenizing megabytes takes seconds): every token
// covers at most its own text's length of the input, and input vanishes only where special
// tokens strip the whitespace beside them, so a text whose (other) bytes need at least the
// context's length in tokens cannot fit. A 400 (context_length_exceeded) naming `param`.
MaybeError check_prompt_bytes(const std::string& text, const manager::EngineModel& model, const std::string& param);

// Checks the prompts against the loaded model with engine::check_prompt (the scheduler's own
// check): non-empty, token ids inside the vocabulary, shorter than its context. A 400 naming
// the prompt.
MaybeError validate_prompts(const GenerationPlan& plan, const manager::EngineModel& model);

}  // namespace hangar::api
