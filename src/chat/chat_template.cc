// Chat template application mirroring llama.cpp's server: message normalisation, capability
// probes with the system-role polyfill, model-specific message shapes, and template globals.
#include "chat/chat_template.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "chat/template_probe.h"
#include "chat/render_error.h"

namespace hangar::chat {
namespace {

using Json = nlohmann::ordered_json;

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size()))
    s.replace(p, from.size(), to);
}

// llama.cpp patches two known template bugs before parsing; we do the same so renders match.
std::string patch_source(std::string_view source) {
  std::string s(source);
  if (contains(s, "<|channel|>") && contains(s, "in message.content or")) {
    replace_all(s,
                "{%- if \"<|channel|>analysis<|message|>\" in message.content or "
                "\"<|channel|>final<|message|>\" in message.content %}",
                "{%- if false %}");
  }
  if (contains(s, "[TOOL_CALLS]") && contains(s, "if (message['content'] is none or")) {
    replace_all(s,
                "{%- if (message['content'] is none or message['content'] == '' or "
                "message['content']|length == 0) and (message['tool_calls'] is not defined or "
                "message['tool_calls'] is none or message['tool_calls']|length == 0) %}",
                "{%- if false %}");
  }
  return s;
}

Json as_typed_parts(Json messages) {
  for (auto& m : messages) m["content"] = Json::array({{{"type", "text"}, {"text", m["content"]}}});
  return messages;
}

// Tool-call arguments go to templates as objects unless the template only handles JSON text:
// it fails on an object but not on a string, or pastes the object's Python repr. The same
// render answers whether the template supports tools (llama.cpp's probe: a tool's name reaches
// the output); the listed tool's name differs from the called one so that a printed call does
// not pass for a printed tool list. Sets caps.supports_object_arguments and supports_tools.
void detect_tool_caps(TemplateProber& probe, ChatTemplateCaps& caps) {
  auto conversation = [&](const Json& args) {
    Json user = {{"role", "user"}, {"content", "User message"}};
    Json assistant = {{"role", "assistant"},
                      {"content", ""},
                      {"tool_calls", Json::array({{{"type", "function"},
                                                   {"function", {{"name", "probe_tool"}, {"arguments", args}}},
                                                   {"id", "call00001"}}})}};
    Json tool = {{"role", "tool"}, {"content", "Tool response"}, {"tool_call_id", "call00001"}};
    Json messages = Json::array({user, assistant, tool, user});
    return caps.supports_string_content ? messages : as_typed_parts(messages);
  };
  const std::string listed = "hangar_probe_tool";
  const Json tools = Json::parse(R"([{"type": "function", "function": {"name": "hangar_probe_tool",
      "description": "Probe", "parameters": {"type": "object", "properties": {"probe_arg": {"type": "string"}}}}}])");
  // The call uses a key the tool schema does not, so a template printing the schema as a
  // Python repr is not mistaken for one stringifying the arguments.
  std::optional<std::string> out = probe.render(conversation({{"probe_call_arg", "probe_value"}}), tools);
  if (out) {
    caps.supports_object_arguments = !contains(*out, "'probe_call_arg'");
  } else {
    out = probe.render(conversation("{\"probe_call_arg\": \"probe_value\"}"), tools);
    caps.supports_object_arguments = !out.has_value();
  }
  if (!out) {  // no tool conversation renders: ask with a user message only
    Json user = Json::array({{{"role", "user"}, {"content", "User message"}}});
    if (!caps.supports_string_content) user = as_typed_parts(user);
    out = probe.render(user, tools);
  }
  caps.supports_tools = out && contains(*out, listed);
}

