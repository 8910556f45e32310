// EngineLoader with real model files: measured memory, estimates, and generation through the
// scheduler reproducing llama.cpp's greedy continuations, also for two models sharing a pool.
#include "manager/engine_loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "manager/model_inspect.h"

namespace hangar::manager {
namespace {

const std::string kShared = HANGAR_SHARED_DIR;

ModelRecord record_for(const std::string& file) {
  ModelRecord rec;
  rec.id = file;
  rec.path = kShared + "/models/" + file;
  Status st = inspect_model_file(rec.path, &rec);
  EXPECT_TRUE(st.ok()) << st.error().message();
  rec.file_size = std::filesystem::file_size(rec.path);
  return rec;
}

struct GreedyCase {
  std::vector<int32_t> prompt, completion;
};

// Cases whose every step leads the runner-up by `margin`, so a correct engine cannot swap them.
std::vector<GreedyCase> decisive_cases(const std::string& file, double margin) {
  std::ifstream in(kShared + "/golden/completions/" + file + ".json");
  nlohmann::json g = nlohmann::json::parse(in);
  std::vector<GreedyCase> out;
  for (const auto& c : g["cases"]) {
    bool decisive = true;
    for (const auto& s : c["steps"])
      decisive &= s["top"][0][1].get<double>() - s["top"][1][1].get<double>() >= margin;
    if (decisive) out.push_back({c["prompt_tokens"].get<std::vector<int32_t>>(),
                                 c["completion_tokens"].get<std::vector<int32_t>>()});
  }
  return out;
}

// Runs one greedy request through the model's scheduler and returns the generated tokens.
std::vector<int32_t> generate(EngineModel& m, const GreedyCase& c) {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::vector<int32_t> tokens;
  engine::Request req;
  req.prompt = c.prompt;
  req.params.sampling.temperature = 0;
  req.params.max_tokens = static_cast<int32_t>(c.completion.size());
  req.params.ignore_eos = true;
  req.on_token = [&](const engine::StepOutput& out) {
    std::lock_guard lock(mu);
    tokens.push_back(out.token);
    return true;
  };
  req.on_done = [&](const engine::RequestResult&) {
    std::lock_guard lock(mu);
    done = true;
    cv.notify_all();
  };
  m.scheduler().submit(std::move(req));
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return done; });
  return tokens;
}

TEST(EngineLoader, MeasuresMemoryCloseToItsEstimate) {
  ThreadPool pool(2);
  EngineLoader loader(pool, {.ctx = 256, .parallel = 2});
  ModelRecord rec = record_for("llama-spm-d256-q8_0.gguf");
  const uint64_t estimate = loader.plan(rec).estimate_bytes;
  std::vector<double> progress;
  auto loaded = loader.load(rec, [&](double f, std::string_view) { progress.push_back(f); });
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  auto& m = dynamic_cast<EngineModel&>(**loaded);
  // Prefaulted, so the whole tensor data is resident (plus header pages of the mapping).
  EXPECT_GE(m.memory().weights_resident, rec.tensor_bytes);
  EXPECT_LE(m.memory().weights_resident, rec.file_size + 4096);
  EXPECT_GT(m.memory().kv_capacity, 0u);
  EXPECT_GT(m.memory().scratch, 0u);
  EXPECT_EQ(m.memory_bytes(), m.memory().total());
  EXPECT_EQ(m.n_ctx(), 256);
  EXPECT_EQ(m.parallel(), 2);
  EXPECT_EQ(m.engine_model(), &m);
  ASSERT_GE(progress.size(), 2u);
  EXPECT_EQ(progress.front(), 0.0);
  EXPECT_EQ(progress.back(), 1.0);
  EXPECT_TRUE(std::is_sorted(progress.begin(), progress.end()));
  // The admission estimate is within 10% of the measurement.
  const double ratio = double(estimate) / double(m.memory_bytes());
  EXPECT_GT(ratio, 0.9) << estimate << " vs " << m.memory_bytes();
  EXPECT_LT(ratio, 1.1) << estimate << " vs " << m.memory_bytes();
}

TEST(EngineLoader, PlanGrowsWithContextNamesItsSettingsAndIsCheapToRepeat) {
  ThreadPool pool(1);
  EngineLoader small_ctx(pool, {.ctx = 128, .parallel = 1});
  EngineLoader large_ctx(pool, {.ctx = 1024, .parallel = 1});
  ModelRecord rec = record_for("qwen2-d256-q4_k_m.gguf");
  const LoadPlan small = small_ctx.plan(rec);
  const LoadPlan large = large_ctx.plan(rec);
  EXPECT_GT(large.estimate_bytes, small.estimate_bytes);
  EXPECT_GT(small.estimate_bytes, rec.tensor_bytes);
  EXPECT_EQ(small_ctx.plan(rec).estimate_bytes, small.estimate_bytes);
  // Footprints are stored per settings: different contexts must not share one.
  EXPECT_NE(small.settings, large.settings);
  EXPECT_NE(small.settings.find("ctx=128"), std::string::npos) << small.settings;
  EXPECT_EQ(small.n_ctx, 128);
  EXPECT_GT(small.n_vocab, 0);
}

