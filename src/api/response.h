// Response pieces shared by the OpenAI routes: ids, usage, timings and log-probabilities.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "api/request.h"
#include "engine/generation.h"
#include "engine/scheduler.h"
#include "tokenizer/tokenizer.h"

namespace hangar::api {

// "<prefix>-" and 24 random hex digits, like OpenAI's "chatcmpl-..." ids. Thread-safe.
std::string make_response_id(const std::string& prefix);

// OpenAI's usage object; cached_tokens (prompt tokens reused from the KV cache) goes in
// prompt_tokens_details as OpenAI reports its prompt caching.
Json usage_json(int64_t prompt_tokens, int64_t completion_tokens, int64_t cached_tokens);

// llama.cpp's "timings" object, for one choice or summed over several that ran together:
// token counts add up, durations take the longest (the choices ran concurrently), and the
// rates follow from those. Fields: cache_n (reused prefix tokens), prompt_n (computed prompt
// tokens), prompt_ms, prompt_per_token_ms, prompt_per_second, predicted_n, predicted_ms,
// predicted_per_token_ms, predicted_per_second (tokens after the first / decode time).
Json timings_json(std::span<const engine::RequestTimings> timings);

// Whether a step's token is part of the answer: an end-of-generation token that stopped the
// generation is not (OpenAI lists no logprob for it).
bool step_is_content(const engine::StepOutput& step, const Tokenizer& tok, bool ignore_eos);

// Chat logprobs: {"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}]}.
Json chat_logprobs_json(const Tokenizer& tok, std::span<const engine::TokenLogprob> lps);
// Completions logprobs: {tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset},
// offsets counted in bytes from `text_offset` (where this text starts in the choice's text).
Json completion_logprobs_json(const Tokenizer& tok, std::span<const engine::TokenLogprob> lps,
                              size_t text_offset);

// Completions logprobs of an echoed prompt: its first token (no logprob: nothing precedes it)
// and the scored others, offsets from 0 over the prompt's text (pieces without special-token
// text, as the echo shows it).
Json completion_prompt_logprobs_json(const Tokenizer& tok, int32_t first_token,
                                     std::span<const engine::TokenLogprob> lps);
// `a` followed by `b` (two completions logprobs objects), field by field.
Json concat_completion_logprobs(Json a, const Json& b);

// The finish_reason of a finished choice as OpenAI names it ("stop", "length").
const char* finish_reason_json(engine::FinishReason reason);

}  // namespace hangar::api
