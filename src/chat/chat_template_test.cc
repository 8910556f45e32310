// ChatTemplate tests: what apply_to() hands a template (globals, normalised messages) and the
// llama.cpp polyfills, each checked through a template that prints what it received.
#include "chat/chat_template.h"

#include <gtest/gtest.h>

namespace hangar::chat {
namespace {

using Json = nlohmann::ordered_json;

std::tm fixed_date() {
  std::tm tm{};
  tm.tm_year = 2026 - 1900;
  tm.tm_mon = 10;
  tm.tm_mday = 26;
  tm.tm_wday = 4;
  return tm;
}

ChatTemplateInputs inputs(const std::string& messages_json) {
  ChatTemplateInputs in;
  in.messages = Json::parse(messages_json);
  in.bos_token = "<s>";
  in.eos_token = "</s>";
  in.now = fixed_date();
  return in;
}

std::string apply_to(const std::string& src, const ChatTemplateInputs& in) {
  auto t = ChatTemplate::parse(src);
  if (!t.ok()) return "ERROR: " + t.error().message();
  auto r = t->apply(in);
  return r.ok() ? *r : "ERROR: " + r.error().message();
}

// Prints each message as role:content(json) so tests see the exact shape.
const char* const kEcho = "{% for m in messages %}{{ m.role }}:{{ m.content|tojson }};{% endfor %}";

TEST(ChatTemplate, GlobalsMatchLlamaCppServer) {
  const std::string src =
      "{{ bos_token }}|{{ eos_token }}|{{ add_generation_prompt }}|{{ enable_thinking }}|{{ tools is defined "
      "}}|"
      "{{ date_string }}|{{ datetime }}|{{ strftime_now('%Y-%m-%d') }}|{{ messages|length }}";
  // Not a reasoning template (printing the switch opens no thinking marker): thinking is off.
  EXPECT_EQ(apply_to(src, inputs(R"([{"role": "user", "content": "hi"}])")),
            "<s>|</s>|True|False|False|26 Nov 2026|Nov 26 2026|2026-11-26|1");
}

// llama.cpp's server passes enable_thinking = true only to templates it recognises as
// reasoning ones: their reasoning text reaches the prompt inside markers, or the switch
// opens or closes a thinking marker. A switch that only changes prose is not one.
TEST(ChatTemplate, EnableThinkingFollowsLlamaCppDetection) {
  const auto in = inputs(R"([{"role": "user", "content": "hi"}])");
  // Apertus prints its switch as prose: llama.cpp renders "disabled" by default.
  const std::string apertus =
      "<|developer_start|>Deliberation: {% if enable_thinking is defined and enable_thinking %}{{ 'enabled\\n' }}"
      "{% else %}{{ 'disabled\\n' }}{% endif %}Tool Capabilities: disabled<|developer_end|>"
      "{% for m in messages %}<|user_start|>{{ m.content }}<|user_end|>{% endfor %}<|assistant_start|>";
  EXPECT_EQ(apply_to(apertus, in),
            "<|developer_start|>Deliberation: disabled\nTool Capabilities: disabled<|developer_end|>"
            "<|user_start|>hi<|user_end|><|assistant_start|>");
  auto on = in;
  on.extra_context = Json::parse(R"({"enable_thinking": true})");
  EXPECT_NE(apply_to(apertus, on).find("Deliberation: enabled"), std::string::npos);
  // Qwen3: thinking off would append an empty think block.
  const std::string qwen3 =
      "<|im_start|>assistant\n{% if enable_thinking is defined and enable_thinking is false %}"
      "<think>\n\n</think>\n\n{% endif %}";
  EXPECT_EQ(apply_to(qwen3, in), "<|im_start|>assistant\n");
  // DeepSeek V3.1: the switch picks the opening or the closing tag.
  const std::string v31 = "<｜Assistant｜>{% if enable_thinking %}<think>{% else %}</think>{% endif %}";
  EXPECT_EQ(apply_to(v31, in), "<｜Assistant｜><think>");
  // A template whose reasoning text reaches the prompt before a closing marker.
  const std::string reasons =
      "{% for m in messages %}{% if m.reasoning_content %}<think>{{ m.reasoning_content }}</think>{% endif %}"
      "{{ m.content }}{% endfor %}{{ enable_thinking }}";
  EXPECT_EQ(apply_to(reasons, in), "hiTrue");
  EXPECT_FALSE(ChatTemplate::parse(apertus)->caps().supports_thinking);
  EXPECT_TRUE(ChatTemplate::parse(reasons)->caps().supports_thinking);
}

TEST(ChatTemplate, ProbingTakesFewRendersAndRefusesTemplatesOverBudget) {
  // One render answers the string-content and system-role questions for most templates;
  // tool and thinking probes only run for templates that mention them.
  auto plain = ChatTemplate::parse(kEcho);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->probe_renders(), 1);
  // A reasoning template with tools: the system/content render doubles as "thinking off",
  // then "thinking on" and the tool-argument probe.
  auto reasoning = ChatTemplate::parse(
      "{% for m in messages %}{{ m.content }}{% for t in m.tool_calls or [] %}{{ t.function.arguments }}{% endfor %}"
      "{% endfor %}{% if enable_thinking %}<think>{% endif %}");
  ASSERT_TRUE(reasoning.ok());
  EXPECT_TRUE(reasoning->caps().supports_thinking);
  EXPECT_EQ(reasoning->probe_renders(), 3);
  // A template that cannot render a two-message conversation within the probe budget fails
  // once, at parse, naming the budget.
  auto hostile = ChatTemplate::parse("{% for a in range(1000000) %}{% for b in range(1000000) %}{% endfor %}{% endfor %}");
  ASSERT_FALSE(hostile.ok());
  EXPECT_NE(hostile.error().message().find("exceeded its limits on a two-message test conversation"),
            std::string::npos)
      << hostile.error().message();
}

TEST(ChatTemplate, AddGenerationPromptIsUndefinedWhenFalse) {
  auto in = inputs(R"([{"role": "user", "content": "hi"}])");
  in.add_generation_prompt = false;
  EXPECT_EQ(apply_to("{{ add_generation_prompt is defined }}", in), "False");
}

TEST(ChatTemplate, StripsBosAndEosTheTokenizerAddsItself) {
  auto in = inputs(R"([{"role": "user", "content": "hi"}])");
  const std::string src = "{{ bos_token }}[{{ messages[0].content }}]{{ eos_token }}";
  EXPECT_EQ(apply_to(src, in), "<s>[hi]</s>");
  in.add_bos = true;
  in.add_eos = true;
  EXPECT_EQ(apply_to(src, in), "[hi]");
}

TEST(ChatTemplate, ToolsAreNormalisedAndPassedWhenNonEmpty) {
  auto in = inputs(R"([{"role": "user", "content": "hi"}])");
  in.tools = Json::parse(
      R"([{"type": "function", "function": {"name": "f", "parameters": {"b": 1, "a": 2}, "strict": true}}])");
  EXPECT_EQ(apply_to("{{ tools|tojson }}", in),
            R"([{"type": "function", "function": {"name": "f", "description": "", "parameters": {"b": 1, "a": 2}}}])");
  in.tools = Json::array();
  EXPECT_EQ(apply_to("{{ tools is defined }}", in), "False");
  in.tools = Json::parse(R"([{"type": "retrieval"}])");
  EXPECT_EQ(apply_to("x", in), "ERROR: tools[0]: expected an object with type \"function\"");
}

TEST(ChatTemplate, StringOnlyArgumentTemplatesKeepJsonText) {
  // This template pastes arguments into a string, so objects would print as Python reprs.
  const std::string src =
      "{% for m in messages %}{% for c in m.tool_calls %}{{ '<call>' + c.function.arguments }}{% endfor %}"
      "{% endfor %}";
  auto t = ChatTemplate::parse(src);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->caps().supports_object_arguments);
  const auto in = inputs(R"([{"role": "assistant", "content": "", "tool_calls": [
      {"type": "function", "function": {"name": "f", "arguments": {"x": 1}}},
      {"type": "function", "function": {"name": "g", "arguments": "{\"y\": 2}"}}]}])");
  EXPECT_EQ(apply_to(src, in), "<call>{\"x\":1}<call>{\"y\": 2}");
}