TEST(EngineLoader, GeneratesLlamaCppGreedyTokensThroughTheScheduler) {
  ThreadPool pool(2);
  EngineLoader loader(pool, {.ctx = 512, .parallel = 2});
  const std::string file = "llama-spm-d256-f16.gguf";
  auto loaded = loader.load(record_for(file), {});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  auto& m = dynamic_cast<EngineModel&>(**loaded);
  auto cases = decisive_cases(file, 0.02);
  ASSERT_FALSE(cases.empty());
  for (const auto& c : cases) EXPECT_EQ(generate(m, c), c.completion);
}

TEST(EngineLoader, TwoModelsShareOnePoolConcurrently) {
  ThreadPool pool(2);
  EngineLoader loader(pool, {.ctx = 512, .parallel = 1});
  const std::string a = "llama-spm-d256-f16.gguf", b = "llama-spm-d256-q8_0.gguf";
  auto la = loader.load(record_for(a), {});
  auto lb = loader.load(record_for(b), {});
  ASSERT_TRUE(la.ok() && lb.ok());
  auto ca = decisive_cases(a, 0.02), cb = decisive_cases(b, 0.05);
  ASSERT_FALSE(ca.empty());
  ASSERT_FALSE(cb.empty());
  std::vector<int32_t> out_a, out_b;
  std::thread ta([&] { out_a = generate(dynamic_cast<EngineModel&>(**la), ca[0]); });
  std::thread tb([&] { out_b = generate(dynamic_cast<EngineModel&>(**lb), cb[0]); });
  ta.join();
  tb.join();
  EXPECT_EQ(out_a, ca[0].completion);
  EXPECT_EQ(out_b, cb[0].completion);
}

TEST(EngineLoader, ReadsTheChatTemplateWhenPresent) {
  ThreadPool pool(1);
  EngineLoader loader(pool, {.ctx = 128, .parallel = 1});
  for (const char* file : {"qwen2-d256-q4_k_m.gguf", "llama-2-tiny-random.gguf"}) {
    ModelRecord rec = record_for(file);
    auto loaded = loader.load(rec, {});
    ASSERT_TRUE(loaded.ok()) << loaded.error().message();
    EXPECT_EQ(!dynamic_cast<EngineModel&>(**loaded).chat_template().empty(), rec.has_chat_template) << file;
  }
}

