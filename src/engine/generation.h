// GenerationState: per-request decoding state (sampler, stop strings, streaming text, limits).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "grammar/matcher.h"
#include "sampling/sampler.h"
#include "sampling/stop_matcher.h"
#include "tokenizer/tokenizer.h"

namespace hangar::engine {

// How an embedding request turns its prompt's hidden states into one vector: their mean, the
// first token's (CLS) or the last token's. kNone: a generation.
enum class Pooling { kNone, kMean, kCls, kLast };

struct GenerationParams {
  SamplingParams sampling;
  int32_t max_tokens = -1;          // -1: until the context is full
  std::vector<std::string> stop;    // stop strings (not included in the output)
  bool ignore_eos = false;          // keep going past end-of-generation tokens
  int32_t top_logprobs = -1;        // -1: no log-probabilities; k >= 0: the sampled token's and k best
  // k >= 0: also score the prompt (completions' echo with logprobs): each prompt token's
  // log-probability after the tokens before it, and the k best there, on the first step.
  int32_t prompt_logprobs = -1;
  // Structured output: only tokens the grammar allows are sampled, an end-of-generation token
  // only where the text is complete (then it always ends, ignore_eos or not), and generation
  // stops by itself when nothing may follow. Null: unconstrained.
  std::shared_ptr<const grammar::Constraint> constraint;
  // Special tokens whose text is part of the output (tool-call markers such as Mistral's
  // [TOOL_CALLS]); other special tokens stay silent.
  std::vector<int32_t> preserved_tokens;
  // Embedding requests (not kNone): nothing is sampled; the prompt's final-normed hidden states
  // are pooled into RequestResult::embedding and the request ends with its prompt.
  Pooling pooling = Pooling::kNone;
};

enum class FinishReason { kNone, kStop, kLength, kCancelled, kError };
const char* finish_reason_name(FinishReason r);  // OpenAI's "stop", "length", ...

struct TokenLogprob {
  int32_t token = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // best first
};

// What one step produced.
struct StepOutput {
  int32_t token = -1;       // the sampled token (also when it ended generation)
  std::string text;         // text that may be shown now
  bool finished = false;
  FinishReason reason = FinishReason::kNone;
  std::optional<TokenLogprob> logprob;
  // First step only, with params.prompt_logprobs >= 0: one entry per prompt token after the
  // first (the first token has nothing before it to be predicted from).
  std::vector<TokenLogprob> prompt_logprobs;
};

// Not thread-safe; one per sequence.
class GenerationState {
 public:
  GenerationState(const Tokenizer& tok, const GenerationParams& params, int32_t n_vocab);

  // Samples the next token from the logits after the sequence's last token and advances the
  // stop-string and text state. `room` is how many more tokens fit in the context.
  StepOutput step(const float* logits, int32_t room);
  // Adds prompt tokens to the penalty history (llama.cpp counts them too).
  void accept_prompt(const std::vector<int32_t>& prompt);

  int32_t n_generated() const { return n_generated_; }
  const std::vector<int32_t>& generated() const { return generated_; }
  const std::string& text() const { return text_; }  // everything emitted so far
  bool finished() const { return finished_; }
  FinishReason reason() const { return reason_; }
  // Why a generation ended with kError ("" otherwise).
  const std::string& error() const { return error_; }
  void cancel();

 private:
  std::string finish(FinishReason reason);
  // Draws the next token, through the grammar's mask when there is one; -1 when the grammar
  // allows no token of this vocabulary (finished with kError).
  int32_t draw(const float* logits);

  const Tokenizer& tok_;
  GenerationParams params_;
  int32_t n_vocab_;
  Sampler sampler_;
  StopMatcher stops_;
  StreamingDetokenizer detok_;
  std::optional<grammar::Matcher> matcher_;
  std::vector<uint64_t> mask_;
  std::string error_;
  std::vector<int32_t> generated_;
  std::string text_;
  int32_t n_generated_ = 0;
  bool finished_ = false;
  FinishReason reason_ = FinishReason::kNone;
};

}  // namespace hangar::engine
