// Tests for the Manager facade: opening state, --preload validation, start/stop of its threads.
#include "manager/manager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

#include "manager/model_inspect.h"
#include "manager/test_support.h"

namespace hangar::manager {
namespace {

using namespace testing;

TEST(Manager, OpensScansAndPersistsPreloadIds) {
  TempDir dir;
  std::filesystem::create_directories(dir.path("models"));
  write_model(dir.path("models/a.gguf"));
  write_model(dir.path("models/b.gguf"));
  FakeClock clock;
  FakeWallClock wall(1'700'000'000'000);
  FakeLoader loader(&clock);
  FakeMemoryReader memory;
  ManagerConfig config;
  config.models_dir = dir.path("models");
  config.state_dir = dir.path("state");
  config.preload_ids = {"b"};
  {
    auto m = Manager::open(config, loader, memory, clock, wall);
    ASSERT_TRUE(m.ok()) << m.error().message();
    EXPECT_EQ((*m)->registry().list().size(), 2u);
    EXPECT_EQ((*m)->registry().preload_list(), (std::vector<std::string>{"b"}));
    auto digest = (*m)->verify("a");
    ASSERT_TRUE(digest.ok()) << digest.error().message();
    EXPECT_EQ(*digest, sha256_file(dir.path("models/a.gguf")).value());
    EXPECT_EQ((*m)->registry().get("a")->sha256, *digest);
  }
  config.preload_ids = {"zzz"};
  auto bad = Manager::open(config, loader, memory, clock, wall);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("--preload"), std::string::npos);
  EXPECT_NE(bad.error().message().find("'zzz'"), std::string::npos);
}

TEST(Manager, StartAndStopJoinTheThreads) {
  TempDir dir;
  FakeClock clock;
  FakeWallClock wall;
  FakeLoader loader(&clock);
  FakeMemoryReader memory;
  ManagerConfig config;
  config.models_dir = dir.path("models");
  config.state_dir = dir.path("state");
  auto m = Manager::open(config, loader, memory, clock, wall);
  ASSERT_TRUE(m.ok()) << m.error().message();
  (*m)->start();
  (*m)->start();  // idempotent
  (*m)->stop();
  (*m)->stop();
  EXPECT_FALSE((*m)->hasher().progress().running);
}

TEST(Manager, RestartServesKnownModelsWhileTheBackgroundReadsHeaders) {
  TempDir dir;
  std::filesystem::create_directories(dir.path("models"));
  write_model(dir.path("models/a.gguf"));
  write_model(dir.path("models/b.gguf"));
  FakeClock clock;
  FakeWallClock wall(1'700'000'000'000);
  FakeLoader loader(&clock);
  FakeMemoryReader memory;
  ManagerConfig config;
  config.models_dir = dir.path("models");
  config.state_dir = dir.path("state");
  {
    auto first = Manager::open(config, loader, memory, clock, wall);
    ASSERT_TRUE(first.ok()) << first.error().message();
    EXPECT_TRUE((*first)->scanned());
    EXPECT_EQ((*first)->registry().pending_headers(), 2);  // registered from stat alone
    EXPECT_TRUE((*first)->worker().run_now("headers"));
    EXPECT_EQ((*first)->registry().pending_headers(), 0);
  }
  write_model(dir.path("models/c.gguf"));
  std::mutex mu;
  std::condition_variable cv;
  int reads = 0;
  bool release = false;
  config.inspect = [&](const std::string& path, ModelRecord* rec) {
    std::unique_lock lock(mu);
    ++reads;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    lock.unlock();
    return inspect_model_file(path, rec);
  };
  auto m = Manager::open(config, loader, memory, clock, wall);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_FALSE((*m)->scanned());
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(reads, 0);  // open() read no header
  }
  EXPECT_TRUE((*m)->worker().run_now("rescan"));
  EXPECT_TRUE((*m)->scanned());
  EXPECT_EQ((*m)->registry().list().size(), 3u);  // c registered without reading it
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(reads, 0);
  }
  std::thread worker([&] { (*m)->worker().run_now("headers"); });
  {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return reads > 0; });
  }
  // The background job is held inside c's header read; what requests use answers from the
  // known records, and a scan goes on. (Were one to wait for the read, this test would hang.)
  EXPECT_TRUE((*m)->cache().admission("a").ok());
  EXPECT_TRUE((*m)->cache().acquire("a", {}).ok());
  EXPECT_TRUE((*m)->registry().scan().ok());
  EXPECT_TRUE((*m)->registry().get("c")->header_pending());
  {
    std::lock_guard lock(mu);
    release = true;
    cv.notify_all();
  }
  worker.join();
  EXPECT_FALSE((*m)->registry().get("c")->header_pending());
  const auto jobs = (*m)->worker().stats();
  auto job = [&](const char* name) {
    return *std::find_if(jobs.begin(), jobs.end(), [&](const JobStats& j) { return j.name == name; });
  };
  EXPECT_EQ(job("rescan").runs, 1);
  EXPECT_EQ(job("rescan").last.detail, "1 added, 0 changed, 0 gone, 2 unchanged");
  EXPECT_EQ(job("headers").last.detail, "1 headers read, 0 unreadable, 0 pending");
}