ChatTemplateCaps detect_caps(const Template& tmpl, TemplateProber& probe) {
  ChatTemplateCaps caps;
  const std::string& src = tmpl.source();
  const std::string user_needle = "<<hangar user probe>>";
  const std::string system_needle = "<<hangar system probe>>";
  // One render usually answers both questions: does a plain-string user message reach the
  // output, and does a system message? Only templates that fail it get the separate probes.
  // For a template that reads enable_thinking, the same render is the "thinking off" half of
  // the reasoning probe.
  const bool reads_thinking = contains(src, "enable_thinking");
  const Json thinking_off = reads_thinking ? Json{{"enable_thinking", false}} : Json::object();
  const Json both = Json::array(
      {{{"role", "system"}, {"content", system_needle}}, {{"role", "user"}, {"content", user_needle}}});
  const auto combined = probe.render(both, Json::array(), thinking_off);
  const bool combined_answers = combined && contains(*combined, user_needle);
  if (combined_answers) {
    caps.supports_system_role = contains(*combined, system_needle);
  } else {
    // Content must be typed parts when a plain string does not reach the output (or fails)
    // but the same text as a {type: "text"} part does, as with templates that loop over parts.
    const Json user_only = Json::array({{{"role", "user"}, {"content", user_needle}}});
    const auto as_string = probe.render(user_only);
    if (!as_string || !contains(*as_string, user_needle)) {
      const auto as_typed = probe.render(as_typed_parts(user_only));
      if (as_typed && contains(*as_typed, user_needle)) caps.supports_string_content = false;
    }
    // A template supports the system role when the system text reaches its output; templates
    // that raise on it or drop it get the system prompt merged into the next message.
    Json with_system = Json::array(
        {{{"role", "system"}, {"content", system_needle}}, {{"role", "user"}, {"content", "User message"}}});
    if (!caps.supports_string_content) with_system = as_typed_parts(with_system);
    const auto out = probe.render(with_system);
    caps.supports_system_role = out.has_value() && contains(*out, system_needle);
  }
  // Templates that never mention tools cannot treat arguments either way.
  if (contains(src, "tool")) detect_tool_caps(probe, caps);
  // Only a template that reads enable_thinking can render differently for it.
  if (reads_thinking) {
    const Json user_only = Json::array({{{"role", "user"}, {"content", user_needle}}});
    caps.supports_thinking = combined_answers
                                 ? detect_thinking(probe, caps, both, combined)
                                 : detect_thinking(probe, caps, user_only, std::nullopt);
  }
  return caps;
}

Error message_error(size_t i, const std::string& what) {
  return Error("messages[" + std::to_string(i) + "]: " + what);
}

// Normalises one OpenAI message into the shape llama.cpp hands to templates.
Result<Json> normalize_message(const Json& m, size_t i, const ChatTemplateCaps& caps) {
  const bool string_content = caps.supports_string_content;
  if (!m.is_object()) return message_error(i, "expected an object");
  if (!m.contains("role") || !m["role"].is_string()) return message_error(i, "expected a 'role' string");
  Json out = Json::object();
  out["role"] = m["role"];
  const Json content = m.contains("content") ? m["content"] : Json();
  if (content.is_string()) {
    out["content"] = string_content ? content : Json::array({{{"type", "text"}, {"text", content}}});
  } else if (content.is_array()) {
    std::string text;
    Json parts = Json::array();
    for (const auto& part : content) {
      if (!part.is_object() || !part.contains("type") || !part["type"].is_string()) {
        return message_error(i, "content parts must be objects with a 'type'");
      }
      if (part["type"] != "text" || !part.contains("text") || !part["text"].is_string()) {
        return message_error(i,
                             "unsupported content part type " + part["type"].dump() + " (expected \"text\")");
      }
      if (!text.empty()) text += "\n";
      text += part["text"].get<std::string>();
      parts.push_back({{"type", "text"}, {"text", part["text"]}});
    }
    out["content"] = string_content ? Json(text) : parts;
  } else if (content.is_null()) {
    out["content"] = "";
  } else {
    return message_error(i, "'content' must be a string, a list of parts or null");
  }
  if (m.contains("reasoning_content") && m["reasoning_content"].is_string() &&
      !m["reasoning_content"].get<std::string>().empty()) {
    out["reasoning_content"] = m["reasoning_content"];
  }
  if (m.contains("name") && m["name"].is_string()) out["name"] = m["name"];
  if (m.contains("tool_call_id") && m["tool_call_id"].is_string()) out["tool_call_id"] = m["tool_call_id"];
  if (m.contains("tool_calls") && !m["tool_calls"].is_null()) {
    if (!m["tool_calls"].is_array()) return message_error(i, "'tool_calls' must be a list");
    Json calls = Json::array();
    for (const auto& tc : m["tool_calls"]) {
      if (!tc.is_object() || !tc.contains("function") || !tc["function"].is_object() ||
          !tc["function"].contains("name") || !tc["function"]["name"].is_string()) {
        return message_error(i, "each tool call needs a function with a 'name'");
      }
      Json args = tc["function"].contains("arguments") ? tc["function"]["arguments"] : Json::object();
      if (caps.supports_object_arguments && args.is_string()) {
        // OpenAI sends JSON text; most templates format arguments as objects (tojson, items()).
        Json parsed = Json::parse(args.get<std::string>(), nullptr, false);
        if (!parsed.is_discarded() && parsed.is_object()) args = std::move(parsed);
      } else if (!caps.supports_object_arguments && !args.is_string()) {
        args = args.dump();
      }
      Json call = {{"type", "function"},
                   {"function", {{"name", tc["function"]["name"]}, {"arguments", args}}}};
      if (tc.contains("id") && tc["id"].is_string()) call["id"] = tc["id"];
      calls.push_back(std::move(call));
    }
    if (!calls.empty()) out["tool_calls"] = std::move(calls);
  }
  return out;
}

