// Tool-call parsing on outputs of real models in each format, whole and streamed in pieces.
#include "api/tool_calls.h"

#include <gtest/gtest.h>

#include <random>

#include "api/tool_grammar.h"

namespace hangar::api {
namespace {

struct Case {
  const char* source;  // where the output was published, or "constructed" for edge cases
  ToolFormat format;
  std::string output;
  std::string content;
  std::vector<std::pair<std::string, std::string>> calls;  // name, arguments (compact JSON)
  std::string id = {};  // the first call's id when the model wrote one
};

const Json kTools = Json::parse(R"([
  {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
    "properties": {"location": {"type": "string"}, "days": {"type": "integer"}, "zip": {"type": "string"}}}}}])");

std::vector<Case> cases() {
  return {
      // Qwen2.5-7B-Instruct's answer in Qwen's function-calling guide (transformers section).
      {"Qwen2.5-7B-Instruct, Qwen docs", ToolFormat::kHermes,
       "<tool_call>\n{\"name\": \"get_current_temperature\", \"arguments\": {\"location\": \"San Francisco, CA, USA\"}}\n"
       "</tool_call>\n<tool_call>\n{\"name\": \"get_temperature_date\", \"arguments\": {\"location\": \"San Francisco, "
       "CA, USA\", \"date\": \"2024-10-01\"}}\n</tool_call>",
       "",
       {{"get_current_temperature", R"({"location":"San Francisco, CA, USA"})"},
        {"get_temperature_date", R"({"location":"San Francisco, CA, USA","date":"2024-10-01"})"}}},
      // Hermes-2-Pro-Llama-3-8B's reply as recorded in WebLLM's function-calling example: the
      // arguments come before the name.
      {"Hermes-2-Pro-Llama-3-8B, WebLLM example", ToolFormat::kHermes,
       "<tool_call>\n{\"arguments\": {\"symbol\": \"TSLA\"}, \"name\": \"get_stock_fundamentals\"}\n</tool_call>", "",
       {{"get_stock_fundamentals", R"({"symbol":"TSLA"})"}}},
      {"Qwen3 thinking before its call (constructed)", ToolFormat::kHermes,
       "<think>\nThe user wants the weather in Paris.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", "
       "\"arguments\": {\"location\": \"Paris\"}}\n</tool_call>",
       "<think>\nThe user wants the weather in Paris.\n</think>", {{"get_weather", R"({"location":"Paris"})"}}},
      {"a cut-off call stays text (constructed)", ToolFormat::kHermes,
       "Checking.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Par",
       "Checking.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Par", {}},
      {"a malformed block before a call stays text (constructed)", ToolFormat::kHermes,
       "<tool_call>\nnot a call\n</tool_call>\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"days\": 2}}\n"
       "</tool_call>",
       "<tool_call>\nnot a call\n</tool_call>", {{"get_weather", R"({"days":2})"}}},
      {"plain answer (constructed)", ToolFormat::kHermes, "It is sunny in Paris.", "It is sunny in Paris.", {}},
      // Meta's Llama 3.1 prompt-format documentation: the model's JSON tool call.
      {"Llama-3.1, Meta prompt-format docs", ToolFormat::kLlama3,
       "{\"name\": \"get_current_conditions\", \"parameters\": {\"location\": \"Menlo Park, CA\", \"unit\": "
       "\"Fahrenheit\"}}",
       "", {{"get_current_conditions", R"({"location":"Menlo Park, CA","unit":"Fahrenheit"})"}}},
      {"Llama-3.1 after <|python_tag|> (constructed)", ToolFormat::kLlama3,
       "<|python_tag|>{\"name\": \"get_weather\", \"parameters\": {\"location\": \"Paris\"}}", "",
       {{"get_weather", R"({"location":"Paris"})"}}},
      {"JSON that is no call (constructed)", ToolFormat::kLlama3, "{\"answer\": 42}", "{\"answer\": 42}", {}},
      {"Llama plain answer (constructed)", ToolFormat::kLlama3, "  The weather in Menlo Park is sunny.",
       "  The weather in Menlo Park is sunny.", {}},
      // Ollama's mistral library page, example response of Mistral-7B-Instruct-v0.3.
      {"Mistral-7B-Instruct-v0.3, Ollama library page", ToolFormat::kMistral,
       "[TOOL_CALLS] [{\"name\": \"get_current_weather\", \"arguments\": {\"location\": \"San Francisco, CA\", "
       "\"format\": \"celsius\"}}]",
       "", {{"get_current_weather", R"({"location":"San Francisco, CA","format":"celsius"})"}}},
      // Mistral-7B-Instruct-v0.3 through Ollama, recorded by a user: not valid JSON (a key
      // without a value), so it stays text.
      {"Mistral-7B-Instruct-v0.3, a user's recorded raw_response", ToolFormat::kMistral,
       "[TOOL_CALLS] [{\"name\": \"get_current_weather\", \"arguments\": {\"latitude: 40.7128\", \"longitude\": "
       "\"-74.0060\"}}]",
       "[TOOL_CALLS] [{\"name\": \"get_current_weather\", \"arguments\": {\"latitude: 40.7128\", \"longitude\": "
       "\"-74.0060\"}}]",
       {}},
      // A Mistral output with text after the calls, as quoted in SGLang's Mistral detector.
      {"Mistral with trailing text, SGLang's detector notes", ToolFormat::kMistral,
       "[TOOL_CALLS] [{\"name\": \"get_current_weather\", \"arguments\": {\"location\": \"Boston, MA\", \"unit\": "
       "\"fahrenheit\"}}]\n\nToday's weather in Boston is :{function call result} (in Fahrenheit)\n\nIf you prefer "
       "Celsius, please let me know.",
       "Today's weather in Boston is :{function call result} (in Fahrenheit)\n\nIf you prefer Celsius, please let me "
       "know.",
       {{"get_current_weather", R"({"location":"Boston, MA","unit":"fahrenheit"})"}}},
      {"Mistral Nemo with an id (constructed)", ToolFormat::kMistral,
       "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Paris\"}, \"id\": \"aB3dE5fG7\"}]", "",
       {{"get_weather", R"({"location":"Paris"})"}}, "aB3dE5fG7"},
      {"Mistral Small 3.2 two calls (constructed)", ToolFormat::kMistralArgs,
       "Let me check.[TOOL_CALLS]get_weather[ARGS]{\"location\": \"Paris\"}[TOOL_CALLS]get_time[ARGS]{\"timezone\": "
       "\"Europe/Paris\"}",
       "Let me check.", {{"get_weather", R"({"location":"Paris"})"}, {"get_time", R"({"timezone":"Europe/Paris"})"}}},
      {"Devstral with a call id (constructed)", ToolFormat::kMistralArgs,
       "[TOOL_CALLS]get_weather[CALL_ID]x1y2z3[ARGS]{\"location\": \"Oslo\"}", "",
       {{"get_weather", R"({"location":"Oslo"})"}}, "x1y2z3"},
      {"Qwen3.5 XML call, typed by the tool's schema (constructed)", ToolFormat::kQwenXml,
       "<tool_call>\n<function=get_weather>\n<parameter=location>\nParis\n</parameter>\n<parameter=days>\n3\n"
       "</parameter>\n<parameter=zip>\n75001\n</parameter>\n</function>\n</tool_call>",
       "", {{"get_weather", R"({"location":"Paris","days":3,"zip":"75001"})"}}},
      {"generic format reads Hermes blocks (constructed)", ToolFormat::kGeneric,
       "<tool_call>{\"name\": \"get_weather\", \"arguments\": \"{\\\"location\\\": \\\"Rome\\\"}\"}</tool_call>", "",
       {{"get_weather", R"({"location":"Rome"})"}}},
  };
}

