// SSE framing, usage/timings objects and log-probability JSON against llama.cpp's vocabulary.
#include "api/response.h"

#include <gtest/gtest.h>

#include "api/api_error.h"
#include "api/sse.h"
#include "gguf/gguf_file.h"

namespace hangar::api {
namespace {

Tokenizer llama_spm() {
  auto file = gguf::File::open(std::string(HANGAR_SHARED_DIR) + "/vocab/ggml-vocab-llama-spm.gguf");
  EXPECT_TRUE(file.ok());
  auto tok = Tokenizer::from_gguf(*file);
  EXPECT_TRUE(tok.ok());
  return *tok;
}

TEST(Sse, EventIsOneDataLineAndABlankLine) {
  Json j = {{"text", "a\nb"}, {"n", 1}};
  EXPECT_EQ(sse_event(j), "data: {\"text\":\"a\\nb\",\"n\":1}\n\n");
  EXPECT_EQ(sse_done(), "data: [DONE]\n\n");
}

TEST(Sse, InvalidUtf8IsReplacedNotFatal) {
  Json j = {{"token", std::string("\xE2\x82", 2)}};
  EXPECT_EQ(dump_json(j), "{\"token\":\"\xEF\xBF\xBD\"}");
}

TEST(ApiErrorJson, OpenAiShape) {
  Json j = bad_request("temperature", "'temperature' must be a number").to_json();
  EXPECT_EQ(j["error"]["message"], "'temperature' must be a number");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "temperature");
  EXPECT_TRUE(j["error"]["code"].is_null());
  ApiError e = api_error(507, "no room", "insufficient_memory");
  EXPECT_EQ(e.status, 507);
  EXPECT_EQ(e.to_json()["error"]["code"], "insufficient_memory");
  EXPECT_TRUE(e.to_json()["error"]["param"].is_null());
  EXPECT_EQ(not_found("x").type, "not_found_error");
  EXPECT_EQ(api_error(401, "k").type, "authentication_error");
}

TEST(Usage, TotalsAndCachedTokens) {
  Json u = usage_json(10, 5, 4);
  EXPECT_EQ(u["prompt_tokens"], 10);
  EXPECT_EQ(u["completion_tokens"], 5);
  EXPECT_EQ(u["total_tokens"], 15);
  EXPECT_EQ(u["prompt_tokens_details"]["cached_tokens"], 4);
}

TEST(Timings, OneRequest) {
  engine::RequestTimings t;
  t.prompt_tokens = 12;
  t.cached_tokens = 2;
  t.generated_tokens = 11;
  t.prompt_ms = 20;
  t.decode_ms = 50;
  Json j = timings_json({&t, 1});
  EXPECT_EQ(j["cache_n"], 2);
  EXPECT_EQ(j["prompt_n"], 10);
  EXPECT_DOUBLE_EQ(j["prompt_ms"].get<double>(), 20);
  EXPECT_DOUBLE_EQ(j["prompt_per_second"].get<double>(), 500);  // 10 tokens in 20 ms
  EXPECT_DOUBLE_EQ(j["prompt_per_token_ms"].get<double>(), 2);
  EXPECT_EQ(j["predicted_n"], 11);
  EXPECT_DOUBLE_EQ(j["predicted_per_second"].get<double>(), 200);  // 10 after the first in 50 ms
  EXPECT_DOUBLE_EQ(j["predicted_per_token_ms"].get<double>(), 5);
  // The scheduler's own rates agree.
  EXPECT_DOUBLE_EQ(t.prompt_tps(), 500);
  EXPECT_DOUBLE_EQ(t.decode_tps(), 200);
}

TEST(Timings, ConcurrentChoicesAddTokensAndTakeTheLongestTime) {
  engine::RequestTimings a, b;
  a.prompt_tokens = b.prompt_tokens = 4;
  a.generated_tokens = 6;
  b.generated_tokens = 11;
  a.prompt_ms = 10;
  b.prompt_ms = 8;
  a.decode_ms = 40;
  b.decode_ms = 50;
  std::vector<engine::RequestTimings> both{a, b};
  Json j = timings_json(both);
  EXPECT_EQ(j["prompt_n"], 8);
  EXPECT_DOUBLE_EQ(j["prompt_ms"].get<double>(), 10);
  EXPECT_EQ(j["predicted_n"], 17);
  EXPECT_DOUBLE_EQ(j["predicted_ms"].get<double>(), 50);
  EXPECT_DOUBLE_EQ(j["predicted_per_second"].get<double>(), 300);  // (5 + 10) tokens in 50 ms
}

TEST(Timings, NothingGeneratedHasZeroRates) {
  engine::RequestTimings t;
  Json j = timings_json({&t, 1});
  EXPECT_EQ(j["predicted_per_second"], 0.0);
  EXPECT_EQ(j["prompt_per_second"], 0.0);
}

// llama.cpp's vocab test: "Hello world" is [15043, 3186]; "\n" alone is [29871, 13].
TEST(Logprobs, CompletionsFormatWithTextOffsets) {
  Tokenizer tok = llama_spm();
  std::vector<engine::TokenLogprob> lps = {{15043, -0.5f, {{15043, -0.5f}, {3186, -1.5f}}}, {3186, -0.25f, {}}};
  Json j = completion_logprobs_json(tok, lps, 3);
  EXPECT_EQ(j["tokens"], Json::array({" Hello", " world"}));
  EXPECT_EQ(j["token_logprobs"][0], -0.5);
  EXPECT_EQ(j["text_offset"], Json::array({3, 9}));
  EXPECT_EQ(j["top_logprobs"][0][" Hello"], -0.5);
  EXPECT_EQ(j["top_logprobs"][0][" world"], -1.5);
  EXPECT_TRUE(j["top_logprobs"][1].empty());
}

TEST(Logprobs, ChatFormatWithBytes) {
  Tokenizer tok = llama_spm();
  std::vector<engine::TokenLogprob> lps = {{13, -0.125f, {{13, -0.125f}, {15043, -3.0f}}}};
  Json j = chat_logprobs_json(tok, lps);
  ASSERT_EQ(j["content"].size(), 1u);
  const Json& e = j["content"][0];
  EXPECT_EQ(e["token"], "\n");
  EXPECT_EQ(e["bytes"], Json::array({10}));
  EXPECT_EQ(e["logprob"], -0.125);
  ASSERT_EQ(e["top_logprobs"].size(), 2u);
  EXPECT_EQ(e["top_logprobs"][1]["token"], " Hello");
  EXPECT_EQ(e["top_logprobs"][1]["bytes"], Json::array({32, 72, 101, 108, 108, 111}));
}

TEST(Logprobs, EndOfGenerationTokenIsNotContent) {
  Tokenizer tok = llama_spm();
  engine::StepOutput eos;
  eos.token = tok.eos();
  eos.finished = true;
  eos.reason = engine::FinishReason::kStop;
  EXPECT_FALSE(step_is_content(eos, tok, false));
  EXPECT_TRUE(step_is_content(eos, tok, true));
  engine::StepOutput word;
  word.token = 15043;
  EXPECT_TRUE(step_is_content(word, tok, false));
}

TEST(ResponseId, PrefixAndUniqueness) {
  std::string a = make_response_id("chatcmpl"), b = make_response_id("chatcmpl");
  EXPECT_EQ(a.rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(a.size(), std::string("chatcmpl-").size() + 24);
  EXPECT_NE(a, b);
}

TEST(FinishReason, OpenAiNames) {
  EXPECT_STREQ(finish_reason_json(engine::FinishReason::kLength), "length");
  EXPECT_STREQ(finish_reason_json(engine::FinishReason::kStop), "stop");
}

}  // namespace
}  // namespace hangar::api
