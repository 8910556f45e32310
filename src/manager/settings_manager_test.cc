// Settings driving the manager's parts: the cache's keep-alive, pins, preloads and the
// loader's per-model sizes, with a fake clock and loader (no sleeping).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "manager/manager.h"
#include "manager/test_support.h"

namespace hangar::manager {
namespace {

using namespace testing;

// A FakeLoader that also records the per-model sizes the settings give each load.
class SizedLoader final : public ModelLoader {
 public:
  explicit SizedLoader(FakeClock* clock) : inner_(clock) {}
  LoadPlan plan(const ModelRecord& rec) override { return inner_.plan(rec); }
  Result<std::shared_ptr<LoadedModel>> load(const ModelRecord& rec, const LoadProgress& progress) override {
    loaded_with[rec.id] = fn_ ? fn_(rec.id) : ModelLoadSettings{};
    return inner_.load(rec, progress);
  }
  void set_load_settings(LoadSettingsFn fn) override { fn_ = std::move(fn); }
  std::map<std::string, ModelLoadSettings> loaded_with;

 private:
  FakeLoader inner_;
  LoadSettingsFn fn_;
};

class SettingsManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.path("models"));
    for (const char* id : {"qwen", "llama-a", "llama-b"}) write_model(dir_.path(std::string("models/") + id + ".gguf"));
  }
  std::unique_ptr<Manager> open(const std::string& settings) {
    std::ofstream(dir_.path("models/hangar.toml"), std::ios::trunc) << settings;
    ManagerConfig config;
    config.models_dir = dir_.path("models");
    config.state_dir = dir_.path("state");
    config.hash_in_background = false;
    config.cache.keep_alive_ms = 60'000;
    config.settings.builtin.set(SettingKey::kKeepAlive, SettingValue{std::string("1m"), {}});
    config.settings.stat = [this](const std::string& p) -> std::optional<FileStamp> { return FileStamp{stamp_, 0}; };
    auto m = Manager::open(config, loader_, memory_, clock_, wall_);
    EXPECT_TRUE(m.ok()) << m.error().message();
    return m.ok() ? std::move(m).value() : nullptr;
  }
  void rewrite(const std::string& settings) {
    std::ofstream(dir_.path("models/hangar.toml"), std::ios::trunc) << settings;
    stamp_ += 1;
  }

  TempDir dir_;
  FakeClock clock_, wall_{1'700'000'000'000};
  SizedLoader loader_{&clock_};
  FakeMemoryReader memory_;
  int64_t stamp_ = 1;
};

TEST_F(SettingsManagerTest, EachModelKeepsItsOwnKeepAlive) {
  auto m = open("[models.qwen]\nkeep_alive = \"10s\"\n");
  ASSERT_TRUE(m);
  {
    auto a = m->cache().acquire("qwen");
    auto b = m->cache().acquire("llama-a");
    ASSERT_TRUE(a.ok() && b.ok());
  }
  clock_.advance(10'000);
  m->housekeep();
  EXPECT_FALSE(m->cache().is_loaded("qwen"));    // its 10 s ran out
  EXPECT_TRUE(m->cache().is_loaded("llama-a"));  // the default minute did not
  // A request's own keep_alive still wins over the settings.
  AcquireOptions opts;
  opts.keep_alive_ms = 30'000;
  { ASSERT_TRUE(m->cache().acquire("qwen", opts).ok()); }
  clock_.advance(10'000);
  m->housekeep();
  EXPECT_TRUE(m->cache().is_loaded("qwen"));
}

TEST_F(SettingsManagerTest, PinAndPreloadFollowTheFile) {
  auto m = open("[models.\"llama-*\"]\npin = true\n");
  ASSERT_TRUE(m);  // not started: the preloader's queue stays as the settings left it
  EXPECT_TRUE(m->cache().status("llama-a")->pinned);
  EXPECT_TRUE(m->cache().status("llama-b")->pinned);
  EXPECT_FALSE(m->cache().status("qwen").has_value() && m->cache().status("qwen")->pinned);
  // A manual pin is the user's: the settings do not take it away.
  ASSERT_TRUE(m->cache().pin("qwen").ok());
  rewrite("[models.llama-b]\npin = true\n[models.qwen]\npreload = true\n");
  m->housekeep();  // the poll reads the new file
  EXPECT_FALSE(m->cache().status("llama-a")->pinned);
  EXPECT_TRUE(m->cache().status("llama-b")->pinned);
  EXPECT_TRUE(m->cache().status("qwen")->pinned);
  EXPECT_EQ(m->preloader().order(), std::vector<std::string>{"qwen"});
}

TEST_F(SettingsManagerTest, TheLoaderGetsEachModelsSizes) {
  auto m = open("[defaults]\nctx = 2048\n[models.qwen]\nctx = 512\nparallel = 3\nthreads = 2\n"
                "batch_tokens = 64\nmemory_limit = \"1Mi\"\n");
  ASSERT_TRUE(m);
  { ASSERT_TRUE(m->cache().acquire("qwen").ok()); }
  { ASSERT_TRUE(m->cache().acquire("llama-a").ok()); }
  const ModelLoadSettings q = loader_.loaded_with.at("qwen");
  EXPECT_EQ(q.ctx, 512);
  EXPECT_EQ(q.parallel, 3);
  EXPECT_EQ(q.threads, 2);
  EXPECT_EQ(q.batch_tokens, 64);
  EXPECT_EQ(q.memory_limit, 1u << 20);
  const ModelLoadSettings l = loader_.loaded_with.at("llama-a");
  EXPECT_EQ(l.ctx, 2048);
  EXPECT_EQ(l.parallel, 0);  // no layer set it: the loader's own option
}

}  // namespace
}  // namespace hangar::manager