TEST(ChatTemplate, ExtraContextOverridesDefaults) {
  auto in = inputs(R"([{"role": "user", "content": "hi"}])");
  in.extra_context = Json::parse(R"({"enable_thinking": false, "custom": [1, 2]})");
  EXPECT_EQ(apply_to("{{ enable_thinking }} {{ custom }}", in), "False [1, 2]");
}

TEST(ChatTemplate, PreserveReasoningKnobs) {
  const std::string src =
      "{{ preserve_thinking }} {{ clear_thinking }} {{ drop_thinking }} {{ truncate_history_thinking }}";
  auto in = inputs(R"([{"role": "user", "content": "hi"}])");
  EXPECT_EQ(apply_to(src, in), "True False False False");
  in.preserve_reasoning = false;
  EXPECT_EQ(apply_to(src, in), "   ");
}

TEST(ChatTemplate, NullContentBecomesEmptyStringAndPartsAreJoined) {
  const auto in =
      inputs(R"([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
                            {"role": "assistant", "content": null}])");
  EXPECT_EQ(apply_to(kEcho, in), "user:\"a\\nb\";assistant:\"\";");
}

TEST(ChatTemplate, MessageFieldsInLlamaCppOrder) {
  const auto in = inputs(R"([{"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
      "function": {"name": "f", "arguments": "{\"x\": 1}"}}], "reasoning_content": "think", "extra": 1},
      {"role": "tool", "tool_call_id": "c1", "name": "f", "content": "r"}])");
  EXPECT_EQ(
      apply_to("{% for m in messages %}{{ m|tojson }}\n{% endfor %}", in),
      R"({"role": "assistant", "content": "", "reasoning_content": "think", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"x": 1}}, "id": "c1"}]})"
      "\n"
      R"({"role": "tool", "content": "r", "name": "f", "tool_call_id": "c1"})"
      "\n");
}