// Normalises OpenAI tools to llama.cpp's shape: {type, function: {name, description,
// parameters}}, description defaulting to "" and parameters to {}; other keys are dropped.
Result<Json> normalize_tools(const Json& tools) {
  Json out = Json::array();
  if (tools.is_null()) return out;
  if (!tools.is_array()) return Error("tools: expected a list");
  for (size_t i = 0; i < tools.size(); ++i) {
    const Json& t = tools[i];
    const std::string where = "tools[" + std::to_string(i) + "]: ";
    if (!t.is_object() || !t.contains("type") || t["type"] != "function") {
      return Error(where + "expected an object with type \"function\"");
    }
    if (!t.contains("function") || !t["function"].is_object()) return Error(where + "expected a 'function' object");
    const Json& f = t["function"];
    if (!f.contains("name") || !f["name"].is_string()) return Error(where + "expected a function 'name' string");
    Json desc = f.contains("description") ? f["description"] : Json("");
    if (!desc.is_string()) return Error(where + "'description' must be a string");
    Json params = f.contains("parameters") ? f["parameters"] : Json::object();
    if (!params.is_object()) return Error(where + "'parameters' must be an object");
    out.push_back({{"type", "function"},
                   {"function", {{"name", f["name"]}, {"description", desc}, {"parameters", params}}}});
  }
  return out;
}

// Mistral/Ministral 3 templates read system and assistant content as typed blocks, with
// reasoning as a "thinking" block (llama.cpp's Ministral 3 handler).
void to_ministral_blocks(Json& messages) {
  for (auto& m : messages) {
    const std::string role = m["role"].get<std::string>();
    if (role != "system" && role != "assistant") continue;
    Json blocks = Json::array();
    if (m.contains("reasoning_content")) {
      blocks.push_back({{"type", "thinking"}, {"thinking", m["reasoning_content"]}});
      m.erase("reasoning_content");
    }
    if (m["content"].is_string()) {
      blocks.push_back({{"type", "text"}, {"text", m["content"]}});
    } else if (m["content"].is_array()) {
      for (const auto& b : m["content"]) blocks.push_back(b);
    }
    m["content"] = std::move(blocks);
  }
}

bool has_content(const Json& content) {
  return (content.is_string() && !content.get<std::string>().empty()) || (content.is_array() && !content.empty());
}

bool has_tool_calls(const Json& m) {
  return m.contains("tool_calls") && m["tool_calls"].is_array() && !m["tool_calls"].empty();
}

