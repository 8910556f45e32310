// Tool-call grammars: every sampled output, in each format, parses as calls of the allowed tools
// with arguments that satisfy their schemas, at any seed and temperature.
#include "api/tool_grammar.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "grammar/grammar_test_util.h"

namespace hangar::api {
namespace {

const Json kTools = Json::parse(R"([
  {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object",
    "properties": {"location": {"type": "string", "maxLength": 12}, "unit": {"enum": ["celsius", "fahrenheit"]}},
    "required": ["location", "unit"]}}},
  {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object",
    "properties": {"offset": {"type": "integer", "minimum": -12, "maximum": 14}}, "required": ["offset"]}}},
  {"type": "function", "function": {"name": "ping"}}])");

// Code points of UTF-8 text: maxLength counts these.
size_t code_points(const std::string& s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

// Whether `args` (JSON text) satisfies the tool's parameters as declared above.
bool valid_arguments(const std::string& name, const std::string& args) {
  Json a = Json::parse(args, nullptr, false);
  if (a.is_discarded() || !a.is_object()) return false;
  if (name == "get_weather")
    return a.size() == 2 && a["location"].is_string() && a["location"].get<std::string>().size() <= 36 &&
           code_points(a["location"].get<std::string>()) <= 12 &&
           (a["unit"] == "celsius" || a["unit"] == "fahrenheit");
  if (name == "get_time") return a.size() == 1 && a["offset"].is_number_integer() && a["offset"] >= -12 && a["offset"] <= 14;
  return name == "ping" && a.empty();
}

TEST(ToolGrammar, SampledCallsParseAndValidateInEveryFormat) {
  const Tokenizer& tok = grammar::testing::tokenizer("qwen2");
  for (ToolFormat f : {ToolFormat::kHermes, ToolFormat::kLlama3, ToolFormat::kMistral, ToolFormat::kMistralArgs}) {
    for (const std::string& only : {std::string(), std::string("get_time")}) {
      for (bool parallel : {false, true}) {
        Result<grammar::Grammar> g = tool_call_grammar(f, kTools, only, parallel, tok);
        ASSERT_TRUE(g.ok()) << tool_format_name(f) << ": " << g.error().message();
        auto c = grammar::testing::constraint(*g);
        int seed = 0;
        for (float temperature : {0.0f, 0.7f, 1.5f}) {
          grammar::testing::Sampled s = grammar::testing::sample(c, 100 + seed++, temperature);
          SCOPED_TRACE(std::string(tool_format_name(f)) + " '" + only + "' parallel=" + std::to_string(parallel) + ": " +
                       s.text);
          ASSERT_TRUE(s.finished);
          ToolParse p = parse_tool_calls(f, s.text, kTools);
          EXPECT_EQ(p.content, "");
          ASSERT_GE(p.calls.size(), 1u);
          if (!parallel) {
            EXPECT_EQ(p.calls.size(), 1u);
          }
          for (const ToolCall& call : p.calls) {
            if (!only.empty()) {
              EXPECT_EQ(call.name, only);
            }
            EXPECT_TRUE(valid_arguments(call.name, call.arguments)) << call.name << " " << call.arguments;
          }
        }
      }
    }
  }
}

TEST(ToolGrammar, RefusesWhatItCannotConstrain) {
  const Tokenizer& tok = grammar::testing::tokenizer("qwen2");
  Result<grammar::Grammar> g = tool_call_grammar(ToolFormat::kQwenXml, kTools, "", true, tok);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().message().find("qwen-xml"), std::string::npos);
  const Json bad = Json::parse(R"([{"type": "function", "function": {"name": "f", "parameters":
      {"type": "object", "properties": {"x": {"type": "string", "not": {}}}}}}])");
  g = tool_call_grammar(ToolFormat::kHermes, bad, "", true, tok);
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().message().find("tools[0] ('f') parameters"), std::string::npos) << g.error().message();
  EXPECT_NE(g.error().message().find("'not'"), std::string::npos);
}

}  // namespace
}  // namespace hangar::api
