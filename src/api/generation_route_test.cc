// run_generation over a real model and manager: the lease is gone when "[DONE]" is written, and a
// non-streaming request whose client is gone is cancelled.
#include "api/generation_route.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include "api/real_manager_test_support.h"

namespace hangar::api {
namespace {

constexpr const char* kModel = "tiny";

// The smallest output: text only.
class TextFormat final : public OutputFormat {
 public:
  const char* endpoint() const override { return "completions"; }
  const char* object_name(bool) const override { return "text_completion"; }
  Json stream_open(int, const ChoiceState&) const override { return Json(); }
  Json stream_choice(int index, const std::string& text, std::span<const engine::TokenLogprob>, size_t,
                     const char* finish) const override {
    return {{"index", index}, {"text", text}, {"finish_reason", finish ? Json(finish) : Json()}};
  }
  Json final_choice(int index, const ChoiceState& c) const override { return {{"index", index}, {"text", c.text}}; }
};

class GenerationRouteTest : public testing::RealManagerTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(open({.name = "genroute", .models = {kModel}, .loader = {.ctx = 256, .parallel = 1},
                                  .threads = 2}));
  }

  // Holds the model and plans `max_tokens` greedy tokens after a short prompt.
  GenerationPlan plan(bool stream, int max_tokens, ModelHold* hold) {
    CommonParams common;
    common.stream = stream;
    common.gen.max_tokens = max_tokens;
    common.gen.ignore_eos = true;
    common.gen.sampling.temperature = 0;
    EXPECT_FALSE(hold_model_for(*ctx_, kModel, common, hold));
    GenerationPlan p;
    p.take_common(kModel, common, "cmpl");
    p.add_prompt(hold->model->tokenizer().encode("Once upon a time", true, false), 1, 0);
    return p;
  }

  int in_flight() { return manager_->cache().status(kModel)->in_flight; }
};

TEST_F(GenerationRouteTest, AStreamReleasesItsModelBeforeItsLastEvent) {
  ModelHold hold;
  GenerationPlan p = plan(/*stream=*/true, 8, &hold);
  httplib::Request req;
  httplib::Response res;
  run_generation(*ctx_, req, std::move(hold), std::move(p), std::make_unique<TextFormat>(), res);
  EXPECT_EQ(in_flight(), 1);  // held while the stream has not been written
  std::string written;
  int in_flight_at_done = -1;
  httplib::DataSink sink;
  sink.write = [&](const char* data, size_t n) {
    written.append(data, n);
    if (written.find("data: [DONE]") != std::string::npos && in_flight_at_done < 0) in_flight_at_done = in_flight();
    return true;
  };
  sink.is_writable = [] { return true; };
  sink.done = [] {};
  ASSERT_TRUE(res.content_provider_);
  EXPECT_TRUE(res.content_provider_(0, 0, sink));
  ASSERT_NE(written.find("data: [DONE]"), std::string::npos) << written;
  // A client that has read [DONE] and sends its next request finds the model free.
  EXPECT_EQ(in_flight_at_done, 0);
}

TEST_F(GenerationRouteTest, ANonStreamingRequestWhoseClientIsGoneIsCancelled) {
  ctx_->client_connected = [](const httplib::Request&) { return false; };
  ModelHold hold;
  GenerationPlan p = plan(/*stream=*/false, 200, &hold);
  httplib::Request req;
  httplib::Response res;
  run_generation(*ctx_, req, std::move(hold), std::move(p), std::make_unique<TextFormat>(), res);
  EXPECT_EQ(res.status, 499);
  EXPECT_EQ(in_flight(), 0);
}

TEST_F(GenerationRouteTest, ANonStreamingRequestWithItsClientRunsToTheEnd) {
  ModelHold hold;
  GenerationPlan p = plan(/*stream=*/false, 20, &hold);
  httplib::Request req;
  httplib::Response res;
  run_generation(*ctx_, req, std::move(hold), std::move(p), std::make_unique<TextFormat>(), res);
  EXPECT_EQ(res.status, 200);
  EXPECT_NE(res.body.find("\"completion_tokens\":20"), std::string::npos) << res.body;
}

}  // namespace
}  // namespace hangar::api