TEST(EngineLoader, TruncatedFileIsAnErrorNamingIt) {
  const std::string dir = ::testing::TempDir() + "/engine_loader_truncated";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/cut.gguf";
  {
    std::ifstream in(kShared + "/models/qwen2-d256-q4_k_m.gguf", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  }
  ThreadPool pool(1);
  EngineLoader loader(pool, {.ctx = 128, .parallel = 1});
  ModelRecord rec;
  rec.id = "cut";
  rec.path = path;
  auto loaded = loader.load(rec, {});
  ASSERT_FALSE(loaded.ok());
  EXPECT_NE(loaded.error().message().find(path), std::string::npos) << loaded.error().message();
  std::filesystem::remove_all(dir);
}

TEST(EngineLoader, ChecksTheFolioSizeOfAFileVersionOnceAndItsTokenizerIsKept) {
  // A copy of a shared model whose mtime the test moves: a changed file is another version.
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("hangar-folios-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const std::filesystem::path path = dir / "m.gguf";
  std::filesystem::copy_file(kShared + "/models/llama-spm-d256-q8_0.gguf", path);
  ModelRecord rec = record_for("llama-spm-d256-q8_0.gguf");
  rec.path = path.string();
  ThreadPool pool(1);
  EngineLoader loader(pool, {.ctx = 64, .parallel = 1});
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(loader.load(rec, {}).ok());
  EXPECT_EQ(loader.folio_checks(), 1);
  EXPECT_EQ(loader.tokenizers().stats().hits, 2);  // the second and third loads
  std::filesystem::last_write_time(path, std::filesystem::last_write_time(path) + std::chrono::seconds(5));
  auto changed = loader.load(rec, {});
  ASSERT_TRUE(changed.ok()) << changed.error().message();
  EXPECT_EQ(loader.folio_checks(), 2);
  EXPECT_EQ(loader.tokenizers().stats().hits, 2);  // a new version decodes its vocabulary
  // The kept tokenizer encodes as a fresh one does.
  auto& m = dynamic_cast<EngineModel&>(**changed);
  auto fresh = loader.load(rec, {});
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(dynamic_cast<EngineModel&>(**fresh).tokenizer().encode("Hello world", true, false),
            m.tokenizer().encode("Hello world", true, false));
  std::filesystem::remove_all(dir);
}

// A model's `device` setting picks its backend; one this machine cannot have fails that load
// with the reason (and a GPU machine loads it there).
TEST(EngineLoader, DeviceSettingPicksTheBackend) {
  ThreadPool pool(1);
  EngineLoader loader(pool, {.ctx = 128, .parallel = 1});
  std::string device;
  loader.set_load_settings([&device](const std::string&) {
    ModelLoadSettings s;
    s.device = device;
    return s;
  });
  ModelRecord rec = record_for("llama-2-tiny-random.gguf");
  device = "cpu";
  auto cpu = loader.load(rec, {});
  ASSERT_TRUE(cpu.ok()) << cpu.error().message();
  EXPECT_EQ(dynamic_cast<EngineModel&>(**cpu).device(), model::Device::kCpu);
  device = "cuda";
  auto gpu = loader.load(rec, {});
  if (model::cuda_device_present()) {
    ASSERT_TRUE(gpu.ok()) << gpu.error().message();
    EXPECT_EQ(dynamic_cast<EngineModel&>(**gpu).device(), model::Device::kCuda);
  } else {
    ASSERT_FALSE(gpu.ok());
    EXPECT_NE(gpu.error().message().find("model 'llama-2-tiny-random.gguf': device cuda:"), std::string::npos)
        << gpu.error().message();
  }
}

// A model computing on the CPU has no GPU tier: its plan asks for no GPU memory and the cache
// can neither demote nor promote it.
TEST(EngineLoader, CpuModelHasNoGpuTier) {
  ThreadPool pool(1);
  EngineLoaderOptions lo;
  lo.ctx = 128;
  lo.parallel = 1;
  EngineLoader loader(pool, lo);
  ModelRecord rec = record_for("llama-2-tiny-random.gguf");
  EXPECT_EQ(loader.plan(rec).gpu_estimate_bytes, 0u);
  auto loaded = loader.load(rec, {});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  LoadedModel& m = **loaded;
  const uint64_t host = m.memory_bytes();
  EXPECT_FALSE(m.has_gpu_tier());
  EXPECT_EQ(m.tier(), ModelTier::kHost);
  EXPECT_EQ(m.gpu_bytes(), 0u);
  EXPECT_EQ(m.host_copy_bytes(), 0u);
  for (Status st : {m.demote(), m.promote()}) {
    ASSERT_FALSE(st.ok());
    EXPECT_NE(st.error().message().find("computes on the CPU: it has no GPU tier"), std::string::npos)
        << st.error().message();
  }
  EXPECT_EQ(m.memory_bytes(), host);
}

// On a GPU: demote moves the weights to page-locked host memory (the host bytes grow by the
// copy announced beforehand, the GPU bytes go to 0), promote brings them back, and the model
// still generates llama.cpp's tokens.
TEST(EngineLoader, CudaModelDemotesAndPromotes) {
  if (!model::cuda_device_present()) GTEST_SKIP() << "no CUDA GPU: " << model::cuda_probe_message();
  ThreadPool pool(2);
  EngineLoaderOptions lo;
  lo.ctx = 512;
  lo.parallel = 2;
  lo.device = model::Device::kCuda;
  EngineLoader loader(pool, lo);
  const std::string file = "llama-spm-d256-f16.gguf";
  ModelRecord rec = record_for(file);
  const LoadPlan plan = loader.plan(rec);
  EXPECT_GT(plan.gpu_estimate_bytes, 0u);
  auto loaded = loader.load(rec, {});
  ASSERT_TRUE(loaded.ok()) << loaded.error().message();
  auto& m = dynamic_cast<EngineModel&>(**loaded);
  ASSERT_TRUE(m.has_gpu_tier());
  EXPECT_EQ(m.tier(), ModelTier::kGpu);
  const uint64_t gpu = m.gpu_bytes(), host = m.memory_bytes(), copy = m.host_copy_bytes();
  EXPECT_GT(gpu, 0u);
  EXPECT_GT(copy, 0u);
  auto cases = decisive_cases(file, 0.02);
  ASSERT_FALSE(cases.empty());
  EXPECT_EQ(generate(m, cases[0]), cases[0].completion);
  ASSERT_TRUE(m.demote().ok());
  EXPECT_EQ(m.tier(), ModelTier::kHost);
  EXPECT_EQ(m.gpu_bytes(), 0u);
  EXPECT_EQ(m.memory_bytes(), host + copy);
  ASSERT_TRUE(m.promote().ok());
  EXPECT_EQ(m.tier(), ModelTier::kGpu);
  EXPECT_EQ(m.gpu_bytes(), gpu);
  EXPECT_EQ(m.memory_bytes(), host);
  for (const auto& c : cases) EXPECT_EQ(generate(m, c), c.completion);
}

}  // namespace
}  // namespace hangar::manager
