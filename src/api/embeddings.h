// Embeddings: pooled, normalised hidden states of inputs, shared by OpenAI's and Ollama's routes.
#pragma once

#include <httplib.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/context.h"
#include "engine/generation.h"

namespace hangar::api {

// OpenAI's limit on inputs per request (Ollama's /api/embed takes it too).
constexpr size_t kMaxEmbeddingInputs = 2048;

struct EmbeddingRequest {
  std::string model;
  std::vector<PromptInput> inputs;         // at least one
  bool base64 = false;                     // encoding_format "base64": little-endian float32 bytes
  int32_t dimensions = 0;                  // > 0: the first `dimensions` values, renormalised
  engine::Pooling pooling = engine::Pooling::kNone;  // kNone: as the model's file says
  bool normalize = true;                   // L2-normalised, as OpenAI's and llama.cpp's are
  bool truncate = false;                   // inputs past the context are cut (Ollama), else a 400
  std::optional<int64_t> keep_alive_ms;
};

// OpenAI's body: model, input (a string, strings, token ids or arrays of them), encoding_format
// (float or base64), dimensions, and our `pooling` (mean, cls or last). A 400 naming the field.
MaybeError parse_embedding_request(const Json& body, EmbeddingRequest* out);

// A `pooling` field ("mean", "cls", "last") into `out`; absent or null leaves it. A 400 naming it.
MaybeError parse_pooling(const Json& body, engine::Pooling* out);

struct EmbeddingResult {
  std::string model_id;
  std::vector<std::vector<float>> vectors;  // one per input, in input order
  int64_t prompt_tokens = 0;
  double load_ms = 0;   // acquiring the model (loading it when it was not resident)
  double total_ms = 0;
};

// Acquires the model, tokenizes every input (special tokens parsed, BOS/EOS as the vocabulary
// says, like llama.cpp's embeddings), runs them all through the model's scheduler (they share
// forward passes, up to --parallel at a time), pools each as asked or as the file's
// <arch>.pooling_type says (mean when it says nothing or "none"; a rank model is refused), then
// truncates to `dimensions` and normalises. A client that goes away cancels the work (499); a
// stopping server cuts it (503 shutting_down, Retry-After).
// Errors are the responses to send.
MaybeError compute_embeddings(ServerContext& ctx, const httplib::Request& req, const EmbeddingRequest& r,
                              EmbeddingResult* out);

// Standard base64 of the vector's float32 bytes, little-endian (OpenAI's encoding_format).
std::string base64_floats(const std::vector<float>& v);

}  // namespace hangar::api
