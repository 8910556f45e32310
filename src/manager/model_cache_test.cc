// Tests for the model cache: policies, budget, pins, in-flight protection, keep-alive, dedup.
#include "manager/model_cache.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "manager/cache_fixture.h"
#include "manager/integrity.h"

namespace hangar::manager {
namespace {

using testing::CacheFixture;
using Strings = std::vector<std::string>;

class ModelCacheTest : public CacheFixture {};

CacheOptions budget(uint64_t bytes, EvictionPolicy policy = EvictionPolicy::kLru) {
  CacheOptions o;
  o.budget_bytes = bytes;
  o.policy = policy;
  o.keep_alive_ms = -1;
  return o;
}

TEST_F(ModelCacheTest, HitsMissesAndMeasuredBytes) {
  loader_.set("a", {.estimate = 100, .actual = 120, .load_ms = 250});
  ModelCache& cache = make_cache(budget(1000));
  use("a");
  use("a");
  use("a");
  CacheStats s = cache.stats();
  EXPECT_EQ(s.misses, 1);
  EXPECT_EQ(s.hits, 2);
  EXPECT_DOUBLE_EQ(s.hit_rate(), 2.0 / 3.0);
  ASSERT_EQ(s.models.size(), 1u);  // and the same per model
  EXPECT_EQ(s.models[0].misses, 1);
  EXPECT_EQ(s.models[0].hits, 2);
  EXPECT_EQ(s.loads, 1);
  EXPECT_EQ(s.last_load_ms, 250);
  EXPECT_EQ(s.bytes_used, 120u);  // measured, not the estimate
  EXPECT_EQ(s.bytes_budget, 1000u);
  auto rec = registry_->get("a");
  EXPECT_EQ(rec->access_count, 3);
  EXPECT_EQ(rec->load_count, 1);
  EXPECT_EQ(rec->last_load_ms, 250);
}

TEST_F(ModelCacheTest, LruEvictsLeastRecentlyUsed) {
  ModelCache& cache = make_cache(budget(250));  // two 100-byte models fit, not three
  use("a");
  clock_.advance(10);
  use("b");
  clock_.advance(10);
  use("a");
  clock_.advance(10);
  use("c");
  EXPECT_EQ(loaded(), (Strings{"a", "c"}));
  EXPECT_EQ(cache.stats().unloads_for(EvictionReason::kPolicy), 1);
}

TEST_F(ModelCacheTest, LfuEvictsLeastFrequentlyUsedIncludingPersistedCounts) {
  // b's history from earlier runs (persisted in the registry) outweighs a's use in this one.
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(registry_->record_access("b").ok());
  make_cache(budget(250, EvictionPolicy::kLfu));
  use("b");
  clock_.advance(10);
  use("a");
  use("a");
  clock_.advance(10);
  use("c");  // a: 2 accesses, b: 6
  EXPECT_EQ(loaded(), (Strings{"b", "c"}));
}

TEST_F(ModelCacheTest, FifoEvictsEarliestLoadedEvenIfRecentlyUsed) {
  make_cache(budget(250, EvictionPolicy::kFifo));
  use("a");
  clock_.advance(10);
  use("b");
  clock_.advance(10);
  use("a");  // most recent use, but loaded first
  clock_.advance(10);
  use("c");
  EXPECT_EQ(loaded(), (Strings{"b", "c"}));
}

TEST_F(ModelCacheTest, CostEvictsLowestReloadTimeTimesRequestRate) {
  loader_.set("a", {.load_ms = 5000});  // slow to reload, used once
  loader_.set("b", {.load_ms = 100});   // quick to reload, used often
  make_cache(budget(250, EvictionPolicy::kCost));
  use("b");
  use("b");
  use("b");
  use("a");
  clock_.advance(10);
  use("b");  // b is now the most recently used: LRU would evict a
  clock_.advance(10);
  use("c");  // cost a = 5000 x 1 req, b = 100 x 4 req (same window): b goes
  EXPECT_EQ(loaded(), (Strings{"a", "c"}));
}

TEST_F(ModelCacheTest, CostRateForgetsRequestsOutsideTheWindow) {
  loader_.set("a", {.load_ms = 1000});
  loader_.set("b", {.load_ms = 1000});
  CacheOptions o = budget(250, EvictionPolicy::kCost);
  o.rate_window_ms = 60'000;
  make_cache(o);
  for (int i = 0; i < 5; ++i) use("a");  // busy long ago
  clock_.advance(120'000);
  use("b");
  clock_.advance(10);
  use("c");  // a's requests are outside the window now: its rate is 0
  EXPECT_EQ(loaded(), (Strings{"b", "c"}));
}

TEST_F(ModelCacheTest, PinnedModelIsNeverEvicted) {
  ModelCache& cache = make_cache(budget(250));
  use("a");
  ASSERT_TRUE(cache.pin("a").ok());
  clock_.advance(10);
  use("b");
  clock_.advance(10);
  use("c");  // a is least recently used but pinned: b goes
  EXPECT_EQ(loaded(), (Strings{"a", "c"}));
  EXPECT_FALSE(cache.unload("a").ok());
  ASSERT_TRUE(cache.unpin("a").ok());
  clock_.advance(10);
  use("d");  // a is evictable again and least recently used
  EXPECT_EQ(loaded(), (Strings{"c", "d"}));
}

TEST_F(ModelCacheTest, ModelInFlightIsNeverEvicted) {
  make_cache(budget(250));
  auto held = cache_->acquire("a");
  ASSERT_TRUE(held.ok());
  clock_.advance(10);
  use("b");
  clock_.advance(10);
  use("c");  // a is the oldest, but in flight
  EXPECT_EQ(loaded(), (Strings{"a", "c"}));
  EXPECT_FALSE(cache_->unload("a").ok());
}

TEST_F(ModelCacheTest, NeverFittingBesidePinnedModelsFailsAtOnceWithNumbersAndLosesNothing) {
  loader_.set("c", {.estimate = 200});
  make_cache(budget(250));
  auto held = cache_->acquire("a");
  ASSERT_TRUE(held.ok());
  ASSERT_TRUE(cache_->pin("b").ok());
  use("b");
  AcquireFailure why;
  auto r = cache_->acquire("c", {}, &why);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(why.kind, FailureKind::kInsufficientMemory);
  EXPECT_EQ(why.needed_bytes, 200u);
  EXPECT_EQ(why.budget_bytes, 250u);
  EXPECT_EQ(why.used_bytes, 200u);
  EXPECT_EQ(why.unevictable_bytes, 100u);  // the pinned model
  const std::string& msg = r.error().message();
  EXPECT_NE(msg.find("needs an estimated 200 bytes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("budget is 250 bytes"), std::string::npos) << msg;
  EXPECT_NE(msg.find("pinned models hold 100 of them (b)"), std::string::npos) << msg;
  EXPECT_EQ(loaded(), (Strings{"a", "b"}));
  EXPECT_EQ(loader_.calls_for("c"), 0);
  EXPECT_EQ(cache_->stats().unloads_for(EvictionReason::kPolicy), 0);
  EXPECT_EQ(cache_->stats().queued, 0);  // it never waited
}

TEST_F(ModelCacheTest, ModelLargerThanTheWholeBudgetEvictsNothing) {
  loader_.set("c", {.estimate = 300});
  make_cache(budget(250));
  use("a");
  AcquireFailure why;
  auto r = cache_->acquire("c", {}, &why);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("needs an estimated 300 bytes, more than the whole memory "
                                     "budget of 250 bytes"), std::string::npos)
      << r.error().message();
  EXPECT_EQ(loaded(), (Strings{"a"}));
}

TEST_F(ModelCacheTest, MaxLoadedCountsModels) {
  CacheOptions o = budget(0);  // no byte cap
  o.max_loaded = 2;
  make_cache(o);
  use("a");
  clock_.advance(10);
  use("b");
  clock_.advance(10);
  use("c");
  EXPECT_EQ(loaded(), (Strings{"b", "c"}));
}

TEST_F(ModelCacheTest, MeasuredSizeAboveEstimateEvictsAfterTheLoad) {
  loader_.set("c", {.estimate = 50, .actual = 150});
  make_cache(budget(300));
  use("a");
  clock_.advance(10);
  use("b");
  clock_.advance(10);
  use("c");  // admitted on 50 bytes, measured 150: 350 > 300, so a goes afterwards
  EXPECT_EQ(loaded(), (Strings{"b", "c"}));
  EXPECT_EQ(cache_->stats().bytes_used, 250u);
}

TEST_F(ModelCacheTest, KeepAliveExpiresIdleModels) {
  CacheOptions o = budget(1000);
  o.keep_alive_ms = 60'000;
  make_cache(o);
  use("a");
  use("b", 5'000);     // the request's own keep-alive
  use("c", -1);        // never
  clock_.advance(4'999);
  EXPECT_EQ(cache_->tick(), 0);
  clock_.advance(1);
  EXPECT_EQ(cache_->tick(), 1);
  EXPECT_EQ(loaded(), (Strings{"a", "c"}));
  clock_.advance(55'000);
  EXPECT_EQ(cache_->tick(), 1);
  EXPECT_EQ(loaded(), (Strings{"c"}));
  clock_.advance(1'000'000'000);
  EXPECT_EQ(cache_->tick(), 0);
  EXPECT_EQ(loaded(), (Strings{"c"}));
  EXPECT_EQ(cache_->stats().unloads_for(EvictionReason::kKeepAlive), 2);
}

TEST_F(ModelCacheTest, KeepAliveTimerStartsWhenTheLastRequestEnds) {
  CacheOptions o = budget(1000);
  o.keep_alive_ms = 1'000;
  make_cache(o);
  auto first = cache_->acquire("a");
  ASSERT_TRUE(first.ok());
  clock_.advance(5'000);
  EXPECT_EQ(cache_->tick(), 0);  // in flight: no expiry however long it runs
  first->release();
  EXPECT_EQ(cache_->status("a")->expires_in_ms, 1'000);
  clock_.advance(999);
  EXPECT_EQ(cache_->tick(), 0);
  clock_.advance(1);
  EXPECT_EQ(cache_->tick(), 1);
}

TEST_F(ModelCacheTest, KeepAliveZeroUnloadsAfterTheRequest) {
  CacheOptions o = budget(1000);
  o.keep_alive_ms = 0;
  make_cache(o);
  {
    auto one = cache_->acquire("a");
    auto two = cache_->acquire("a");
    ASSERT_TRUE(one.ok() && two.ok());
    one->release();
    EXPECT_EQ(loaded(), (Strings{"a"}));  // the other request still runs
  }
  EXPECT_TRUE(loaded().empty());
  EXPECT_EQ(loader_.live_models(), 0);  // and the model object is gone
  use("b", 30'000);                      // a request may ask for longer
  EXPECT_EQ(loaded(), (Strings{"b"}));
}

TEST_F(ModelCacheTest, ConcurrentAcquiresOfOneModelLoadItOnce) {
  make_cache(budget(1000));
  loader_.close_gate();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto lease = cache_->acquire("a");
      if (lease.ok() && (*lease)) ++ok;
    });
  }
  loader_.wait_entered(1);
  // Let every thread reach the cache (they count a miss before waiting for the load).
  while (cache_->stats().misses < 4) std::this_thread::yield();
  EXPECT_EQ(cache_->status("a")->state, ModelState::kLoading);
  loader_.open_gate();
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 4);
  EXPECT_EQ(loader_.calls_for("a"), 1);
  EXPECT_EQ(cache_->stats().loads, 1);
}

TEST_F(ModelCacheTest, DifferentModelsLoadInParallel) {
  make_cache(budget(1000));
  loader_.close_gate();
  std::thread ta([&] { use("a"); });
  std::thread tb([&] { use("b"); });
  loader_.wait_entered(2);  // both loads are inside the loader at once
  EXPECT_EQ(cache_->stats().bytes_used, 200u);  // both estimates are reserved
  loader_.open_gate();
  ta.join();
  tb.join();
  EXPECT_EQ(loaded(), (Strings{"a", "b"}));
}

TEST_F(ModelCacheTest, LoadFailureIsReportedAndOthersStillLoad) {
  loader_.set("b", {.fail = "b.gguf: tensor 'x' has an unsupported type"});
  make_cache(budget(1000));
  AcquireFailure why;
  auto r = cache_->acquire("b", {}, &why);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(why.kind, FailureKind::kLoadFailed);
  EXPECT_NE(r.error().message().find("unsupported type"), std::string::npos);
  EXPECT_EQ(cache_->status("b")->last_error, r.error().message());
  use("a");
  EXPECT_EQ(loaded(), (Strings{"a"}));
  EXPECT_EQ(cache_->stats().load_failures, 1);
  EXPECT_EQ(cache_->stats().bytes_used, 100u);  // b's reservation was returned
}

TEST_F(ModelCacheTest, UnknownModelIsItsOwnKind) {
  make_cache(budget(1000));
  AcquireFailure why;
  auto r = cache_->acquire("zzz", {}, &why);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(why.kind, FailureKind::kUnknownModel);
  EXPECT_NE(r.error().message().find("'zzz'"), std::string::npos);
}

TEST_F(ModelCacheTest, ChangedFileWithWrongDigestIsRefusedWhileOthersLoad) {
  ASSERT_TRUE(verify_model(*registry_, "a").ok());
  ASSERT_TRUE(verify_model(*registry_, "b").ok());
  const std::string expected = registry_->get("a")->sha256;
  {
    // Flip bytes inside the tensor data, keeping the size; the mtime changes.
    std::fstream f(model_path("a"), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-8, std::ios::end);
    f.write("CORRUPT!", 8);
  }
  // File times tick with the kernel's coarse clock; a real corruption comes long after the
  // hash, which this makes explicit.
  std::filesystem::last_write_time(model_path("a"),
                                   std::filesystem::last_write_time(model_path("a")) +
                                       std::chrono::seconds(2));
  make_cache(budget(1000));
  AcquireFailure why;
  auto r = cache_->acquire("a", {}, &why);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(why.kind, FailureKind::kIntegrity);
  const std::string& msg = r.error().message();
  EXPECT_NE(msg.find("sha256 mismatch"), std::string::npos) << msg;
  EXPECT_NE(msg.find("expected " + expected), std::string::npos) << msg;
  auto actual = sha256_file(model_path("a"));
  ASSERT_TRUE(actual.ok());
  EXPECT_NE(msg.find("actual " + *actual), std::string::npos) << msg;
  EXPECT_EQ(loader_.calls_for("a"), 0);
  use("b");  // the others still serve
  EXPECT_EQ(loaded(), (Strings{"b"}));
  EXPECT_EQ(registry_->get("a")->sha256, expected);  // the expected digest is kept
}

TEST_F(ModelCacheTest, TouchedFileWithSameContentLoadsAndRecordsNewMtime) {
  ASSERT_TRUE(verify_model(*registry_, "a").ok());
  const ModelRecord before = *registry_->get("a");
  std::filesystem::last_write_time(model_path("a"),
                                   std::filesystem::last_write_time(model_path("a")) +
                                       std::chrono::hours(1));
  make_cache(budget(1000));
  use("a");
  const ModelRecord after = *registry_->get("a");
  EXPECT_EQ(after.sha256, before.sha256);
  EXPECT_NE(after.sha256_mtime_ns, before.sha256_mtime_ns);
}

TEST_F(ModelCacheTest, ExplicitLoadUnloadAndStatus) {
  make_cache(budget(1000));
  AcquireOptions o;
  o.count_access = false;
  ASSERT_TRUE(cache_->load("a", o).ok());
  EXPECT_TRUE(cache_->is_loaded("a"));
  EXPECT_EQ(cache_->stats().hits + cache_->stats().misses, 0);  // not a request
  EXPECT_EQ(registry_->get("a")->access_count, 0);
  ASSERT_TRUE(cache_->unload("a").ok());
  EXPECT_FALSE(cache_->is_loaded("a"));
  EXPECT_TRUE(cache_->unload("a").ok());  // already unloaded
  EXPECT_FALSE(cache_->unload("zzz").ok());
  EXPECT_EQ(cache_->stats().unloads_for(EvictionReason::kManual), 1);
  EXPECT_EQ(loader_.live_models(), 0);
}

// A file rewritten while the loader reads it (`cp new.gguf` over it) is refused as a changed
// file is: integrity (409), and the model the loader made of it is dropped.
TEST_F(ModelCacheTest, FileChangedDuringLoadIsAnIntegrityFailure) {
  ModelCache& cache = make_cache(budget(1000));
  loader_.close_gate();
  AcquireFailure failure;
  Result<Lease> lease = Error("not run");
  std::thread t([&] { lease = cache.acquire("a", {}, &failure); });
  loader_.wait_entered(1);
  testing::write_model(model_path("a"), "llama", 8, 5);  // rewritten: another size and mtime
  loader_.open_gate();
  t.join();
  ASSERT_FALSE(lease.ok());
  EXPECT_EQ(failure.kind, FailureKind::kIntegrity);
  EXPECT_NE(lease.error().message().find("changed while it was being loaded"), std::string::npos);
  EXPECT_EQ(loader_.live_models(), 0);
  EXPECT_FALSE(cache.is_loaded("a"));
}

TEST_F(ModelCacheTest, PinsSurviveANewCacheOverTheSameRegistry) {
  make_cache(budget(1000));
  ASSERT_TRUE(cache_->pin("b").ok());
  make_cache(budget(1000));  // as after a restart
  ASSERT_TRUE(cache_->status("b").has_value());
  EXPECT_TRUE(cache_->status("b")->pinned);
  EXPECT_EQ(registry_->pinned(), Strings{"b"});
  ASSERT_TRUE(cache_->unpin("b").ok());
  EXPECT_TRUE(registry_->pinned().empty());
  make_cache(budget(1000));
  EXPECT_FALSE(cache_->status("b").has_value() && cache_->status("b")->pinned);
}

// Pins from the settings file are not persisted (the file pins again at start), and the
// settings' unpin leaves the user's own pin alone.
TEST_F(ModelCacheTest, UnpersistedPinsStayInMemory) {
  make_cache(budget(1000));
  ASSERT_TRUE(cache_->pin("a", /*persist=*/false).ok());
  EXPECT_TRUE(cache_->status("a")->pinned);
  EXPECT_TRUE(registry_->pinned().empty());
  ASSERT_TRUE(cache_->pin("b").ok());
  ASSERT_TRUE(cache_->unpin("b", /*persist=*/false).ok());
  EXPECT_TRUE(cache_->status("b")->pinned);
  make_cache(budget(1000));
  EXPECT_FALSE(cache_->status("a").has_value() && cache_->status("a")->pinned);
  EXPECT_TRUE(cache_->status("b")->pinned);
}

// A loaded model whose weights are the file's pages is not served once the file changed: 409,
// and it is unloaded. A model holding a private copy keeps serving.
TEST_F(ModelCacheTest, MappedModelWhoseFileChangedIsRefused) {
  loader_.set("a", {.mapped = true});
  loader_.set("b", {.mapped = false});
  ModelCache& cache = make_cache(budget(1000));
  use("a");
  use("b");
  testing::write_model(model_path("a"), "llama", 8, 6);
  testing::write_model(model_path("b"), "llama", 8, 6);
  AcquireFailure failure;
  auto refused = cache.acquire("a", {}, &failure);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(failure.kind, FailureKind::kIntegrity);
  EXPECT_NE(refused.error().message().find("changed on disk while the model was loaded"), std::string::npos);
  EXPECT_FALSE(cache.is_loaded("a"));
  EXPECT_EQ(loader_.live_models(), 1);
  use("b");  // its copy is unaffected
  EXPECT_EQ(loader_.calls_for("b"), 1);
  use("a");  // loaded again from the file as it is now (no digest was recorded)
  EXPECT_EQ(loader_.calls_for("a"), 2);
}

}  // namespace
}  // namespace hangar::manager
