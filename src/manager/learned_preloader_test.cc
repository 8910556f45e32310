// Tests for the learned preloader over a real registry and cache with a fake loader: the
// value rule, busy and pinned models kept, hits and waste, history kept, pruned and reset.
#include "manager/learned_preloader.h"

#include <gtest/gtest.h>

#include "manager/cache_fixture.h"

namespace hangar::manager {
namespace {

using Strings = std::vector<std::string>;

class LearnedPreloaderTest : public testing::CacheFixture {
 protected:
  // A budget of two models of 100 bytes; every request goes through the learned preloader.
  LearnedPreloader& make(LearnedOptions options = {}) {
    CacheOptions cache;
    cache.budget_bytes = 200;
    cache.keep_alive_ms = -1;
    cache.on_request = [this](const std::string& id) {
      if (learned_) learned_->on_request(id);
    };
    make_cache(cache);
    learned_ = std::make_unique<LearnedPreloader>(*registry_, *cache_, wall_, PredictorOptions{}, options);
    return *learned_;
  }
  void TearDown() override {
    learned_.reset();
    CacheFixture::TearDown();
  }
  void request(const std::string& id, int times = 1) {
    for (int i = 0; i < times; ++i) {
      use(id);
      wall_.advance(5'000);
      clock_.advance(5'000);
    }
  }
  std::unique_ptr<LearnedPreloader> learned_;
};

TEST_F(LearnedPreloaderTest, AHintedModelThatFitsIsPreloadedAndItsRequestIsAHit) {
  LearnedPreloader& l = make();
  request("a");
  Result<PreloadDecision> d = l.hint("b");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->preload) << d->reason;
  EXPECT_EQ(d->reason, "fits in free memory");
  EXPECT_GE(d->probability, 0.9);
  EXPECT_EQ(l.step(), 1);
  EXPECT_TRUE(cache_->is_loaded("b"));
  EXPECT_EQ(cache_->stats().hits + cache_->stats().misses, 1);  // the preload is not a request
  request("b");
  EXPECT_EQ(l.stats().preloads, 1);
  EXPECT_EQ(l.stats().hits, 1);
  EXPECT_EQ(l.stats().wasted, 0);
  EXPECT_FALSE(l.hint("nope").ok());
}

TEST_F(LearnedPreloaderTest, BusyAndPinnedModelsAreNeverEvictedForAPrediction) {
  LearnedPreloader& l = make();
  auto la = cache_->acquire("a");
  auto lb = cache_->acquire("b");
  ASSERT_TRUE(la.ok() && lb.ok());
  PreloadDecision d = *l.hint("c");
  EXPECT_FALSE(d.preload);
  EXPECT_NE(d.reason.find("busy"), std::string::npos) << d.reason;
  EXPECT_EQ(l.step(), 0);
  la->release();
  lb->release();
  ASSERT_TRUE(cache_->pin("a").ok());
  ASSERT_TRUE(cache_->pin("b").ok());
  d = *l.hint("c");
  EXPECT_FALSE(d.preload);
  EXPECT_NE(d.reason.find("pinned"), std::string::npos) << d.reason;
  EXPECT_EQ(l.step(), 0);
  EXPECT_EQ(loaded(), (Strings{"a", "b"}));
}

TEST_F(LearnedPreloaderTest, EvictsOnlyWhenWorthMoreThanWhatGoes) {
  LearnedPreloader& l = make();
  // a was used once long ago, b is in heavy use: a hint for c is worth more than a.
  request("a");
  wall_.advance(3 * 3'600'000);
  request("b", 30);
  PreloadDecision d = *l.hint("c");
  ASSERT_TRUE(d.preload) << d.reason;
  EXPECT_EQ(d.evict, (Strings{"a"}));
  EXPECT_GT(d.value, d.evicted_value);
  EXPECT_EQ(l.step(), 1);
  EXPECT_EQ(loaded(), (Strings{"b", "c"}));
  // Now the idle victim would be b or c, both likely (b in use, c hinted): d's plain prediction
  // is worth less than either, so nothing is evicted for it.
  d = l.decide("d");
  EXPECT_FALSE(d.preload) << d.reason;
  EXPECT_NE(d.reason.find("worth less than"), std::string::npos);
  EXPECT_EQ(l.step(), 0);
}

TEST_F(LearnedPreloaderTest, APredictionPreloadsTheModelThatUsuallyFollows) {
  LearnedOptions o;
  o.predict = true;
  LearnedPreloader& l = make(o);
  // Sessions: a, then c a few seconds later. c never stays loaded: d and b take the memory.
  for (int s = 0; s < 20; ++s) {
    request("a");
    request("c");
    wall_.advance(30 * 60'000);
    clock_.advance(30 * 60'000);
    request("d");
    request("b");
    wall_.advance(30 * 60'000);
    clock_.advance(30 * 60'000);
  }
  request("a");
  ASSERT_EQ(loaded(), (Strings{"a", "b"}));
  EXPECT_EQ(l.step(), 1);
  EXPECT_TRUE(cache_->is_loaded("c"));
  request("c");
  EXPECT_EQ(l.stats().hits, 1);
}

TEST_F(LearnedPreloaderTest, APreloadedModelEvictedUnusedIsWasted) {
  LearnedPreloader& l = make();
  request("a");
  ASSERT_TRUE(l.hint("b")->preload);
  ASSERT_EQ(l.step(), 1);
  // A real request needs the memory: the preloaded model goes (it is idle) before any use.
  request("c");
  request("d");
  EXPECT_FALSE(cache_->is_loaded("b"));
  EXPECT_EQ(l.stats().wasted, 1);
  EXPECT_EQ(l.stats().hits, 0);
}

TEST_F(LearnedPreloaderTest, HistorySurvivesAReopenIsPrunedAndReset) {
  {
    LearnedPreloader& l = make();
    request("a", 7);
    request("b", 5);
    EXPECT_EQ(l.stats().history, 12);
  }
  learned_.reset();
  cache_.reset();
  registry_.reset();
  auto reg = Registry::open({dir_.path("state"), dir_.path("models"), &wall_});
  ASSERT_TRUE(reg.ok()) << reg.error().message();
  registry_ = std::move(*reg);
  LearnedOptions o;
  o.history_keep = 5;
  LearnedPreloader& l = make(o);
  ASSERT_TRUE(l.load_history().ok());
  EXPECT_EQ(l.predictor().events(), 12);
  EXPECT_EQ(*l.prune(), 7);
  EXPECT_EQ(l.stats().history, 5);
  ASSERT_TRUE(l.reset().ok());
  EXPECT_EQ(l.stats().history, 0);
  EXPECT_EQ(l.predictor().events(), 0);
}

}  // namespace
}  // namespace hangar::manager
