// Tool calls in model output: the format a chat template teaches, parsing whole and streamed text.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "api/request.h"

namespace hangar::api {

enum class ToolFormat {
  kNone,         // the template does not render tools
  kHermes,       // <tool_call>{"name": ..., "arguments": {...}}</tool_call> (Qwen 2.5/3, Hermes)
  kQwenXml,      // <tool_call><function=name><parameter=p>value</parameter></function></tool_call>
  kLlama3,       // {"name": ..., "parameters": {...}}, the whole answer (Llama 3.1-3.3)
  kMistral,      // [TOOL_CALLS][{"name": ..., "arguments": {...}}, ...] (Mistral v3: Nemo, 7B v0.3)
  kMistralArgs,  // [TOOL_CALLS]name[ARGS]{...} (Mistral Small 3.2, Devstral, Ministral 3)
  kGeneric,      // renders tools in a way we do not know: any of the above is recognised
};
const char* tool_format_name(ToolFormat f);

// The format a template's source teaches (its own rendering of tool calls); kNone when
// `renders_tools` is false (the template ignores the tools it is given).
ToolFormat detect_tool_format(std::string_view template_source, bool renders_tools);

// The texts of markers that may be special tokens and must then be kept in the output text
// (e.g. "[TOOL_CALLS]", "<|python_tag|>"). Static: the streamer looks at them for every token.
std::span<const std::string_view> tool_markers(ToolFormat f);

struct ToolCall {
  std::string id;         // "call_..." unless the model gave one
  std::string name;
  std::string arguments;  // compact JSON text, as OpenAI sends it
};

struct ToolParse {
  std::string content;  // what is not a tool call
  std::vector<ToolCall> calls;
};

// Parses a whole output. Text that is not a well-formed call (a marker without valid JSON,
// say) stays content, so nothing the model wrote is lost. `tools` (the request's, may be
// null) types Qwen XML parameter values: strings stay strings, other types are read as JSON.
ToolParse parse_tool_calls(ToolFormat f, std::string_view text, const Json& tools);

// Parses text as it streams in: content is passed on as soon as it cannot be the start of a
// call (a partial marker at the end is held back), and calls are passed on once complete.
// push() and finish() together give what parse_tool_calls gives for the whole text.
class ToolCallStreamer {
 public:
  ToolCallStreamer(ToolFormat f, Json tools) : format_(f), tools_(std::move(tools)) {}
  // New text; returns the content and calls that are now certain.
  ToolParse push(std::string_view text);
  // The end of the output: everything not yet passed on.
  ToolParse finish();
  // Calls passed on so far.
  size_t n_calls() const { return n_calls_; }

 private:
  ToolFormat format_;
  Json tools_;
  std::string pending_;   // text not yet passed on
  bool in_calls_ = false;  // a marker was seen: the rest is calls (and trailing content)
  bool started_ = false;   // some non-blank text was seen
  // Hermes-style blocks: pending_[0, scanned_) holds no end tag (each token's text is searched
  // once, not the whole block again), and a first block that closed without a well-formed call
  // stays first until the end, so nothing more is parsed before finish().
  size_t scanned_ = 0;
  bool malformed_ = false;
  size_t n_calls_ = 0;
};

}  // namespace hangar::api
