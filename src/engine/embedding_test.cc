// Embedding requests through the scheduler agree with llama.cpp's embeddings (cosine >= 0.999
// per input, tests/data/embedding_golden.json) for every pooling, with inputs longer than one
// forward pass.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <future>

#include <nlohmann/json.hpp>

#include "engine/scheduler.h"

namespace hangar::engine {
namespace {

nlohmann::json golden() {
  std::ifstream in(std::string(HANGAR_SOURCE_DIR) + "/tests/data/embedding_golden.json");
  return nlohmann::json::parse(in);
}

Pooling pooling_named(const std::string& s) {
  return s == "cls" ? Pooling::kCls : s == "last" ? Pooling::kLast : Pooling::kMean;
}

double cosine(const std::vector<float>& a, const std::vector<double>& b) {
  double ab = 0, aa = 0, bb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ab += a[i] * b[i];
    aa += static_cast<double>(a[i]) * a[i];
    bb += b[i] * b[i];
  }
  return ab / std::sqrt(aa * bb);
}

TEST(Embeddings, PooledHiddenStatesMatchLlamaEmbedding) {
  const nlohmann::json g = golden();
  const auto inputs = g["inputs"].get<std::vector<std::string>>();
  ThreadPool pool(2);
  for (const auto& run : g["runs"]) {
    const std::string model = run["model"].get<std::string>();
    SCOPED_TRACE(model + " " + run["pooling"].get<std::string>());
    EngineOptions eo;
    eo.n_ctx = 512;
    eo.n_seq = 3;          // fewer slots than inputs: some wait, others share passes
    eo.batch_tokens = 64;  // the long input takes several passes
    auto engine = Engine::load(std::string(HANGAR_SHARED_DIR) + "/models/" + model, eo, pool);
    ASSERT_TRUE(engine.ok()) << engine.error().message();
    {
      Scheduler scheduler(**engine);
      std::vector<std::promise<RequestResult>> done(inputs.size());
      for (size_t i = 0; i < inputs.size(); ++i) {
        Request r;
        r.prompt = run["tokens"][i].get<std::vector<TokenId>>();
        r.params.pooling = pooling_named(run["pooling"].get<std::string>());
        r.on_token = [](const StepOutput&) { ADD_FAILURE() << "an embedding request sampled a token"; return true; };
        r.on_done = [&done, i](const RequestResult& res) { done[i].set_value(res); };
        scheduler.submit(std::move(r));
      }
      for (size_t i = 0; i < inputs.size(); ++i) {
        const RequestResult res = done[i].get_future().get();
        ASSERT_EQ(res.reason, FinishReason::kStop) << res.error;
        ASSERT_EQ(res.embedding.size(), static_cast<size_t>((*engine)->hparams().n_embd));
        const auto want = run["embeddings"][i].get<std::vector<double>>();
        EXPECT_GE(cosine(res.embedding, want), 0.999) << "input " << i;
        EXPECT_EQ(res.timings.generated_tokens, 0);
      }
    }
  }
}

TEST(Embeddings, ASecondRequestReusesNothingItsPoolingNeeds) {
  // The same input twice in a row: the second finds the first's prefix in the cache, and
  // mean pooling must still see every token (the result is the same vector).
  const nlohmann::json g = golden();
  ThreadPool pool(2);
  EngineOptions eo;
  eo.n_ctx = 512;
  eo.n_seq = 2;
  eo.extra_kv_blocks = 32;
  auto engine = Engine::load(std::string(HANGAR_SHARED_DIR) + "/models/" + g["runs"][0]["model"].get<std::string>(),
                             eo, pool);
  ASSERT_TRUE(engine.ok()) << engine.error().message();
  Scheduler scheduler(**engine);
  std::vector<std::vector<float>> got;
  for (int rep = 0; rep < 2; ++rep) {
    std::promise<RequestResult> done;
    Request r;
    r.prompt = g["runs"][0]["tokens"][2].get<std::vector<TokenId>>();
    r.params.pooling = pooling_named(g["runs"][0]["pooling"].get<std::string>());
    r.on_done = [&done](const RequestResult& res) { done.set_value(res); };
    scheduler.submit(std::move(r));
    RequestResult res = done.get_future().get();
    ASSERT_EQ(res.reason, FinishReason::kStop) << res.error;
    EXPECT_EQ(res.timings.cached_tokens, 0);
    got.push_back(res.embedding);
  }
  const auto want = g["runs"][0]["embeddings"][2].get<std::vector<double>>();
  EXPECT_GE(cosine(got[1], want), 0.999);
}

TEST(Embeddings, LastTokenPoolingReusesTheCachedPrefix) {
  // Only the last token's state counts: a second request for the same input computes that token
  // alone, on the first's cached prefix, and still agrees with llama.cpp.
  const nlohmann::json g = golden();
  const nlohmann::json* run = nullptr;
  for (const auto& r : g["runs"])
    if (r["pooling"] == "last") run = &r;
  ASSERT_NE(run, nullptr);
  ThreadPool pool(2);
  EngineOptions eo;
  eo.n_ctx = 512;
  eo.n_seq = 2;
  eo.extra_kv_blocks = 32;
  auto engine = Engine::load(std::string(HANGAR_SHARED_DIR) + "/models/" + (*run)["model"].get<std::string>(), eo, pool);
  ASSERT_TRUE(engine.ok()) << engine.error().message();
  Scheduler scheduler(**engine);
  const auto prompt = (*run)["tokens"][4].get<std::vector<TokenId>>();
  for (int rep = 0; rep < 2; ++rep) {
    std::promise<RequestResult> done;
    Request r;
    r.prompt = prompt;
    r.params.pooling = Pooling::kLast;
    r.on_done = [&done](const RequestResult& res) { done.set_value(res); };
    scheduler.submit(std::move(r));
    const RequestResult res = done.get_future().get();
    ASSERT_EQ(res.reason, FinishReason::kStop) << res.error;
    EXPECT_EQ(res.timings.cached_tokens, rep == 0 ? 0 : static_cast<int32_t>(prompt.size()) - 1);
    EXPECT_GE(cosine(res.embedding, (*run)["embeddings"][4].get<std::vector<double>>()), 0.999) << "rep " << rep;
  }
}

}  // namespace
}  // namespace hangar::engine
