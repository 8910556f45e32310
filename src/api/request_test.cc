// Request parsing: OpenAI fields to generation parameters, and 400s that name the bad field.
#include "api/request.h"

#include <gtest/gtest.h>

#include <cmath>

#include "sampling/sampler.h"

namespace hangar::api {
namespace {

Json parse(const char* text) { return Json::parse(text); }

ChatRequest chat_ok(const char* body) {
  ChatRequest r;
  MaybeError e = parse_chat_request(parse(body), &r);
  EXPECT_FALSE(e) << (e ? e->message : "");
  return r;
}

ApiError chat_error(const char* body) {
  ChatRequest r;
  MaybeError e = parse_chat_request(parse(body), &r);
  EXPECT_TRUE(e) << body;
  return e.value_or(ApiError{});
}

CompletionRequest completion_ok(const char* body) {
  CompletionRequest r;
  MaybeError e = parse_completion_request(parse(body), &r);
  EXPECT_FALSE(e) << (e ? e->message : "");
  return r;
}

ApiError completion_error(const char* body) {
  CompletionRequest r;
  MaybeError e = parse_completion_request(parse(body), &r);
  EXPECT_TRUE(e) << body;
  return e.value_or(ApiError{});
}

constexpr const char* kMsgs = R"("messages": [{"role": "user", "content": "hi"}])";

std::string with(const std::string& fields) { return std::string("{\"model\": \"m\", ") + kMsgs + fields + "}"; }

TEST(ParseBody, RejectsInvalidJsonAndNonObjects) {
  Json out;
  MaybeError e = parse_json_body("{\"model\": ", &out);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 400);
  EXPECT_EQ(e->type, "invalid_request_error");
  EXPECT_NE(e->message.find("not valid JSON"), std::string::npos);
  e = parse_json_body("[1, 2]", &out);
  ASSERT_TRUE(e);
  EXPECT_NE(e->message.find("an array"), std::string::npos);
  EXPECT_FALSE(parse_json_body("{\"a\": 1}", &out));
  EXPECT_EQ(out["a"], 1);
}

TEST(ParseChat, MapsOpenAiFieldsToGenerationParams) {
  ChatRequest r = chat_ok(with(R"(, "temperature": 0.5, "top_p": 0.9, "seed": 42, "max_tokens": 7,
      "presence_penalty": 0.5, "frequency_penalty": -0.25, "stop": ["\n", "END"], "stream": true,
      "stream_options": {"include_usage": true}, "logprobs": true, "top_logprobs": 3, "n": 2,
      "logit_bias": {"15": 2.5, "7": -100}, "keep_alive": "10m")").c_str());
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.messages.size(), 1u);
  const auto& g = r.common.gen;
  EXPECT_FLOAT_EQ(g.sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(g.sampling.top_p, 0.9f);
  EXPECT_EQ(g.sampling.seed, 42u);
  EXPECT_EQ(g.max_tokens, 7);
  EXPECT_FLOAT_EQ(g.sampling.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(g.sampling.frequency_penalty, -0.25f);
  EXPECT_EQ(g.stop, (std::vector<std::string>{"\n", "END"}));
  EXPECT_TRUE(r.common.stream);
  EXPECT_TRUE(r.common.include_usage);
  EXPECT_EQ(g.top_logprobs, 3);
  EXPECT_EQ(r.common.n, 2);
  ASSERT_EQ(g.sampling.logit_bias.size(), 2u);
  EXPECT_EQ(g.sampling.logit_bias[0].first, 15);
  EXPECT_FLOAT_EQ(g.sampling.logit_bias[0].second, 2.5f);
  EXPECT_TRUE(std::isinf(g.sampling.logit_bias[1].second));  // -100 bans the token
  EXPECT_EQ(r.common.keep_alive_ms, 10 * 60 * 1000);
}

TEST(ParseChat, DefaultsAreLlamaCppsSamplingAndNoLogprobs) {
  ChatRequest r = chat_ok(with("").c_str());
  SamplingParams defaults;
  EXPECT_FLOAT_EQ(r.common.gen.sampling.temperature, defaults.temperature);
  EXPECT_EQ(r.common.gen.sampling.seed, kRandomSeed);
  EXPECT_EQ(r.common.gen.max_tokens, -1);
  EXPECT_EQ(r.common.gen.top_logprobs, -1);
  EXPECT_FALSE(r.common.stream);
  EXPECT_EQ(r.common.n, 1);
  EXPECT_FALSE(r.common.keep_alive_ms.has_value());
  EXPECT_TRUE(r.add_generation_prompt);
}

TEST(ParseChat, MaxCompletionTokensWinsOverMaxTokens) {
  EXPECT_EQ(chat_ok(with(R"(, "max_tokens": 5, "max_completion_tokens": 9)").c_str()).common.gen.max_tokens, 9);
  EXPECT_EQ(chat_ok(with(R"(, "max_completion_tokens": 3)").c_str()).common.gen.max_tokens, 3);
}

TEST(ParseChat, NullMeansNotGiven) {
  ChatRequest r = chat_ok(with(R"(, "temperature": null, "stop": null, "seed": null, "max_tokens": null)").c_str());
  EXPECT_FLOAT_EQ(r.common.gen.sampling.temperature, SamplingParams{}.temperature);
  EXPECT_TRUE(r.common.gen.stop.empty());
}

TEST(ParseChat, StopAsOneString) {
  EXPECT_EQ(chat_ok(with(R"(, "stop": "###")").c_str()).common.gen.stop, std::vector<std::string>{"###"});
}

TEST(ParseChat, SeedMinusOneIsRandom) {
  EXPECT_EQ(chat_ok(with(R"(, "seed": -1)").c_str()).common.gen.sampling.seed, kRandomSeed);
  ApiError e = chat_error(with(R"(, "seed": -5)").c_str());
  EXPECT_EQ(e.param, "seed");
}

TEST(ParseChat, MissingOrBadModelAndMessagesNameTheField) {
  // No model parses: the server serves its default model (resolve_default_model) or says why not.
  ChatRequest cr;
  EXPECT_FALSE(parse_chat_request(Json::parse(R"({"messages": [{"role": "user", "content": "x"}]})"), &cr));
  EXPECT_EQ(cr.model, "");
  ApiError e = chat_error(R"({"model": 5, "messages": []})");
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.param, "model");
  EXPECT_EQ(chat_error(R"({"model": "m"})").param, "messages");
  EXPECT_EQ(chat_error(R"({"model": "m", "messages": []})").param, "messages");
  EXPECT_EQ(chat_error(R"({"model": "m", "messages": "hi"})").param, "messages");
  e = chat_error(R"({"model": "m", "messages": [{"role": "user", "content": "a"}, 3]})");
  EXPECT_NE(e.message.find("messages[1]"), std::string::npos) << e.message;
}

TEST(ParseChat, WrongTypesAreNamed) {
  ApiError e = chat_error(with(R"(, "temperature": "hot")").c_str());
  EXPECT_EQ(e.param, "temperature");
  EXPECT_NE(e.message.find("must be a number"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("a string"), std::string::npos) << e.message;
  EXPECT_EQ(chat_error(with(R"(, "stream": "yes")").c_str()).param, "stream");
  EXPECT_EQ(chat_error(with(R"(, "max_tokens": 1.5)").c_str()).param, "max_tokens");
  EXPECT_EQ(chat_error(with(R"(, "stop": [1])").c_str()).param, "stop");
  EXPECT_EQ(chat_error(with(R"(, "logit_bias": {"abc": 1})").c_str()).param, "logit_bias");
  EXPECT_EQ(chat_error(with(R"(, "keep_alive": true)").c_str()).param, "keep_alive");
  EXPECT_EQ(chat_error(with(R"(, "keep_alive": "soon")").c_str()).param, "keep_alive");
  EXPECT_EQ(chat_error(with(R"(, "tools": {})").c_str()).param, "tools");
}

TEST(ParseChat, OutOfRangeValuesAreNamedWithTheRange) {
  ApiError e = chat_error(with(R"(, "temperature": 3)").c_str());
  EXPECT_EQ(e.param, "temperature");
  EXPECT_NE(e.message.find("between 0 and 2"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("got 3"), std::string::npos) << e.message;
  EXPECT_EQ(chat_error(with(R"(, "top_p": 1.5)").c_str()).param, "top_p");
  EXPECT_EQ(chat_error(with(R"(, "presence_penalty": -3)").c_str()).param, "presence_penalty");
  EXPECT_EQ(chat_error(with(R"(, "frequency_penalty": 2.5)").c_str()).param, "frequency_penalty");
  EXPECT_EQ(chat_error(with(R"(, "max_tokens": 0)").c_str()).param, "max_tokens");
  EXPECT_EQ(chat_error(with(R"(, "n": 0)").c_str()).param, "n");
  EXPECT_EQ(chat_error(with(R"(, "logprobs": true, "top_logprobs": 21)").c_str()).param, "top_logprobs");
  EXPECT_EQ(chat_error(with(R"(, "logit_bias": {"1": 101})").c_str()).param, "logit_bias");
  EXPECT_EQ(chat_error(with(R"(, "repeat_penalty": 0)").c_str()).param, "repeat_penalty");
}

TEST(ParseChat, LogitBiasKeysMustBeCanonicalTokenIds) {
  for (const char* key : {" 1", "1 ", "+1", "01", "-1", "1e2", "0x1", "", "99999999999"}) {
    ApiError e = chat_error(with(std::string(R"(, "logit_bias": {")") + key + R"(": 1})").c_str());
    EXPECT_EQ(e.param, "logit_bias") << key;
    EXPECT_NE(e.message.find(std::string("\"") + key + "\""), std::string::npos) << e.message;
  }
  ChatRequest r;
  Json body;
  ASSERT_FALSE(parse_json_body(with(R"(, "logit_bias": {"0": 1, "2147483647": -1})"), &body));
  ASSERT_FALSE(parse_chat_request(body, &r));
  ASSERT_EQ(r.common.gen.sampling.logit_bias.size(), 2u);
  EXPECT_EQ(r.common.gen.sampling.logit_bias[1].first, 2147483647);
}

TEST(ParseJsonBody, DeepNestingIsRefusedBeforeParsing) {
  Json out;
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  MaybeError e = parse_json_body(R"({"model": "m", "messages": )" + deep + "}", &out);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->status, 400);
  EXPECT_NE(e->message.find("deeper than 128"), std::string::npos) << e->message;
  // Brackets inside strings do not count; 128 levels are fine.
  EXPECT_FALSE(parse_json_body(R"({"a": ")" + std::string(1000, '[') + R"(\""})", &out));
  EXPECT_FALSE(parse_json_body("{\"a\": " + std::string(127, '[') + std::string(127, ']') + "}", &out));
}

TEST(ParseChat, OptionsThatNeedAnotherOne) {
  EXPECT_EQ(chat_error(with(R"(, "top_logprobs": 2)").c_str()).param, "top_logprobs");
  EXPECT_EQ(chat_error(with(R"(, "stream_options": {"include_usage": true})").c_str()).param, "stream_options");
  EXPECT_EQ(chat_error(with(R"(, "stream": true, "stream_options": {"include_usage": 1})").c_str()).param,
            "stream_options.include_usage");
}

TEST(ParseChat, ResponseFormatsCompileToGrammarsAndUnknownFieldsAreIgnored) {
  EXPECT_FALSE(chat_ok(with(R"(, "response_format": {"type": "text"}, "user": "u-1", "metadata": {"a": "b"})").c_str())
                   .common.grammar);
  EXPECT_TRUE(chat_ok(with(R"(, "response_format": {"type": "json_object"})").c_str()).common.grammar);
  const ChatRequest r = chat_ok(with(R"(, "response_format": {"type": "json_schema", "json_schema":
      {"name": "p", "strict": true, "schema": {"type": "object", "properties": {"a": {"type": "integer"}}}}})").c_str());
  ASSERT_TRUE(r.common.grammar);
  EXPECT_NE(r.common.grammar->to_string().find("\"a\""), std::string::npos);
  EXPECT_TRUE(completion_ok(R"({"model": "m", "prompt": "x", "response_format": {"type": "json_object"}})").common.grammar);
}

TEST(ParseChat, BadResponseFormatsNameTheFieldAndKeyword) {
  ApiError e = chat_error(with(R"(, "response_format": {"type": "json_schema", "json_schema": {"schema":
      {"type": "object", "properties": {"a": {"type": "string", "contentSchema": {}}}}}})").c_str());
  EXPECT_EQ(e.param, "response_format");
  EXPECT_NE(e.message.find("'contentSchema'"), std::string::npos) << e.message;
  EXPECT_NE(e.message.find("#/properties/a"), std::string::npos) << e.message;
  EXPECT_EQ(chat_error(with(R"(, "response_format": {"type": "yaml"})").c_str()).param, "response_format");
  EXPECT_EQ(chat_error(with(R"(, "response_format": {"type": "json_schema"})").c_str()).param, "response_format");
  EXPECT_EQ(chat_error(with(R"(, "response_format": "json")").c_str()).param, "response_format");
}

TEST(ParseKeepAlive, OllamaForms) {
  auto keep = [](const char* body) {
    std::optional<int64_t> out;
    MaybeError e = parse_keep_alive(Json::parse(body), &out);
    EXPECT_FALSE(e) << body;
    return out;
  };
  EXPECT_EQ(keep(R"({"keep_alive": "5m"})"), 300000);
  EXPECT_EQ(keep(R"({"keep_alive": "-1"})"), -1);
  EXPECT_EQ(keep(R"({"keep_alive": 0})"), 0);
  EXPECT_EQ(keep(R"({"keep_alive": 30})"), 30000);    // a number is seconds
  EXPECT_EQ(keep(R"({"keep_alive": -1})"), -1);       // negative: forever
  EXPECT_EQ(keep(R"({"keep_alive": 1.5})"), 1500);
  EXPECT_FALSE(keep(R"({})").has_value());
}

TEST(ParseCompletion, PromptAsStringTokensOrBatch) {
  CompletionRequest r = completion_ok(R"({"model": "m", "prompt": "Once upon"})");
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_FALSE(r.prompts[0].is_tokens);
  EXPECT_EQ(r.prompts[0].text, "Once upon");
  r = completion_ok(R"({"model": "m", "prompt": [1, 9038, 2501]})");
  ASSERT_EQ(r.prompts.size(), 1u);
  EXPECT_TRUE(r.prompts[0].is_tokens);
  EXPECT_EQ(r.prompts[0].tokens, (std::vector<int32_t>{1, 9038, 2501}));
  r = completion_ok(R"({"model": "m", "prompt": ["a", [5, 6]]})");
  ASSERT_EQ(r.prompts.size(), 2u);
  EXPECT_EQ(r.prompts[0].text, "a");
  EXPECT_EQ(r.prompts[1].tokens, (std::vector<int32_t>{5, 6}));
}

TEST(ParseCompletion, BadPromptsAreNamed) {
  EXPECT_EQ(completion_error(R"({"model": "m"})").param, "prompt");
  EXPECT_EQ(completion_error(R"({"model": "m", "prompt": 5})").param, "prompt");
  EXPECT_EQ(completion_error(R"({"model": "m", "prompt": []})").param, "prompt");
  ApiError e = completion_error(R"({"model": "m", "prompt": [1, -2]})");
  EXPECT_EQ(e.param, "prompt");
  EXPECT_NE(e.message.find("prompt[1]"), std::string::npos) << e.message;
  EXPECT_EQ(completion_error(R"({"model": "m", "prompt": [1, "a"]})").param, "prompt");
}

TEST(ParseCompletion, ChoicesOfAllPromptsAreBoundedTogether) {
  completion_ok(R"({"model": "m", "prompt": ["a", "b", "c", "d"], "n": 4})");
  ApiError e = completion_error(R"({"model": "m", "prompt": ["a", "b", "c", "d", "e"], "n": 4})");
  EXPECT_EQ(e.param, "n");
  EXPECT_NE(e.message.find("4 x 5"), std::string::npos) << e.message;
}

TEST(ParseCompletion, LogprobsEchoAndSuffix) {
  CompletionRequest r = completion_ok(R"({"model": "m", "prompt": "x", "logprobs": 2, "echo": false})");
  EXPECT_EQ(r.logprobs, 2);
  EXPECT_EQ(r.common.gen.top_logprobs, 2);
  r = completion_ok(R"({"model": "m", "prompt": "x", "echo": true})");
  EXPECT_TRUE(r.echo);
  EXPECT_EQ(r.common.gen.top_logprobs, -1);
  EXPECT_EQ(completion_error(R"({"model": "m", "prompt": "x", "logprobs": 21})").param, "logprobs");
  EXPECT_EQ(completion_error(R"({"model": "m", "prompt": "x", "logprobs": true})").param, "logprobs");
  EXPECT_EQ(r.common.gen.prompt_logprobs, -1);
  r = completion_ok(R"({"model": "m", "prompt": "x", "echo": true, "logprobs": 1})");
  EXPECT_EQ(r.common.gen.top_logprobs, 1);
  EXPECT_EQ(r.common.gen.prompt_logprobs, 1);
  EXPECT_EQ(completion_error(R"({"model": "m", "prompt": "x", "suffix": "end"})").param, "suffix");
}

TEST(ValidateForModel, TokenIdsAndSamplerChecks) {
  CommonParams p;
  EXPECT_FALSE(validate_for_model(p, 100));
  p.gen.sampling.logit_bias = {{150, 1.0f}};
  MaybeError e = validate_for_model(p, 100);
  ASSERT_TRUE(e);
  EXPECT_EQ(e->param, "logit_bias");
  EXPECT_NE(e->message.find("150"), std::string::npos);
}

}  // namespace
}  // namespace hangar::api
