// Scheduler with a real model: concurrent requests reproduce llama.cpp, prefixes are reused,
// cancellation frees the sequence, bad requests are errors.
#include <gtest/gtest.h>

#include <fstream>
#include <atomic>
#include <future>
#include <mutex>

#include <nlohmann/json.hpp>

#include "base/clock.h"
#include "engine/scheduler.h"

namespace hangar::engine {
namespace {

const std::string kModel = std::string(HANGAR_SHARED_DIR) + "/models/llama-spm-d256-f16.gguf";

struct Collected {
  std::mutex mutex;
  std::vector<TokenId> tokens;
  std::string text;
  std::promise<RequestResult> done;
};

Request make_request(std::vector<TokenId> prompt, int max_tokens, std::shared_ptr<Collected> c,
                     int cancel_after = -1) {
  Request r;
  r.prompt = std::move(prompt);
  r.params.max_tokens = max_tokens;
  r.params.sampling.temperature = 0;
  r.on_token = [c, cancel_after](const StepOutput& out) {
    std::lock_guard<std::mutex> lock(c->mutex);
    if (out.token >= 0) c->tokens.push_back(out.token);
    c->text += out.text;
    return cancel_after < 0 || static_cast<int>(c->tokens.size()) < cancel_after;
  };
  r.on_done = [c](const RequestResult& res) { c->done.set_value(res); };
  return r;
}

// Every test runs on each device this machine has (the CUDA instances skip without a GPU).
class SchedulerTest : public ::testing::TestWithParam<model::Device> {
 protected:
  void SetUp() override {
    if (GetParam() == model::Device::kCuda && !model::cuda_device_present())
      GTEST_SKIP() << "no CUDA GPU: " << model::cuda_probe_message();
    EngineOptions eo;
    eo.device = GetParam();
    eo.n_ctx = 512;
    eo.n_seq = 4;
    eo.batch_tokens = 64;
    eo.extra_kv_blocks = 64;
    auto e = Engine::load(kModel, eo, pool_);
    ASSERT_TRUE(e.ok()) << e.error().message();
    engine_ = std::move(*e);
    std::ifstream in(std::string(HANGAR_SHARED_DIR) + "/golden/completions/llama-spm-d256-f16.gguf.json");
    golden_ = nlohmann::json::parse(in);
  }
  ThreadPool pool_{2};
  std::unique_ptr<Engine> engine_;
  nlohmann::json golden_;
};

// Cases whose every step leads by a margin leave no room for rounding to pick another token.
std::vector<nlohmann::json> decisive_cases(const nlohmann::json& golden) {
  std::vector<nlohmann::json> out;
  for (const auto& c : golden["cases"]) {
    bool ok = true;
    for (const auto& s : c["steps"]) ok &= s["top"][0][1].get<double>() - s["top"][1][1].get<double>() >= 0.02;
    if (ok) out.push_back(c);
  }
  return out;
}

TEST_P(SchedulerTest, ConcurrentRequestsEachReproduceLlamaCpp) {
  auto cases = decisive_cases(golden_);
  ASSERT_GE(cases.size(), 2u);
  Scheduler sched(*engine_);
  std::vector<std::shared_ptr<Collected>> got;
  for (const auto& c : cases) {
    got.push_back(std::make_shared<Collected>());
    sched.submit(make_request(c["prompt_tokens"].get<std::vector<TokenId>>(), 24, got.back()));
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    RequestResult r = got[i]->done.get_future().get();
    EXPECT_EQ(r.reason, FinishReason::kLength);
    EXPECT_EQ(got[i]->tokens, cases[i]["completion_tokens"].get<std::vector<TokenId>>());
    EXPECT_EQ(got[i]->text, cases[i]["content"].get<std::string>());
    EXPECT_EQ(r.timings.generated_tokens, 24);
  }
}

TEST_P(SchedulerTest, SecondRequestReusesTheCachedPrefix) {
  auto cases = decisive_cases(golden_);
  const auto& c = cases.back();
  std::vector<TokenId> prompt = c["prompt_tokens"].get<std::vector<TokenId>>();
  Scheduler sched(*engine_);
  auto first = std::make_shared<Collected>();
  sched.submit(make_request(prompt, 4, first));
  RequestResult r1 = first->done.get_future().get();
  EXPECT_EQ(r1.timings.cached_tokens, 0);
  auto second = std::make_shared<Collected>();
  sched.submit(make_request(prompt, 24, second));
  RequestResult r2 = second->done.get_future().get();
  EXPECT_EQ(r2.timings.cached_tokens, static_cast<int32_t>(prompt.size()) - 1);
  EXPECT_EQ(second->tokens, c["completion_tokens"].get<std::vector<TokenId>>());
  EXPECT_GT(sched.stats().reused_prompt_tokens, 0);
}

// The GPU tier's moves run on the scheduler thread: on the CPU an offload is an error that keeps
// the cached prefix; on a GPU the prefix goes with the device memory, and after the reload the
// same request gives llama.cpp's tokens again (computed afresh).
TEST_P(SchedulerTest, OffloadAndReloadBetweenRequests) {
  auto cases = decisive_cases(golden_);
  const auto& c = cases.back();
  std::vector<TokenId> prompt = c["prompt_tokens"].get<std::vector<TokenId>>();
  Scheduler sched(*engine_);
  auto first = std::make_shared<Collected>();
  sched.submit(make_request(prompt, 24, first));
  first->done.get_future().get();
  EXPECT_EQ(first->tokens, c["completion_tokens"].get<std::vector<TokenId>>());
  const int32_t used = engine_->kv_cache().n_used_blocks();
  EXPECT_GT(used, 0);  // the finished sequence's prefix is kept
  Status off = sched.offload_engine();
  if (GetParam() == model::Device::kCpu) {
    ASSERT_FALSE(off.ok());
    EXPECT_NE(off.error().message().find("no GPU tier"), std::string::npos) << off.error().message();
    EXPECT_EQ(engine_->kv_cache().n_used_blocks(), used);
  } else {
    ASSERT_TRUE(off.ok()) << off.error().message();
    EXPECT_TRUE(engine_->offloaded());
    EXPECT_EQ(engine_->kv_cache().n_used_blocks(), 0);
    ASSERT_TRUE(sched.reload_engine().ok());
    EXPECT_FALSE(engine_->offloaded());
  }
  auto second = std::make_shared<Collected>();
  sched.submit(make_request(prompt, 24, second));
  RequestResult r2 = second->done.get_future().get();
  EXPECT_EQ(second->tokens, c["completion_tokens"].get<std::vector<TokenId>>());
  EXPECT_EQ(r2.timings.cached_tokens, GetParam() == model::Device::kCpu ? static_cast<int32_t>(prompt.size()) - 1 : 0);
}

class StepClock final : public Clock {
 public:
  int64_t now_ms() const override { return now.load(); }
  std::atomic<int64_t> now{1000};
};

// Finished sequences keep their KV blocks for reuse until a trim finds them unused for long
// enough; trimmed blocks go back to the system, and a later request is computed afresh (the
// discarded blocks read as zero) with llama.cpp's tokens all the same.
TEST_P(SchedulerTest, TrimFreesIdlePrefixesAndLaterRequestsStayCorrect) {
  if (GetParam() != model::Device::kCpu) GTEST_SKIP() << "committed host KV memory is the CPU backend's";
  auto cases = decisive_cases(golden_);
  const auto& c = cases.back();
  const std::vector<TokenId> prompt = c["prompt_tokens"].get<std::vector<TokenId>>();
  StepClock clock;
  Scheduler sched(*engine_, &clock);
  model::KvCache& kv = engine_->kv_cache();
  EXPECT_EQ(kv.committed_bytes(), 0u);  // nothing is committed before a block is written
  auto first = std::make_shared<Collected>();
  sched.submit(make_request(prompt, 24, first));
  first->done.get_future().get();
  sched.wait_idle();
  const int32_t used = kv.n_used_blocks();
  EXPECT_GT(used, 0);  // held by the finished sequence for prefix reuse
  EXPECT_EQ(kv.committed_bytes(), kv.block_bytes() * used);
  EXPECT_EQ(sched.stats().kv_used_bytes, kv.block_bytes() * used);  // what /metrics shows
  clock.now += 1000;
  EXPECT_EQ(sched.trim_prefixes(5000), 0u);  // used 1 s ago: kept
  EXPECT_EQ(kv.n_used_blocks(), used);
  clock.now += 5000;
  EXPECT_EQ(sched.trim_prefixes(5000), kv.block_bytes() * used);
  EXPECT_EQ(kv.n_used_blocks(), 0);
  EXPECT_EQ(kv.committed_bytes(), 0u);
  EXPECT_EQ(sched.stats().trimmed_prefixes, 1);
  EXPECT_EQ(sched.stats().trimmed_bytes, kv.block_bytes() * used);
  EXPECT_EQ(sched.stats().kv_used_bytes, 0u);
  auto second = std::make_shared<Collected>();
  sched.submit(make_request(prompt, 24, second));
  RequestResult r2 = second->done.get_future().get();
  EXPECT_EQ(r2.timings.cached_tokens, 0);
  EXPECT_EQ(second->tokens, c["completion_tokens"].get<std::vector<TokenId>>());
}

// Completions' echo with logprobs: a prompt of llama.cpp's prompt + completion tokens is scored
// in chunks, and the positions of the completion tokens give llama.cpp's distributions.
TEST_P(SchedulerTest, ScoredPromptGivesLlamaCppLogprobs) {
  const auto cases = decisive_cases(golden_);
  const auto& c = cases.front();
  std::vector<TokenId> prompt = c["prompt_tokens"].get<std::vector<TokenId>>();
  const size_t n_prompt = prompt.size();
  for (TokenId t : c["completion_tokens"].get<std::vector<TokenId>>()) prompt.push_back(t);
  ASSERT_GT(prompt.size(), static_cast<size_t>(Scheduler::kScoredChunk));  // several chunks
  Scheduler sched(*engine_);
  // First run the prompt unscored so that a reusable prefix sits in the cache: scoring must
  // compute it anyway.
  auto warm = std::make_shared<Collected>();
  sched.submit(make_request(prompt, 1, warm));
  warm->done.get_future().get();

  auto got = std::make_shared<Collected>();
  std::vector<TokenLogprob> lps;
  Request r = make_request(prompt, 2, got);
  r.params.prompt_logprobs = 5;
  auto inner = r.on_token;
  r.on_token = [&lps, inner](const StepOutput& out) {
    if (!out.prompt_logprobs.empty()) lps = out.prompt_logprobs;
    return inner(out);
  };
  sched.submit(std::move(r));
  RequestResult res = got->done.get_future().get();
  EXPECT_EQ(res.timings.cached_tokens, 0);
  ASSERT_EQ(lps.size(), prompt.size() - 1);
  for (size_t j = 0; j < lps.size(); ++j) {
    EXPECT_EQ(lps[j].token, prompt[j + 1]);
    ASSERT_EQ(lps[j].top.size(), 5u);
    EXPECT_LE(lps[j].logprob, lps[j].top[0].second + 1e-6f);
  }
  const auto& steps = c["steps"];
  for (size_t i = 0; i < steps.size(); ++i) {
    const TokenLogprob& lp = lps[n_prompt + i - 1];
    const auto& top = steps[i]["top"];
    EXPECT_EQ(lp.top[0].first, top[0][0].get<TokenId>()) << "step " << i;
    EXPECT_NEAR(lp.top[0].second, top[0][1].get<double>(), 0.02) << "step " << i;
  }
}

TEST_P(SchedulerTest, CancelledRequestStopsAndFreesItsSlot) {
  Scheduler sched(*engine_);
  auto c = std::make_shared<Collected>();
  sched.submit(make_request({1, 9038, 2501, 263, 931}, 100, c, /*cancel_after=*/3));
  RequestResult r = c->done.get_future().get();
  EXPECT_EQ(r.reason, FinishReason::kCancelled);
  EXPECT_EQ(c->tokens.size(), 3u);
  sched.wait_idle();
  EXPECT_EQ(sched.stats().running, 0);
}

TEST_P(SchedulerTest, PromptLongerThanContextIsAnError) {
  Scheduler sched(*engine_);
  auto c = std::make_shared<Collected>();
  sched.submit(make_request(std::vector<TokenId>(600, 100), 4, c));
  RequestResult r = c->done.get_future().get();
  EXPECT_EQ(r.reason, FinishReason::kError);
  EXPECT_NE(r.error.find("does not fit the context of 512"), std::string::npos) << r.error;
}

TEST_P(SchedulerTest, MoreRequestsThanSlotsAllComplete) {
  Scheduler sched(*engine_);
  std::vector<std::shared_ptr<Collected>> got;
  for (int i = 0; i < 9; ++i) {
    got.push_back(std::make_shared<Collected>());
    sched.submit(make_request({1, 100 + i, 200 + i}, 5, got.back()));
  }
  for (auto& g : got) EXPECT_EQ(g->done.get_future().get().timings.generated_tokens, 5);
  sched.wait_idle();
}

INSTANTIATE_TEST_SUITE_P(Devices, SchedulerTest, ::testing::Values(model::Device::kCpu, model::Device::kCuda),
                         [](const auto& info) { return std::string(model::device_name(info.param)); });

}  // namespace
}  // namespace hangar::engine
