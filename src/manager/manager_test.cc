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

// A models dir, the fakes a Manager is opened over, and its config.
class ManagerTest : public ::testing::Test {
 protected:
  ManagerTest() {
    config_.models_dir = dir_.path("models");
    config_.state_dir = dir_.path("state");
  }
  void add_models(const std::vector<std::string>& ids) {
    std::filesystem::create_directories(dir_.path("models"));
    for (const std::string& id : ids) write_model(dir_.path("models/" + id + ".gguf"));
  }
  Result<std::unique_ptr<Manager>> open() { return Manager::open(config_, loader_, memory_, clock_, wall_); }

  TempDir dir_;
  FakeClock clock_;
  FakeWallClock wall_{1'700'000'000'000};
  FakeLoader loader_{&clock_};
  FakeMemoryReader memory_;
  ManagerConfig config_;
};

TEST_F(ManagerTest, OpensScansAndPersistsPreloadIds) {
  add_models({"a", "b"});
  config_.preload_ids = {"b"};
  {
    auto m = open();
    ASSERT_TRUE(m.ok()) << m.error().message();
    EXPECT_EQ((*m)->registry().list().size(), 2u);
    EXPECT_EQ((*m)->registry().preload_list(), (std::vector<std::string>{"b"}));
    auto digest = (*m)->verify("a");
    ASSERT_TRUE(digest.ok()) << digest.error().message();
    EXPECT_EQ(*digest, sha256_file(dir_.path("models/a.gguf")).value());
    EXPECT_EQ((*m)->registry().get("a")->sha256, *digest);
  }
  config_.preload_ids = {"zzz"};
  auto bad = open();
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message().find("--preload"), std::string::npos);
  EXPECT_NE(bad.error().message().find("'zzz'"), std::string::npos);
}

TEST_F(ManagerTest, StartAndStopJoinTheThreads) {
  auto m = open();
  ASSERT_TRUE(m.ok()) << m.error().message();
  (*m)->start();
  (*m)->start();  // idempotent
  (*m)->stop();
  (*m)->stop();
  EXPECT_FALSE((*m)->hasher().progress().running);
}

TEST_F(ManagerTest, RestartServesKnownModelsWhileTheBackgroundReadsHeaders) {
  add_models({"a", "b"});
  {
    auto first = open();
    ASSERT_TRUE(first.ok()) << first.error().message();
    EXPECT_TRUE((*first)->scanned());
    EXPECT_EQ((*first)->registry().pending_headers(), 2);  // registered from stat alone
    EXPECT_TRUE((*first)->worker().run_now("headers"));
    EXPECT_EQ((*first)->registry().pending_headers(), 0);
  }
  add_models({"c"});
  std::mutex mu;
  std::condition_variable cv;
  int reads = 0;
  bool release = false;
  config_.inspect = [&](const std::string& path, ModelRecord* rec) {
    std::unique_lock lock(mu);
    ++reads;
    cv.notify_all();
    cv.wait(lock, [&] { return release; });
    lock.unlock();
    return inspect_model_file(path, rec);
  };
  auto m = open();
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

TEST_F(ManagerTest, TheHeadersJobReadsInBatchesAndRunsAgainUntilNoneIsPending) {
  const int n = static_cast<int>(Manager::kHeaderBatch) + 3;
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) ids.push_back("m" + std::to_string(i));
  add_models(ids);
  auto m = open();
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

TEST_F(ManagerTest, WorkerJobsExpireKeepAlivePruneAndMaintain) {
  add_models({"a", "b"});
  loader_.set("a", {.estimate = 100, .actual = 100});
  config_.cache.keep_alive_ms = 5000;
  config_.prune_grace_ms = 60'000;
  auto m = open();
  ASSERT_TRUE(m.ok()) << m.error().message();
  BackgroundWorker& w = (*m)->worker();
  EXPECT_EQ(w.run_due(), 8);  // every job runs once at start
  { auto lease = (*m)->cache().acquire("a", {}); ASSERT_TRUE(lease.ok()); }
  EXPECT_TRUE((*m)->cache().is_loaded("a"));
  std::filesystem::remove(dir_.path("models/b.gguf"));
  clock_.advance(config_.housekeeping_interval_ms);
  w.run_due();
  EXPECT_TRUE((*m)->cache().is_loaded("a"));  // keep-alive not over yet
  clock_.advance(5000);
  wall_.advance(5000);
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
  clock_.advance(config_.rescan_interval_ms);
  wall_.advance(config_.rescan_interval_ms);
  w.run_due();
  ASSERT_TRUE((*m)->registry().get("b").has_value());
  EXPECT_FALSE((*m)->registry().get("b")->present);
  wall_.advance(config_.prune_grace_ms + 1);
  clock_.advance(config_.prune_interval_ms);
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
