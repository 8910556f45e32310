// Server-sent events as OpenAI streams them: "data: <json>\n\n" events ending with "data: [DONE]".
#pragma once

#include <string>

#include "api/request.h"

namespace hangar::api {

// Serialises a response body. Text that is not valid UTF-8 (a token's raw bytes in logprobs)
// becomes U+FFFD instead of failing, so a response can always be written.
std::string dump_json(const Json& value);

// One event carrying `payload` as its data line.
std::string sse_event(const Json& payload);
// The terminator OpenAI clients wait for.
std::string sse_done();

}  // namespace hangar::api