TEST(ChatTemplate, UnparsableArgumentsStayAString) {
  const auto in = inputs(R"([{"role": "assistant", "content": "", "tool_calls": [{"type": "function",
      "function": {"name": "f", "arguments": "not json"}}]}])");
  EXPECT_EQ(apply_to("{{ messages[0].tool_calls[0].function.arguments }}", in), "not json");
}

TEST(ChatTemplate, DeveloperRoleBecomesSystemExceptForHarmonyTemplates) {
  const auto in = inputs(R"([{"role": "developer", "content": "d"}, {"role": "user", "content": "u"}])");
  EXPECT_EQ(apply_to("{% for m in messages %}{{ m.role }} {{ m.content }};{% endfor %}", in),
            "system d;user u;");
  EXPECT_EQ(apply_to("{# <|channel|> #}{% for m in messages %}{{ m.role }} {{ m.content }};{% endfor %}", in),
            "developer d;user u;");
}

TEST(ChatTemplate, SystemPromptIsMergedWhenTemplateRejectsIt) {
  const std::string src =
      "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}" +
      std::string(kEcho);
  auto t = ChatTemplate::parse(src);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->caps().supports_system_role);
  EXPECT_EQ(
      apply_to(src, inputs(R"([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}])")),
      "user:\"S\\nU\";");
  EXPECT_EQ(apply_to(src, inputs(R"([{"role": "system", "content": "S"}])")), "");
}

TEST(ChatTemplate, SystemPromptStaysWhenTemplateUsesIt) {
  auto t = ChatTemplate::parse(kEcho);
  ASSERT_TRUE(t.ok());
  EXPECT_TRUE(t->caps().supports_system_role);
  EXPECT_TRUE(t->caps().supports_string_content);
}

TEST(ChatTemplate, TypedContentForTemplatesThatNeedIt) {
  const std::string src =
      "{% for m in messages %}{% for p in m.content %}{{ p.text }}{% endfor %};{% endfor %}";
  auto t = ChatTemplate::parse(src);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->caps().supports_string_content);
  EXPECT_EQ(apply_to(src, inputs(R"([{"role": "user", "content": "hello"}])")), "hello;");
}

TEST(ChatTemplate, MinistralReadsSystemAndAssistantAsBlocks) {
  const std::string src =
      "{# [SYSTEM_PROMPT] [TOOL_CALLS] [ARGS] #}{% for m in messages %}{{ m.role }}={{ m.content|tojson "
      "}};{% endfor %}";
  const auto in = inputs(R"([{"role": "system", "content": "S"}, {"role": "user", "content": "U"},
                            {"role": "assistant", "content": "A", "reasoning_content": "R"}])");
  EXPECT_EQ(apply_to(src, in),
            R"(system=[{"type": "text", "text": "S"}];user="U";)"
            R"(assistant=[{"type": "thinking", "thinking": "R"}, {"type": "text", "text": "A"}];)");
}

TEST(ChatTemplate, BadMessagesAreRejectedWithTheirIndex) {
  EXPECT_EQ(apply_to(kEcho, inputs(R"([{"role": "user", "content": "a"}, {"content": "b"}])")),
            "ERROR: messages[1]: expected a 'role' string");
  EXPECT_EQ(
      apply_to(kEcho, inputs(R"([{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}])")),
      "ERROR: messages[0]: unsupported content part type \"image_url\" (expected \"text\")");
  EXPECT_EQ(apply_to(kEcho, inputs(R"([{"role": "user", "content": 5}])")),
            "ERROR: messages[0]: 'content' must be a string, a list of parts or null");
}

TEST(ChatTemplate, TemplateErrorsArePrefixed) {
  EXPECT_EQ(
      apply_to("{{ raise_exception('no tools allowed') }}", inputs(R"([{"role": "user", "content": "a"}])")),
      "ERROR: chat template: template error at line 1, column 1: no tools allowed");
}

TEST(ChatTemplate, ApplyWithPlainTemplateMatchesChatTemplate) {
  auto tmpl = Template::parse(kEcho);
  ASSERT_TRUE(tmpl.ok());
  auto r = apply_chat_template(*tmpl, inputs(R"([{"role": "user", "content": "x"}])"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "user:\"x\";");
}

TEST(ChatTemplate, ChatmlFallback) {
  auto in = inputs(R"([{"role": "system", "content": "S"}, {"role": "user", "content": "U"}])");
  EXPECT_EQ(apply_to(chatml_fallback_template(), in),
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU<|im_end|>\n<|im_start|>assistant\n");
}

}  // namespace
}  // namespace hangar::chat
