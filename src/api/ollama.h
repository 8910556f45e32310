// Ollama's API: what its generation and model routes share (errors, times, request mapping).
#pragma once

#include <httplib.h>

#include <cstdint>
#include <string>

#include "api/context.h"

namespace hangar::api {

// Ollama's error shape, {"error": "..."}, with the status of `e` (and its Retry-After).
void send_ollama_error(httplib::Response& res, const ApiError& e);

// Now, or a unix time in ms, in RFC 3339 in UTC with milliseconds ("2026-12-04T22:47:15.123Z");
// Ollama writes nanoseconds, which its clients parse alike.
std::string rfc3339_now();
std::string rfc3339_from_ms(int64_t unix_ms);

// Ollama names models "name:tag"; ours are file names. "x:latest" is x, and so is "x".
std::string ollama_model_name(const std::string& name);

// Maps Ollama's generation fields onto the OpenAI body our parsers read: `options`
// (temperature, top_k, top_p, min_p, seed, num_predict, stop, repeat_penalty, repeat_last_n,
// presence_penalty, frequency_penalty; others are ignored, as Ollama ignores what a runner
// does not use), `format` ("json" or a JSON schema), `keep_alive`, `stream` (true unless
// given) and `think` (the template's enable_thinking). A 400 naming the field.
MaybeError ollama_to_openai(const Json& body, Json* openai);

}  // namespace hangar::api