TEST(Manager, TheHeadersJobReadsInBatchesAndRunsAgainUntilNoneIsPending) {
  TempDir dir;
  std::filesystem::create_directories(dir.path("models"));
  const int n = static_cast<int>(Manager::kHeaderBatch) + 3;
  for (int i = 0; i < n; ++i) write_model(dir.path("models/m" + std::to_string(i) + ".gguf"));
  FakeClock clock;
  FakeWallClock wall(1'700'000'000'000);
  FakeLoader loader(&clock);
  FakeMemoryReader memory;
  ManagerConfig config;
  config.models_dir = dir.path("models");
  config.state_dir = dir.path("state");
  auto m = Manager::open(config, loader, memory, clock, wall);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ((*m)->registry().list().size(), static_cast<size_t>(n));
  EXPECT_EQ((*m)->registry().pending_headers(), n);
  BackgroundWorker& w = (*m)->worker();
  w.run_due();  // every job once; headers reads one batch and asks to run again
  EXPECT_EQ((*m)->registry().pending_headers(), 3);
  EXPECT_EQ(w.run_due(), 1);  // only headers was due: the clock has not moved
  EXPECT_EQ((*m)->registry().pending_headers(), 0);
  EXPECT_EQ(w.run_due(), 0);
}

TEST(Manager, WorkerJobsExpireKeepAlivePruneAndMaintain) {
  TempDir dir;
  std::filesystem::create_directories(dir.path("models"));
  write_model(dir.path("models/a.gguf"));
  write_model(dir.path("models/b.gguf"));
  FakeClock clock;
  FakeWallClock wall(1'700'000'000'000);
  FakeLoader loader(&clock);
  loader.set("a", {.estimate = 100, .actual = 100});
  FakeMemoryReader memory;
  ManagerConfig config;
  config.models_dir = dir.path("models");
  config.state_dir = dir.path("state");
  config.cache.keep_alive_ms = 5000;
  config.prune_grace_ms = 60'000;
  auto m = Manager::open(config, loader, memory, clock, wall);
  ASSERT_TRUE(m.ok()) << m.error().message();
  BackgroundWorker& w = (*m)->worker();
  EXPECT_EQ(w.run_due(), 8);  // every job runs once at start
  { auto lease = (*m)->cache().acquire("a", {}); ASSERT_TRUE(lease.ok()); }
  EXPECT_TRUE((*m)->cache().is_loaded("a"));
  std::filesystem::remove(dir.path("models/b.gguf"));
  clock.advance(config.housekeeping_interval_ms);
  w.run_due();
  EXPECT_TRUE((*m)->cache().is_loaded("a"));  // keep-alive not over yet
  clock.advance(5000);
  wall.advance(5000);
  w.run_due();
  EXPECT_FALSE((*m)->cache().is_loaded("a"));
  auto find = [&](const std::string& name) {
    for (const JobStats& j : w.stats())
      if (j.name == name) return j;
    return JobStats{};
  };
  EXPECT_EQ(find("keep_alive").last.freed_items, 1);
  EXPECT_EQ(find("keep_alive").last.freed_bytes, 100);
  EXPECT_EQ(find("keep_alive").freed_items_total, 1);
  // b went missing at the rescan 30 s after start; it is forgotten a grace period later.
  clock.advance(config.rescan_interval_ms);
  wall.advance(config.rescan_interval_ms);
  w.run_due();
  ASSERT_TRUE((*m)->registry().get("b").has_value());
  EXPECT_FALSE((*m)->registry().get("b")->present);
  wall.advance(config.prune_grace_ms + 1);
  clock.advance(config.prune_interval_ms);
  w.run_due();
  EXPECT_FALSE((*m)->registry().get("b").has_value());
  EXPECT_EQ(find("prune").last.freed_items, 1);
  EXPECT_EQ(find("sqlite").runs, 2);
  EXPECT_EQ(find("history").runs, 2);  // every 60 s: at start and after the hour
  EXPECT_TRUE(find("history").last_error.empty());
  EXPECT_TRUE(find("sqlite").last_error.empty());
  EXPECT_EQ(find("kv_trim").last.freed_bytes, 0);  // fake models hold no KV cache
}

}  // namespace
}  // namespace hangar::manager
