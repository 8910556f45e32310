// Chat templates: renders an OpenAI-style conversation through a model's
// tokenizer.chat_template exactly as llama.cpp's server (--jinja) does.
#pragma once

#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "chat/template.h"

namespace hangar::chat {

// What one request renders. JSON is ordered_json so tools and arguments keep the client's
// key order when a template prints them with tojson.
struct ChatTemplateInputs {
  // OpenAI-style messages: role, content (string, null or list of {type: "text", text}),
  // optional tool_calls, name, tool_call_id, reasoning_content.
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools;  // null, or an array of {type: "function", function: {...}}
  bool add_generation_prompt = true;
  // Think when the template is a reasoning one (ChatTemplateCaps::supports_thinking), as
  // llama.cpp's server does by default; chat_template_kwargs can still set it either way.
  bool enable_thinking = true;
  // Keep earlier turns' reasoning in the prompt (llama.cpp's --reasoning-preserve, on by
  // default): sets preserve_reasoning/preserve_thinking and clears clear_thinking,
  // drop_thinking and truncate_history_thinking, the knobs templates use for this.
  bool preserve_reasoning = true;
  std::string bos_token;
  std::string eos_token;
  // The tokenizer adds BOS/EOS itself (the vocab's add_bos/add_eos): like llama.cpp, strip a
  // leading bos_token / trailing eos_token the template printed, so they are not doubled.
  bool add_bos = false;
  bool add_eos = false;
  // Local time that strftime_now(), date_string and datetime report; nullopt means now.
  std::optional<std::tm> now;
  // Extra template variables (chat_template_kwargs), e.g. {"enable_thinking": false};
  // they override the defaults above.
  nlohmann::ordered_json extra_context;
};

// What a template can render, found by probing it with small conversations the way
// llama.cpp does (its system-role polyfill depends on this).
struct ChatTemplateCaps {
  bool supports_system_role = true;
  bool supports_string_content = true;    // false: content must be a list of typed parts
  bool supports_object_arguments = true;  // false: tool-call arguments stay JSON text
  bool supports_thinking = false;         // a reasoning template: it gets enable_thinking = true
  bool supports_tools = false;            // the tools it is given reach its output
};

// A parsed chat template with its capabilities; immutable and thread-safe to apply.
class ChatTemplate {
 public:
  // Parses `source` (after llama.cpp's two compatibility patches for gpt-oss and Mistral
  // templates) and probes its capabilities with a few small renders under one shared budget;
  // a template that exceeds it is refused here, once, instead of on every request.
  static Result<ChatTemplate> parse(std::string_view source);

  // Renders `in`. Errors: malformed messages ("messages[2]: expected a 'role' string"), or the
  // template's own runtime error, e.g. raise_exception("Conversation roles must alternate").
  Result<std::string> apply(const ChatTemplateInputs& in) const;

  const ChatTemplateCaps& caps() const { return caps_; }
  const Template& tmpl() const { return tmpl_; }
  // How many renders parse() spent probing.
  int probe_renders() const { return probe_renders_; }

 private:
  // How a family's template wants the messages reshaped before it renders them; read from the
  // source once, at parse, not at every request.
  struct Quirks {
    bool developer_as_system = true;  // all but gpt-oss: "developer" renders as "system"
    bool thinking_field = false;      // gpt-oss: tool-calling turns' reasoning in "thinking"
    bool ministral_blocks = false;    // Ministral without [CALL_ID]: calls and results as blocks
    bool gemma4 = false;              // Gemma 4: a model turn opens after a tool-call turn
    bool gemma4_fold = false;         // Gemma 4's first templates: tool results in the calling turn
  };
  static Quirks quirks_of(std::string_view source);

  ChatTemplate(Template tmpl, ChatTemplateCaps caps, int probe_renders)
      : tmpl_(std::move(tmpl)), caps_(caps), quirks_(quirks_of(tmpl_.source())), probe_renders_(probe_renders) {}
  // Builds the template globals from normalised messages/tools and renders; may throw
  // RenderError.
  Result<std::string> render_with(const nlohmann::ordered_json& messages, const nlohmann::ordered_json& tools,
                                  const std::tm& now, const ChatTemplateInputs& in) const;

  Template tmpl_;
  ChatTemplateCaps caps_;
  Quirks quirks_;
  int probe_renders_ = 0;
};

// Renders with an already-parsed Template, probing its capabilities on each call; prefer
// ChatTemplate when rendering many requests with one template.
Result<std::string> apply_chat_template(const Template& tmpl, const ChatTemplateInputs& in);

// The ChatML template llama.cpp uses when a model has none.
std::string chatml_fallback_template();

}  // namespace hangar::chat
