// ollama_to_openai: Ollama's options, format, keep_alive, stream and think onto the OpenAI body.
#include "api/ollama.h"

#include <gtest/gtest.h>

#include "api/request.h"

namespace hangar::api {
namespace {

Json mapped(const char* body) {
  Json out;
  MaybeError e = ollama_to_openai(Json::parse(body), &out);
  EXPECT_FALSE(e) << e->message;
  return out;
}

TEST(OllamaToOpenai, OptionsBecomeOurSamplingFields) {
  const Json o = mapped(R"({"model": "qwen:latest", "messages": [{"role": "user", "content": "hi"}],
      "options": {"temperature": 0.3, "top_k": 7, "top_p": 0.9, "min_p": 0.1, "seed": 42, "num_predict": 16,
                  "stop": ["\n"], "repeat_penalty": 1.1, "repeat_last_n": 32, "num_ctx": 8192, "mirostat": 2}})");
  EXPECT_EQ(o["model"], "qwen");  // name:latest is the file's name
  EXPECT_EQ(o["temperature"], 0.3);
  EXPECT_EQ(o["top_k"], 7);
  EXPECT_EQ(o["seed"], 42);
  EXPECT_EQ(o["max_tokens"], 16);
  EXPECT_EQ(o["stop"], Json::array({"\n"}));
  EXPECT_FALSE(o.contains("num_ctx"));  // what our runner does not use is ignored, as Ollama does
  EXPECT_FALSE(o.contains("mirostat"));
  EXPECT_EQ(o["stream"], true);  // Ollama streams unless told not to
  // And our parser takes them as it takes an OpenAI body.
  ChatRequest cr;
  ASSERT_FALSE(parse_chat_request(o, &cr));
  EXPECT_FLOAT_EQ(cr.common.gen.sampling.temperature, 0.3f);
  EXPECT_EQ(cr.common.gen.sampling.top_k, 7);
  EXPECT_FLOAT_EQ(cr.common.gen.sampling.repeat_penalty, 1.1f);
}

TEST(OllamaToOpenai, KeepAliveFormatThinkAndStream) {
  const Json o = mapped(R"({"model": "m", "keep_alive": "10m", "stream": false, "think": true, "format": "json",
      "options": {"num_predict": -1}})");
  EXPECT_EQ(o["keep_alive"], "10m");
  std::optional<int64_t> ms;
  ASSERT_FALSE(parse_keep_alive(o, &ms));
  EXPECT_EQ(ms, 600000);
  EXPECT_EQ(o["stream"], false);
  EXPECT_EQ(o["chat_template_kwargs"]["enable_thinking"], true);
  EXPECT_EQ(o["response_format"]["type"], "json_object");
  EXPECT_FALSE(o.contains("max_tokens"));  // -1: no limit
  const Json s = mapped(R"({"model": "m", "format": {"type": "object"}, "keep_alive": 0})");
  EXPECT_EQ(s["response_format"]["type"], "json_schema");
  EXPECT_EQ(s["response_format"]["json_schema"]["schema"], Json::parse(R"({"type": "object"})"));
  ASSERT_FALSE(parse_keep_alive(s, &ms));
  EXPECT_EQ(ms, 0);
}

TEST(OllamaToOpenai, EmptyImagesAreDropped) {
  const Json o = mapped(R"({"model": "m", "messages": [{"role": "user", "content": "hi", "images": []}]})");
  EXPECT_FALSE(o["messages"][0].contains("images"));
}

TEST(OllamaToOpenai, BadFieldsAreNamed) {
  for (const auto& [body, param] : std::vector<std::pair<const char*, const char*>>{
           {R"({"model": 5})", "model"},
           {R"({"model": "m", "stream": "yes"})", "stream"},
           {R"({"model": "m", "format": "yaml"})", "format"},
           {R"({"model": "m", "options": [1]})", "options"},
           {R"({"model": "m", "options": {"num_predict": "many"}})", "options.num_predict"},
           {R"({"model": "m", "messages": {}})", "messages"},
           // Images are refused, as /api/generate refuses them, not dropped unseen.
           {R"({"model": "m", "messages": [{"role": "user", "content": "hi"},
               {"role": "user", "content": "what is this?", "images": ["aGk="]}]})", "messages[1].images"}}) {
    Json out;
    MaybeError e = ollama_to_openai(Json::parse(body), &out);
    ASSERT_TRUE(e) << body;
    EXPECT_EQ(e->status, 400);
    EXPECT_EQ(e->param, param) << body;
  }
}

}  // namespace
}  // namespace hangar::api
