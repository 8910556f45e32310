// Settings driving the manager's parts: the cache's keep-alive, pins, preloads, priorities,
// memory limits, the loader's per-model sizes and the reloads their changes need, with a fake
// clock and loader (no sleeping).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "manager/manager.h"
#include "manager/test_support.h"

namespace hangar::manager {
namespace {

using namespace testing;

// A FakeLoader that also records the per-model sizes the settings give each load.
class SizedLoader final : public ModelLoader {
 public:
  explicit SizedLoader(FakeClock* clock) : inner_(clock) {}
  // As the engine loader: the plan carries the model's memory_limit.
  LoadPlan plan(const ModelRecord& rec) override {
    LoadPlan p = inner_.plan(rec);
    if (fn_) p.memory_limit = fn_(rec.id).memory_limit;
    return p;
  }
  Result<std::shared_ptr<LoadedModel>> load(const ModelRecord& rec, const LoadProgress& progress) override {
    {
      std::lock_guard lock(mu_);
      loaded_with[rec.id] = fn_ ? fn_(rec.id) : ModelLoadSettings{};
    }
    return inner_.load(rec, progress);
  }
  void set_load_settings(LoadSettingsFn fn) override { fn_ = std::move(fn); }
  ModelLoadSettings last(const std::string& id) {
    std::lock_guard lock(mu_);
    return loaded_with.at(id);
  }
  std::map<std::string, ModelLoadSettings> loaded_with;
  FakeLoader inner_;