void expect_parse(const Case& c, const ToolParse& p, const std::string& how) {
  EXPECT_EQ(p.content, c.content) << c.source << " (" << how << ")";
  ASSERT_EQ(p.calls.size(), c.calls.size()) << c.source << " (" << how << ")";
  for (size_t i = 0; i < c.calls.size(); ++i) {
    EXPECT_EQ(p.calls[i].name, c.calls[i].first) << c.source;
    EXPECT_EQ(p.calls[i].arguments, c.calls[i].second) << c.source;
    EXPECT_FALSE(p.calls[i].id.empty());
  }
  if (!c.id.empty() && !p.calls.empty()) {
    EXPECT_EQ(p.calls[0].id, c.id) << c.source;
  }
}

TEST(ToolCalls, RecordedOutputsParseWhole) {
  for (const Case& c : cases()) expect_parse(c, parse_tool_calls(c.format, c.output, kTools), "whole");
}

TEST(ToolCalls, StreamedInAnyPiecesTheyParseTheSame) {
  std::mt19937 rng(5);
  for (const Case& c : cases()) {
    for (int trial = 0; trial < 20; ++trial) {
      ToolCallStreamer s(c.format, kTools);
      ToolParse all;
      size_t pos = 0;
      while (pos < c.output.size()) {
        const size_t n = std::min<size_t>(c.output.size() - pos, 1 + rng() % (trial < 5 ? 2 : 9));
        ToolParse p = s.push(std::string_view(c.output).substr(pos, n));
        all.content += p.content;
        for (auto& call : p.calls) all.calls.push_back(std::move(call));
        pos += n;
      }
      ToolParse p = s.finish();
      all.content += p.content;
      for (auto& call : p.calls) all.calls.push_back(std::move(call));
      expect_parse(c, all, "streamed, trial " + std::to_string(trial));
      EXPECT_EQ(s.n_calls(), c.calls.size());
    }
  }
}

TEST(ToolCalls, CallsGoOutAsSoonAsTheirBlockCloses) {
  ToolCallStreamer s(ToolFormat::kHermes, kTools);
  EXPECT_EQ(s.push("Sure.\n<tool_").content, "Sure.");
  ToolParse p = s.push("call>\n{\"name\": \"get_weather\", \"arguments\": {}}\n</tool_call>");
  ASSERT_EQ(p.calls.size(), 1u);
  EXPECT_EQ(p.calls[0].arguments, "{}");
  EXPECT_TRUE(s.finish().content.empty());
}

TEST(ToolCalls, FormatsFromTemplates) {
  EXPECT_EQ(detect_tool_format("{{ tools }} <tool_call>{{ x | tojson }}</tool_call>", true), ToolFormat::kHermes);
  EXPECT_EQ(detect_tool_format("<tool_call>\n<function={{ n }}>\n<parameter={{ p }}>", true), ToolFormat::kQwenXml);
  EXPECT_EQ(detect_tool_format("[AVAILABLE_TOOLS]{{ tools }}[TOOL_CALLS]", true), ToolFormat::kMistral);
  EXPECT_EQ(detect_tool_format("[TOOL_CALLS]{{ name }}[ARGS]{{ args }}", true), ToolFormat::kMistralArgs);
  EXPECT_EQ(detect_tool_format("{{- '\"parameters\": ' }}{{ tools }}", true), ToolFormat::kLlama3);
  EXPECT_EQ(detect_tool_format("{{ tools }}", true), ToolFormat::kGeneric);
  EXPECT_EQ(detect_tool_format("<tool_call>", false), ToolFormat::kNone);
}

}  // namespace
}  // namespace hangar::api
