// Engine on each device: GPU tiers (offload to host memory and back) keep the results; the CPU
// has no tiers. CUDA tests skip where no GPU is present.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/engine.h"

namespace hangar::engine {
namespace {

const std::string kModel = std::string(HANGAR_SHARED_DIR) + "/models/llama-2-tiny-random.gguf";

std::unique_ptr<Engine> load(model::Device device, ThreadPool& pool) {
  EngineOptions eo;
  eo.n_ctx = 256;
  eo.n_seq = 2;
  eo.batch_tokens = 64;
  eo.device = device;
  auto e = Engine::load(kModel, eo, pool);
  EXPECT_TRUE(e.ok()) << e.error().message();
  return e.ok() ? std::move(*e) : nullptr;
}

// Logits of every position of a prompt evaluated in one batch, then of three decode steps.
std::vector<float> run(Engine& e) {
  const std::vector<TokenId> prompt = {1, 15043, 29892, 920, 526, 366, 29973, 306};
  const std::vector<TokenId> next = {13, 29902, 29915};
  const size_t nv = static_cast<size_t>(e.n_vocab());
  std::vector<float> logits((prompt.size() + next.size()) * nv);
  Sequence seq;
  EvalItem first{&seq, prompt, logits.data(), true};
  EXPECT_TRUE(e.eval({&first, 1}).ok());
  for (size_t i = 0; i < next.size(); ++i) {
    EvalItem step{&seq, {&next[i], 1}, logits.data() + (prompt.size() + i) * nv};
    EXPECT_TRUE(e.eval({&step, 1}).ok());
  }
  seq.release(e.kv_cache());
  return logits;
}

TEST(EngineDevice, CpuHasNoGpuTier) {
  ThreadPool pool(2);
  auto e = load(model::Device::kCpu, pool);
  ASSERT_TRUE(e);
  Status st = e->offload();
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("no GPU tier"), std::string::npos) << st.error().message();
  EXPECT_FALSE(e->offloaded());
  EXPECT_EQ(e->device_bytes(), 0u);
}

TEST(EngineDevice, CudaOffloadAndReloadKeepTheLogits) {
  if (!model::cuda_device_present()) GTEST_SKIP() << "no CUDA GPU: " << model::cuda_probe_message();
  ThreadPool pool(2);
  auto e = load(model::Device::kCuda, pool);
  ASSERT_TRUE(e);
  const uint64_t on_gpu = e->device_bytes();
  EXPECT_GT(on_gpu, 0u);
  const std::vector<float> before = run(*e);
  ASSERT_TRUE(e->offload().ok());
  EXPECT_TRUE(e->offloaded());
  EXPECT_EQ(e->device_bytes(), 0u);
  EXPECT_GT(e->host_tier_bytes(), 0u);
  Sequence seq;
  TokenId t = 1;
  float logits_dummy = 0;
  EvalItem item{&seq, {&t, 1}, &logits_dummy};
  EXPECT_FALSE(e->eval({&item, 1}).ok());  // offloaded: no compute until reloaded
  seq.release(e->kv_cache());
  ASSERT_TRUE(e->reload().ok());
  EXPECT_FALSE(e->offloaded());
  EXPECT_EQ(e->device_bytes(), on_gpu);
  EXPECT_EQ(e->host_tier_bytes(), 0u);
  EXPECT_EQ(run(*e), before);
}

TEST(EngineDevice, CudaAndCpuAgree) {
  if (!model::cuda_device_present()) GTEST_SKIP() << "no CUDA GPU: " << model::cuda_probe_message();
  ThreadPool pool(2);
  auto cpu = load(model::Device::kCpu, pool);
  auto gpu = load(model::Device::kCuda, pool);
  ASSERT_TRUE(cpu && gpu);
  const std::vector<float> a = run(*cpu), b = run(*gpu);
  ASSERT_EQ(a.size(), b.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) num += (a[i] - b[i]) * (a[i] - b[i]), den += a[i] * a[i];
  EXPECT_LT(std::sqrt(num / den), 1e-3);
}

}  // namespace
}  // namespace hangar::engine
