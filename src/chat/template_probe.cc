// TemplateProber and the reasoning-template detection (see template_probe.h).
#include "chat/template_probe.h"

#include <algorithm>
#include <chrono>
#include <string_view>
#include <vector>

#include "chat/chat_template.h"
#include "chat/render_error.h"

namespace hangar::chat {
namespace {

using Json = nlohmann::ordered_json;

bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// A piece of rendered text: a marker such as <think>, <|im_start|> or [INST], or the text
// between markers. llama.cpp compares renders at this granularity.
struct Segment {
  bool marker = false;
  std::string_view text;
};

std::vector<Segment> segmentize(std::string_view s) {
  std::vector<Segment> out;
  size_t text_start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '<' && s[i] != '[') continue;
    const size_t close = s.find(s[i] == '<' ? '>' : ']', i + 1);
    if (close == std::string_view::npos) break;
    if (i > text_start) out.push_back({false, s.substr(text_start, i - text_start)});
    out.push_back({true, s.substr(i, close - i + 1)});
    text_start = close + 1;
    i = close;
  }
  if (text_start < s.size()) out.push_back({false, s.substr(text_start)});
  return out;
}

Json as_typed_parts(Json messages) {
  for (auto& m : messages) m["content"] = Json::array({{{"type", "text"}, {"text", m["content"]}}});
  return messages;
}

// Reasoning text the template prints and closes with a marker (</think>, [/THINK]...).
bool reasoning_reaches_output(TemplateProber& probe, const ChatTemplateCaps& caps) {
  const std::string reasoning = "REASON_PART I am thinking END_R";
  const Json user = {{"role", "user"}, {"content", "U_USER_MSG Hello END_U"}};
  Json assistant = {{"role", "assistant"}, {"content", "A_ASST_MSG I can help END_A"}};
  Json plain = Json::array({user, assistant});
  assistant["reasoning_content"] = reasoning;
  Json with_reasoning = Json::array({user, assistant});
  if (!caps.supports_string_content) {
    plain = as_typed_parts(plain);
    with_reasoning = as_typed_parts(with_reasoning);
  }
  const Json thinking = {{"enable_thinking", true}};
  const auto a = probe.render(plain, Json::array(), thinking, false);
  const auto b = probe.render(with_reasoning, Json::array(), thinking, false);
  if (!a || !b || contains(*a, reasoning)) return false;
  const size_t at = b->find(reasoning);
  if (at == std::string::npos) return false;
  std::string_view rest = std::string_view(*b).substr(at + reasoning.size());
  while (!rest.empty() && std::isspace(static_cast<unsigned char>(rest.front()))) rest.remove_prefix(1);
  const std::vector<Segment> after = segmentize(rest);
  return !after.empty() && after.front().marker;
}

// Switching enable_thinking adds, drops, swaps or moves a marker in the prompt (an opening
// <think>, an empty <think></think> block, Gemma's <|think|>), not just prose.
bool switch_toggles_a_marker(TemplateProber& probe, const ChatTemplateCaps& caps, Json messages,
                             std::optional<std::string> off) {
  if (!caps.supports_string_content) messages = as_typed_parts(messages);
  if (!off) off = probe.render(messages, Json::array(), {{"enable_thinking", false}});
  const auto on = probe.render(messages, Json::array(), {{"enable_thinking", true}});
  if (!off || !on || *off == *on) return false;
  auto markers = [](const std::string& text) {
    std::vector<std::string_view> out;
    for (const Segment& s : segmentize(text)) {
      if (s.marker) out.push_back(s.text);
    }
    return out;
  };
  return markers(*off) != markers(*on);
}

}  // namespace

std::tm local_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  localtime_r(&t, &tm);
  return tm;
}

std::string format_time(const std::tm& tm, const std::string& fmt) {
  if (fmt.empty()) return "";
  std::string buf(256, '\0');
  for (int attempt = 0; attempt < 4; ++attempt) {
    const size_t n = std::strftime(buf.data(), buf.size(), fmt.c_str(), &tm);
    if (n > 0) return buf.substr(0, n);
    buf.resize(buf.size() * 4);
  }
  return "";
}

Value strftime_function(const std::tm& now) {
  return Value::function("strftime_now", [now](Interpreter&, CallArgs& args) -> Value {
    if (args.positional.size() != 1 || !args.positional[0].is_string()) {
      throw RenderError("strftime_now() takes one format string");
    }
    return Value(format_time(now, args.positional[0].as_string()));
  });
}

std::optional<std::string> TemplateProber::render(const Json& messages, const Json& tools, const Json& extra,
                                                  bool add_generation_prompt) {
  if (limit_error_) return std::nullopt;
  Value globals = Value::dict();
  DictData& g = globals.dict_data();
  g.set(Value("messages"), value_from_json(messages));
  g.set(Value("tools"), value_from_json(tools));
  g.set(Value("bos_token"), Value(""));
  g.set(Value("eos_token"), Value(""));
  if (add_generation_prompt) g.set(Value("add_generation_prompt"), Value(true));
  g.set(Value("strftime_now"), strftime_function(now_));
  for (auto it = extra.begin(); it != extra.end(); ++it) g.set(Value(it.key()), value_from_json(it.value()));
  RenderLimits limits;
  limits.max_steps = kSteps - steps_;
  limits.max_memory_bytes = kMemoryBytes;
  limits.max_output_bytes = kOutputBytes;
  limits.max_seconds = std::max(0.0, kSeconds - watch_.elapsed_s());
  RenderStats stats;
  auto r = tmpl_.render(globals, limits, &stats);
  steps_ += stats.steps;
  ++renders_;
  if (r.ok()) return std::move(r).value();
  if (stats.exceeded_limit) limit_error_ = r.error();
  return std::nullopt;
}

bool detect_thinking(TemplateProber& probe, const ChatTemplateCaps& caps, const Json& messages,
                     const std::optional<std::string>& rendered_off) {
  const std::string& src = probe.source();
  // llama.cpp's own exceptions: old Qwen/DeepSeek templates strip <think> blocks without
  // printing reasoning, Granite 3.3 asks for it in its system prompt.
  if (contains(src, "content.split('</think>')") && !contains(src, "reasoning_content")) return true;
  if (contains(src, "Write your thoughts between <think></think>")) return true;
  return switch_toggles_a_marker(probe, caps, messages, rendered_off) || reasoning_reaches_output(probe, caps);
}

}  // namespace hangar::chat
