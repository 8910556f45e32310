// Request parsing: OpenAI chat/completion bodies to typed, validated requests (400s name the field).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/api_error.h"
#include "engine/generation.h"
#include "grammar/grammar.h"

namespace hangar::api {

// Bodies keep the client's key order: templates print tools and arguments with tojson.
using Json = nlohmann::ordered_json;

// Parses a request body; a 400 when it is not JSON or not a JSON object.
MaybeError parse_json_body(const std::string& body, Json* out);

// Ollama's keep_alive: a duration string ("5m", "30s", "1h", "-1", "0") or a number of seconds
// (negative: never unload). Sets `out` only when the field is present and not null.
MaybeError parse_keep_alive(const Json& body, std::optional<int64_t>* out);

// What chat and completion requests share.
struct CommonParams {
  engine::GenerationParams gen;  // sampling (llama.cpp's defaults), max_tokens, stop, ignore_eos
  int n = 1;                     // choices per prompt
  bool stream = false;
  bool include_usage = false;    // stream_options.include_usage
  std::optional<int64_t> keep_alive_ms;
  // response_format json_object / json_schema, compiled; null for text.
  std::shared_ptr<const grammar::Grammar> grammar;
};

// tool_choice: "auto" (the model decides), "none" (no calls are read from the output),
// "required" (the output is constrained to calls), or one named function (constrained to it).
struct ToolChoice {
  enum class Kind { kAuto, kNone, kRequired, kFunction };
  Kind kind = Kind::kAuto;
  std::string function;  // kFunction
};

struct ChatRequest {
  std::string model;
  Json messages;                 // non-empty array; its entries are checked by the template
  Json tools;                    // null or an array of {type: "function", function: {name, ...}}
  ToolChoice tool_choice;
  bool parallel_tool_calls = true;
  bool add_generation_prompt = true;
  Json chat_template_kwargs;     // extra template variables (llama.cpp's extension), or null
  bool logprobs = false;
  int top_logprobs = 0;          // 0..20, only with logprobs
  CommonParams common;
};

// One prompt: text, or token ids when the client sent an array of integers.
struct PromptInput {
  bool is_tokens = false;
  std::string text;
  std::vector<int32_t> tokens;
};

struct CompletionRequest {
  std::string model;
  std::vector<PromptInput> prompts;  // a string, an array of token ids, or a list of either
  bool echo = false;
  int logprobs = -1;                 // -1: none; k in 0..20: the sampled token's and k best
  CommonParams common;
};

// The field `param` as one input or a batch: a string, an array of token ids, or an array of
// those (completions' prompt, embeddings' input); at most `max_inputs`. A 400 naming `param`.
MaybeError parse_inputs(const Json& body, const std::string& param, size_t max_inputs, std::vector<PromptInput>* out);

// Each returns the first invalid field as a 400 naming it (param) and what was expected.
// Unknown fields are ignored, as OpenAI-compatible servers do; known ones that cannot be
// honoured (a JSON schema with an unsupported keyword, suffix, best_of > 1) are refused.
MaybeError parse_chat_request(const Json& body, ChatRequest* out);
MaybeError parse_completion_request(const Json& body, CompletionRequest* out);

// Checks what needs the loaded model: token ids (logit_bias) inside the vocabulary, then the
// sampler's own validation. A 400 naming the field.
MaybeError validate_for_model(const CommonParams& params, int32_t n_vocab);

}  // namespace hangar::api