// Gemma 4's first templates (without the "OpenAI Chat Completions" notes) read tool results from
// the calling turn's tool_responses, not from role "tool" messages. As llama.cpp does, each
// assistant turn with calls takes the results that follow it ({name of the call at the same
// position, response parsed as JSON when it is}) and the plain answer after them, if any.
// The calling turn's own text ("Let me check the weather.") is dropped, as llama.cpp drops it:
// tests/data/tool_render_golden.json conversations 3 and 4 pin it.
Json fold_gemma4_tool_results(const Json& messages) {
  Json out = Json::array();
  for (size_t i = 0; i < messages.size();) {
    const Json& m = messages[i];
    if (m["role"] != "assistant" || !has_tool_calls(m)) {
      out.push_back(m);
      ++i;
      continue;
    }
    Json turn = {{"role", "assistant"}, {"tool_calls", m["tool_calls"]}};
    Json responses = Json::array();
    for (++i; i < messages.size() && messages[i]["role"] == "tool"; ++i) {
      const Json& r = messages[i];
      Json response = r["content"];
      if (response.is_string()) {
        Json parsed = Json::parse(response.get<std::string>(), nullptr, false);
        if (!parsed.is_discarded()) response = std::move(parsed);
      }
      std::string name;
      if (responses.size() < turn["tool_calls"].size()) name = turn["tool_calls"][responses.size()]["function"]["name"];
      if (name.empty() && r.contains("tool_call_id")) name = r["tool_call_id"];
      responses.push_back({{"name", name}, {"response", std::move(response)}});
    }
    if (!responses.empty()) turn["tool_responses"] = std::move(responses);
    if (i < messages.size() && messages[i]["role"] == "assistant" && !has_tool_calls(messages[i]) &&
        has_content(messages[i]["content"])) {
      turn["content"] = messages[i++]["content"];
    }
    if (m.contains("reasoning_content")) turn["reasoning_content"] = m["reasoning_content"];
    out.push_back(std::move(turn));
  }
  return out;
}

}  // namespace

Result<ChatTemplate> ChatTemplate::parse(std::string_view source) {
  HANGAR_ASSIGN(Template tmpl, Template::parse(patch_source(source)));
  TemplateProber probe(tmpl);
  const ChatTemplateCaps caps = detect_caps(tmpl, probe);
  if (probe.limit_error()) {
    return probe.limit_error()->context("chat template exceeded its limits on a two-message test conversation");
  }
  return ChatTemplate(std::move(tmpl), caps, probe.renders());
}

ChatTemplate::Quirks ChatTemplate::quirks_of(std::string_view src) {
  Quirks q;
  q.thinking_field = contains(src, "<|channel|>");
  q.developer_as_system = !q.thinking_field;
  q.ministral_blocks = contains(src, "[SYSTEM_PROMPT]") && contains(src, "[TOOL_CALLS]") && contains(src, "[ARGS]") &&
                       !contains(src, "[CALL_ID]");
  q.gemma4 = contains(src, "'<|tool_call>call:'");
  q.gemma4_fold = q.gemma4 && !contains(src, "{#- OpenAI Chat Completions:");
  return q;
}

Result<std::string> ChatTemplate::apply(const ChatTemplateInputs& in) const {
  if (!in.messages.is_array()) return Error("messages: expected a list");
  Json messages = Json::array();
  for (size_t i = 0; i < in.messages.size(); ++i) {
    HANGAR_ASSIGN(Json m, normalize_message(in.messages[i], i, caps_));
    messages.push_back(std::move(m));
  }
  if (quirks_.developer_as_system) {
    for (auto& m : messages) {
      if (m["role"] == "developer") m["role"] = "system";
    }
  }
  if (!caps_.supports_system_role && !messages.empty() && messages[0]["role"] == "system") {
    if (messages.size() > 1 && messages[0]["content"].is_string() && messages[1]["content"].is_string()) {
      messages[1]["content"] =
          messages[0]["content"].get<std::string>() + "\n" + messages[1]["content"].get<std::string>();
    }
    messages.erase(messages.begin());
  }
  if (quirks_.ministral_blocks) to_ministral_blocks(messages);
  if (quirks_.thinking_field) {
    // gpt-oss reads the reasoning of tool-calling turns from "thinking".
    for (auto& m : messages) {
      if (m.contains("reasoning_content") && m.contains("tool_calls")) m["thinking"] = m["reasoning_content"];
    }
  }

  if (quirks_.gemma4_fold) messages = fold_gemma4_tool_results(messages);

  HANGAR_ASSIGN(Json tools, normalize_tools(in.tools));
  const std::tm now = in.now ? *in.now : local_now();
  try {
    HANGAR_ASSIGN(std::string out, render_with(messages, tools, now, in));
    // Gemma 4 templates open no model turn after a turn that ends in a tool call; llama.cpp
    // opens it so the model starts its answer (or its thinking) where it expects to.
    if (quirks_.gemma4 && in.add_generation_prompt && out.ends_with("<turn|>\n")) out += "<|turn>model\n";
    return out;
  } catch (const RenderError& e) {
    return Error(std::string("chat template: ") + e.what());  // e.g. JSON nested too deeply
  }
}