 private:
  std::mutex mu_;
  LoadSettingsFn fn_;
};

class SettingsManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.path("models"));
    for (const char* id : {"qwen", "llama-a", "llama-b"}) write_model(dir_.path(std::string("models/") + id + ".gguf"));
  }
  std::unique_ptr<Manager> open(const std::string& settings, uint64_t budget = 0) {
    std::ofstream(dir_.path("models/hangar.toml"), std::ios::trunc) << settings;
    ManagerConfig config;
    config.cache.budget_bytes = budget;
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
  FakeClock clock_;
  FakeWallClock wall_{1'700'000'000'000};
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

// The events of `sub` published so far, as "type model" and the reason or reload field.
std::vector<std::string> drain_events(EventSubscription& sub) {
  std::vector<std::string> out;
  while (std::optional<ModelEvent> ev = sub.next(std::chrono::milliseconds(0))) {
    std::string line = ev->type + " " + ev->model;
    for (const char* field : {"reason", "reload"}) {
      const ModelEvent::Value* v = ev->find(field);
      if (v == nullptr) continue;
      if (const bool* b = std::get_if<bool>(v)) line += std::string(" ") + field + "=" + (*b ? "true" : "false");
      if (const std::string* str = std::get_if<std::string>(v)) line += std::string(" ") + field + "=" + *str;
    }
    out.push_back(line);
  }
  return out;
}

TEST_F(SettingsManagerTest, AnEngineSizeChangeUnloadsIdleModelsNowAndBusyOnesWhenTheirRequestsEnd) {
  auto m = open("[models.qwen]\nctx = 512\n[models.\"llama-*\"]\nctx = 256\n");
  ASSERT_TRUE(m);
  auto busy = m->cache().acquire("qwen");
  ASSERT_TRUE(busy.ok());
  { ASSERT_TRUE(m->cache().acquire("llama-a").ok()); }  // loaded, idle
  auto sub = m->events().subscribe();
  // qwen and llama-a change size; llama-b (not loaded) too; a sampling key reloads nothing.
  rewrite("[models.qwen]\nctx = 1024\n[models.\"llama-*\"]\nctx = 128\ntemperature = 0.1\n");
  m->housekeep();
  EXPECT_FALSE(m->cache().is_loaded("llama-a"));
  EXPECT_EQ(m->cache().status("llama-a")->last_eviction, "settings_change");
  ASSERT_TRUE(m->cache().is_loaded("qwen"));  // a request is in flight: never evicted
  EXPECT_TRUE(m->cache().status("qwen")->reload_pending);
  Result<FitReport> fit = m->cache().fit("qwen");
  ASSERT_TRUE(fit.ok());
  EXPECT_NE(fit->reason.find("reloads"), std::string::npos) << fit->reason;
  EXPECT_EQ(drain_events(*sub),
            (std::vector<std::string>{"settings llama-a reload=true", "settings llama-b reload=true",
                                      "settings qwen reload=true", "evicted llama-a reason=settings_change"}));

  busy->release();  // its last request ended: it goes
  EXPECT_FALSE(m->cache().is_loaded("qwen"));
  EXPECT_EQ(m->cache().status("qwen")->last_eviction, "settings_change");
  EXPECT_EQ(m->cache().stats().unloads_for(EvictionReason::kSettings), 2);
  { ASSERT_TRUE(m->cache().acquire("qwen").ok()); }
  { ASSERT_TRUE(m->cache().acquire("llama-a").ok()); }
  EXPECT_EQ(loader_.last("qwen").ctx, 1024);
  EXPECT_EQ(loader_.last("llama-a").ctx, 128);

  // Only sampling keys change: the settings event says so and nothing is unloaded.
  rewrite("[models.qwen]\nctx = 1024\n[models.\"llama-*\"]\nctx = 128\ntemperature = 0.2\n");
  (void)drain_events(*sub);
  m->housekeep();
  EXPECT_TRUE(m->cache().is_loaded("llama-a"));
  EXPECT_EQ(drain_events(*sub),
            (std::vector<std::string>{"settings llama-a reload=false", "settings llama-b reload=false"}));
  EXPECT_EQ(loader_.inner_.calls_for("llama-a"), 2);
}

TEST_F(SettingsManagerTest, APinnedModelUnloadedForNewSizesIsQueuedToLoadAgain) {
  auto m = open("[models.qwen]\npin = true\nctx = 512\n");
  ASSERT_TRUE(m);  // not started: the preloader's queue stays as the change left it
  { ASSERT_TRUE(m->cache().acquire("qwen").ok()); }
  EXPECT_TRUE(m->preloader().order().empty());
  rewrite("[models.qwen]\npin = true\nctx = 1024\n");
  m->housekeep();
  EXPECT_FALSE(m->cache().is_loaded("qwen"));
  EXPECT_TRUE(m->cache().status("qwen")->pinned);
  EXPECT_EQ(m->preloader().order(), std::vector<std::string>{"qwen"});
  EXPECT_EQ(m->preloader().step(), 1);
  EXPECT_TRUE(m->cache().is_loaded("qwen"));
  EXPECT_EQ(loader_.last("qwen").ctx, 1024);
}

TEST_F(SettingsManagerTest, ARequestDuringAReloadWaitsForTheNewSizesAndTheEventsSayWhy) {
  auto m = open("[models.qwen]\nctx = 512\n");
  ASSERT_TRUE(m);
  auto sub = m->events().subscribe();
  auto busy = m->cache().acquire("qwen");
  ASSERT_TRUE(busy.ok());
  ASSERT_TRUE(m->settings().patch("qwen", [] {
    SettingsLayer l;
    l.set(SettingKey::kCtx, SettingValue{int64_t{2048}, {}});
    return l;
  }(), {}).ok());
  // A new request does not take the model loaded under the old sizes: it waits for the reload.
  Result<Lease> next = Error("pending");
  std::thread t([&] { next = m->cache().acquire("qwen"); });
  while (m->cache().status("qwen")->waiting < 1) std::this_thread::yield();
  EXPECT_EQ(loader_.inner_.calls_for("qwen"), 1);
  busy->release();
  t.join();
  ASSERT_TRUE(next.ok()) << next.error().message();
  EXPECT_EQ(loader_.inner_.calls_for("qwen"), 2);
  EXPECT_EQ(loader_.last("qwen").ctx, 2048);
  next->release();
  std::vector<std::string> seen = drain_events(*sub);
  // Loading events carry progress; keep the first of each run.
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  EXPECT_EQ(seen, (std::vector<std::string>{"loading qwen", "loaded qwen", "settings qwen reload=true", "queued qwen reason=reload",
                                            "evicted qwen reason=settings_change", "loading qwen", "loaded qwen"}));
}

TEST_F(SettingsManagerTest, AModelOverItsMemoryLimitIsRefusedAsInsufficientMemory) {
  loader_.inner_.set("qwen", {.estimate = 100, .actual = 100, .fail = ""});
  loader_.inner_.set("llama-a", {.estimate = 100, .actual = 300, .fail = ""});
  auto m = open("[models.qwen]\nmemory_limit = 50\n[models.llama-a]\nmemory_limit = 200\n");
  ASSERT_TRUE(m);
  // The estimate is over the limit: refused before any load.
  AcquireFailure f;
  auto q = m->cache().acquire("qwen", {}, &f);
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(f.kind, FailureKind::kInsufficientMemory);
  EXPECT_NE(q.error().message().find("memory_limit setting of 50 bytes"), std::string::npos) << q.error().message();
  EXPECT_EQ(loader_.inner_.calls_for("qwen"), 0);
  // The estimate is under it but the model took more once loaded: refused, measured, and the
  // next request is refused on the measurement without loading again.
  auto a = m->cache().acquire("llama-a", {}, &f);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(f.kind, FailureKind::kInsufficientMemory);
  EXPECT_NE(a.error().message().find("once loaded"), std::string::npos) << a.error().message();
  EXPECT_FALSE(m->cache().is_loaded("llama-a"));
  EXPECT_EQ(loader_.inner_.live_models(), 0);
  a = m->cache().acquire("llama-a", {}, &f);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(f.kind, FailureKind::kInsufficientMemory);
  EXPECT_NE(a.error().message().find("a measured 300 bytes"), std::string::npos) << a.error().message();
  EXPECT_EQ(loader_.inner_.calls_for("llama-a"), 1);
  // Raising the limit lets it in.
  ASSERT_TRUE(m->settings().patch("llama-a", [] {
    SettingsLayer l;
    l.set(SettingKey::kMemoryLimit, SettingValue{int64_t{400}, {}});
    return l;
  }(), {}).ok());
  EXPECT_TRUE(m->cache().acquire("llama-a").ok());
  // A limit lowered under a resident model's footprint unloads it (idle) and refuses it.
  ASSERT_TRUE(m->cache().is_loaded("llama-a"));
  auto sub = m->events().subscribe();
  ASSERT_TRUE(m->settings().patch("llama-a", [] {
    SettingsLayer l;
    l.set(SettingKey::kMemoryLimit, SettingValue{int64_t{250}, {}});
    return l;
  }(), {}).ok());
  EXPECT_FALSE(m->cache().is_loaded("llama-a"));
  EXPECT_EQ(m->cache().status("llama-a")->last_eviction, "settings_change");
  EXPECT_EQ(drain_events(*sub), (std::vector<std::string>{"settings llama-a reload=true",
                                                          "evicted llama-a reason=settings_change"}));
  EXPECT_FALSE(m->cache().acquire("llama-a", {}, &f).ok());
  EXPECT_EQ(f.kind, FailureKind::kInsufficientMemory);
}

TEST_F(SettingsManagerTest, ThePriorityFromTheSettingsDecidesWhoGetsMemoryFirst) {
  auto m = open("[models.qwen]\npriority = 5\n", /*budget=*/100);  // holds one model
  ASSERT_TRUE(m);
  EXPECT_EQ(m->settings().priority("qwen"), 5);
  auto held = m->cache().acquire("llama-a");
  ASSERT_TRUE(held.ok());
  std::vector<std::string> order;
  std::mutex mu;
  auto request = [&](const std::string& id) {
    auto lease = m->cache().acquire(id);
    ASSERT_TRUE(lease.ok()) << lease.error().message();
    std::lock_guard lock(mu);
    order.push_back(id);
  };
  std::thread b([&] { request("llama-b"); });  // arrives first, priority 0
  while (m->cache().stats().waiting < 1) std::this_thread::yield();
  std::thread q([&] { request("qwen"); });     // arrives second, priority 5
  while (m->cache().stats().waiting < 2) std::this_thread::yield();
  EXPECT_EQ(m->cache().status("qwen")->priority, 5);
  held->release();
  b.join();
  q.join();
  EXPECT_EQ(order, (std::vector<std::string>{"qwen", "llama-b"}));
}

}  // namespace
}  // namespace hangar::manager
