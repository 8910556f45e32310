// Tests for the preloader: strategy orders, batches and delay on a fake clock, dedup, memory waits.
#include "manager/preloader.h"

#include <gtest/gtest.h>

#include "manager/cache_fixture.h"

namespace hangar::manager {
namespace {

using testing::FakeMemoryReader;
using Strings = std::vector<std::string>;

class PreloaderTest : public testing::CacheFixture {
 protected:
  Preloader& make(PreloadOptions options, CacheOptions cache = {}) {
    if (cache.budget_bytes == 0) cache.budget_bytes = 10'000;
    cache.keep_alive_ms = -1;
    make_cache(cache);
    preloader_ = std::make_unique<Preloader>(*registry_, *cache_, memory_, clock_, options);
    return *preloader_;
  }
  void TearDown() override {
    preloader_.reset();
    CacheFixture::TearDown();
  }
  void enqueue_all(const Strings& ids) {
    for (const auto& id : ids) ASSERT_TRUE(preloader_->enqueue(id).ok());
  }

  FakeMemoryReader memory_;
  std::unique_ptr<Preloader> preloader_;
};

PreloadOptions strategy(PreloadStrategy s) {
  PreloadOptions o;
  o.strategy = s;
  return o;
}

TEST_F(PreloaderTest, SequentialKeepsQueueOrder) {
  Preloader& p = make(strategy(PreloadStrategy::kSequential));
  enqueue_all({"c", "a", "d", "b"});
  EXPECT_EQ(p.order(), (Strings{"c", "a", "d", "b"}));
}

TEST_F(PreloaderTest, FrequencyPutsMostAccessedFirst) {
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(registry_->record_access("b").ok());
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(registry_->record_access("d").ok());
  ASSERT_TRUE(registry_->record_access("a").ok());
  Preloader& p = make(strategy(PreloadStrategy::kFrequency));
  enqueue_all({"a", "b", "c", "d"});
  EXPECT_EQ(p.order(), (Strings{"d", "b", "a", "c"}));
}

TEST_F(PreloaderTest, RecencyPutsMostRecentlyUsedFirst) {
  ASSERT_TRUE(registry_->record_access("c").ok());
  wall_.advance(1000);
  ASSERT_TRUE(registry_->record_access("a").ok());
  wall_.advance(1000);
  ASSERT_TRUE(registry_->record_access("d").ok());
  Preloader& p = make(strategy(PreloadStrategy::kRecency));
  enqueue_all({"a", "b", "c", "d"});
  EXPECT_EQ(p.order(), (Strings{"d", "a", "c", "b"}));  // never-used b last
}

TEST_F(PreloaderTest, SizePutsSmallestFileFirst) {
  Preloader& p = make(strategy(PreloadStrategy::kSize));
  enqueue_all({"d", "b", "c", "a"});  // the fixture's files grow from a to d
  ASSERT_LT(registry_->get("a")->file_size, registry_->get("b")->file_size);
  EXPECT_EQ(p.order(), (Strings{"a", "b", "c", "d"}));
}

TEST_F(PreloaderTest, BatchesAreRateLimitedByTheDelay) {
  PreloadOptions o;
  o.batch = 2;
  o.delay_ms = 100;
  Preloader& p = make(o);
  loader_.set("a", {.load_ms = 30});
  enqueue_all({"a", "b", "c", "d"});
  EXPECT_EQ(p.step(), 2);  // a, b; the clock moved 30 ms while a loaded
  EXPECT_EQ(loader_.calls().size(), 2u);
  const int64_t due = p.next_due_ms();
  EXPECT_EQ(due, clock_.now_ms() + 100);  // the delay counts from the end of the batch
  clock_.advance(99);
  EXPECT_EQ(p.step(), 0);
  EXPECT_EQ(loader_.calls().size(), 2u);
  clock_.advance(1);
  EXPECT_EQ(p.step(), 2);
  EXPECT_EQ(loader_.calls().size(), 4u);
  EXPECT_TRUE(p.idle());
  PreloadStats s = p.stats();
  EXPECT_EQ(s.loaded, 4);
  EXPECT_EQ(s.failed, 0);
  EXPECT_DOUBLE_EQ(s.success_rate(), 1.0);
  EXPECT_EQ(cache_->stats().hits + cache_->stats().misses, 0);  // preloads are not requests
}

TEST_F(PreloaderTest, DefaultBatchIsOneModelPerStep) {
  Preloader& p = make({});
  enqueue_all({"a", "b"});
  EXPECT_EQ(p.options().batch, 1);
  EXPECT_EQ(p.options().delay_ms, 100);
  EXPECT_EQ(p.step(), 1);
  clock_.advance(100);
  EXPECT_EQ(p.step(), 1);
  EXPECT_EQ(loader_.calls(), (Strings{"a", "b"}));
}

TEST_F(PreloaderTest, NeverQueuesOrLoadsTheSameModelTwice) {
  Preloader& p = make({});
  EXPECT_TRUE(p.enqueue("a").value());
  EXPECT_FALSE(p.enqueue("a").value());
  EXPECT_EQ(p.stats().queued, 1);
  EXPECT_FALSE(p.enqueue("nope").ok());
  EXPECT_EQ(p.step(), 1);
  clock_.advance(100);
  EXPECT_TRUE(p.enqueue("a").value());  // queued again, but it is loaded: skipped
  EXPECT_EQ(p.step(), 0);
  EXPECT_EQ(loader_.calls_for("a"), 1);
  EXPECT_EQ(p.stats().skipped, 1);
}

TEST_F(PreloaderTest, WaitsUntilMemoryIsReallyFree) {
  Preloader& p = make({});
  loader_.set("a", {.estimate = 4000});
  memory_.set_available(3000);  // the machine has less than the estimate
  enqueue_all({"a"});
  EXPECT_EQ(p.step(), 0);
  EXPECT_EQ(p.stats().waiting_for_memory, 1);
  EXPECT_EQ(p.stats().queued, 1);
  memory_.set_available(5000);
  clock_.advance(100);
  EXPECT_EQ(p.step(), 1);
  EXPECT_TRUE(cache_->is_loaded("a"));
}

TEST_F(PreloaderTest, NeverEvictsToPreloadAndWaitsForBudget) {
  CacheOptions c;
  c.budget_bytes = 250;
  Preloader& p = make({}, c);
  use("a");
  use("b");
  enqueue_all({"c"});
  EXPECT_EQ(p.step(), 0);  // 300 > 250: waits instead of evicting a or b
  EXPECT_EQ((Strings{"a", "b"}), loaded());
  ASSERT_TRUE(cache_->unload("a").ok());
  clock_.advance(100);
  EXPECT_EQ(p.step(), 1);
  EXPECT_EQ((Strings{"b", "c"}), loaded());
}

TEST_F(PreloaderTest, FailuresAreCountedAndDoNotBlockOthers) {
  CacheOptions c;
  c.budget_bytes = 1000;
  PreloadOptions o;
  o.batch = 3;
  Preloader& p = make(o, c);
  loader_.set("a", {.estimate = 5000});            // can never fit the budget
  loader_.set("b", {.fail = "b.gguf: bad tensor"});  // load error
  enqueue_all({"a", "b", "c"});
  EXPECT_EQ(p.step(), 2);  // b and c attempted; a failed at once
  PreloadStats s = p.stats();
  EXPECT_EQ(s.loaded, 1);
  EXPECT_EQ(s.failed, 2);
  EXPECT_DOUBLE_EQ(s.success_rate(), 1.0 / 3.0);
  EXPECT_TRUE(cache_->is_loaded("c"));
}

TEST_F(PreloaderTest, PersistedListIsQueuedAfterRestart) {
  {
    Preloader& p = make(strategy(PreloadStrategy::kSize));
    ASSERT_TRUE(p.add_to_list("d").ok());
    ASSERT_TRUE(p.add_to_list("b").ok());
    ASSERT_TRUE(p.add_to_list("c").ok());
    ASSERT_TRUE(p.remove_from_list("c").ok());
    EXPECT_FALSE(p.add_to_list("nope").ok());
  }
  // Restart: new registry on the same state dir, new cache and preloader.
  preloader_.reset();
  cache_.reset();
  registry_.reset();
  auto reg = Registry::open({dir_.path("state"), dir_.path("models"), &wall_});
  ASSERT_TRUE(reg.ok()) << reg.error().message();
  registry_ = std::move(*reg);
  Preloader& p = make(strategy(PreloadStrategy::kSize));
  EXPECT_EQ(registry_->preload_list(), (Strings{"d", "b"}));
  EXPECT_EQ(p.enqueue_saved_list(), 2);
  EXPECT_EQ(p.order(), (Strings{"b", "d"}));
  EXPECT_EQ(p.step(), 1);
  clock_.advance(100);
  EXPECT_EQ(p.step(), 1);
  EXPECT_EQ(loader_.calls(), (Strings{"b", "d"}));
}

}  // namespace
}  // namespace hangar::manager