Result<std::string> ChatTemplate::render_with(const nlohmann::ordered_json& messages,
                                              const nlohmann::ordered_json& tools, const std::tm& now,
                                              const ChatTemplateInputs& in) const {
  Value globals = Value::dict();
  DictData& g = globals.dict_data();
  g.set(Value("messages"), value_from_json(messages));
  g.set(Value("bos_token"), Value(in.bos_token));
  g.set(Value("eos_token"), Value(in.eos_token));
  // As llama.cpp's server: thinking is on only for templates it recognises as reasoning ones.
  g.set(Value("enable_thinking"), Value(in.enable_thinking && caps_.supports_thinking));
  if (!tools.empty()) g.set(Value("tools"), value_from_json(tools));
  if (in.preserve_reasoning) {
    // Template knobs that keep earlier reasoning; DeepSeek V4's drop_thinking, GLM's
    // clear_thinking, Qwen's preserve_thinking, Nemotron's truncate_history_thinking.
    g.set(Value("preserve_reasoning"), Value(true));
    g.set(Value("preserve_thinking"), Value(true));
    g.set(Value("clear_thinking"), Value(false));
    g.set(Value("drop_thinking"), Value(false));
    g.set(Value("truncate_history_thinking"), Value(false));
  }
  g.set(Value("datetime"), Value(format_time(now, "%b %d %Y")));
  g.set(Value("date_string"), Value(format_time(now, "%d %b %Y")));
  if (!in.extra_context.is_null()) {
    if (!in.extra_context.is_object()) return Error("chat template kwargs: expected an object");
    for (auto it = in.extra_context.begin(); it != in.extra_context.end(); ++it) {
      g.set(Value(it.key()), value_from_json(it.value()));
    }
  }
  // llama.cpp only defines add_generation_prompt when it is true.
  if (in.add_generation_prompt) g.set(Value("add_generation_prompt"), Value(true));
  g.set(Value("strftime_now"), strftime_function(now));

  auto rendered = tmpl_.render(globals);
  if (!rendered.ok()) return rendered.error().context("chat template");
  std::string out = std::move(rendered).value();
  if (in.add_bos && !in.bos_token.empty() && out.compare(0, in.bos_token.size(), in.bos_token) == 0) {
    out.erase(0, in.bos_token.size());
  }
  if (in.add_eos && !in.eos_token.empty() && out.size() >= in.eos_token.size() &&
      out.compare(out.size() - in.eos_token.size(), in.eos_token.size(), in.eos_token) == 0) {
    out.resize(out.size() - in.eos_token.size());
  }
  return out;
}

Result<std::string> apply_chat_template(const Template& tmpl, const ChatTemplateInputs& in) {
  HANGAR_ASSIGN(ChatTemplate chat, ChatTemplate::parse(tmpl.source()));
  return chat.apply(in);
}

std::string chatml_fallback_template() {
  return "{%- for message in messages -%}\n"
         "  {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' -}}\n"
         "{%- endfor -%}\n"
         "{%- if add_generation_prompt -%}\n"
         "  {{- '<|im_start|>assistant\\n' -}}\n"
         "{%- endif -%}";
}

}  // namespace hangar::chat
