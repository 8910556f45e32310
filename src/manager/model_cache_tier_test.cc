// Tests for the GPU tier of the model cache, on a fake device: the GPU budget, demotion by
// policy to host memory, promotion instead of a load, host overflow, busy and pinned models,
// the 507s, preloads, events and stats; a GPU budget of 0 leaves the cache as it was.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "manager/cache_fixture.h"

namespace hangar::manager {
namespace {

using namespace std::chrono_literals;
using testing::CacheFixture;
using Strings = std::vector<std::string>;

CacheOptions tiers(uint64_t host_budget, uint64_t gpu_budget, EvictionPolicy policy = EvictionPolicy::kLru) {
  CacheOptions o;
  o.budget_bytes = host_budget;
  o.gpu_budget_bytes = gpu_budget;
  o.policy = policy;
  o.keep_alive_ms = -1;
  return o;
}

// A GPU model on the fake device: 10 host bytes on the GPU, `gpu` GPU bytes, and a host copy
// of 100 bytes when demoted.
testing::FakeLoader::Spec on_gpu(uint64_t gpu = 100) {
  return {.estimate = 10, .actual = 10, .gpu = gpu, .host_copy = 100};
}

// One request on its own thread; get() waits for acquire() to return.
struct Pending {
  Pending(ModelCache& c, std::string id) : thread([this, &c, id] { result = c.acquire(id, {}, &failure); }) {}
  ~Pending() {
    if (thread.joinable()) thread.join();
  }
  Result<Lease>& get() {
    if (thread.joinable()) thread.join();
    return result;
  }
  Result<Lease> result = Error("pending");
  AcquireFailure failure;
  std::thread thread;  // last: starts once the members above exist
};

class TierTest : public CacheFixture {
 protected:
  ModelTier tier(const std::string& id) {
    std::optional<ModelStatus> s = cache_->status(id);
    return s ? s->tier : ModelTier::kDisk;
  }
  std::string tiers_of(const Strings& ids) {
    std::string out;
    for (const std::string& id : ids) out += (out.empty() ? "" : " ") + id + ":" + model_tier_name(tier(id));
    return out;
  }
  // a, b, a again, then c: three 100-byte GPU models under a GPU budget for two.
  void use_a_b_a_c() {
    use("a");
    clock_.advance(10);
    use("b");
    clock_.advance(10);
    use("a");
    clock_.advance(10);
    use("c");
  }
  // a once, c three times, b once, a again, then d under a GPU budget for three; returns the
  // model demoted for d.
  std::string demote_order(EvictionPolicy policy) {
    for (const char* id : {"a", "b", "c", "d"}) loader_.set(id, on_gpu());
    make_cache(tiers(1000, 300, policy));
    use("a");
    clock_.advance(10);
    for (int i = 0; i < 3; ++i) use("c");
    clock_.advance(10);
    use("b");
    clock_.advance(10);
    use("a");
    clock_.advance(10);
    use("d");
    const Strings calls = loader_.device_calls();
    if (calls.size() != 1 || calls[0].rfind("demote ", 0) != 0) return "?";
    const std::string id = calls[0].substr(7);
    return tier(id) == ModelTier::kHost ? id : "not on the host";
  }
  void wait_queued(int64_t n) {
    while (cache_->stats().queued < n) std::this_thread::yield();
  }
};

TEST_F(TierTest, TheLeastRecentlyUsedIdleGpuModelIsDemotedToHostMemory) {
  for (const char* id : {"a", "b", "c"}) loader_.set(id, on_gpu());
  make_cache(tiers(1000, 250));
  use_a_b_a_c();
  EXPECT_EQ(loader_.device_calls(), Strings{"demote b"});
  EXPECT_EQ(tiers_of({"a", "b", "c"}), "a:gpu b:host c:gpu");
  const CacheStats s = cache_->stats();
  EXPECT_EQ(s.gpu_bytes_budget, 250u);
  EXPECT_EQ(s.gpu_bytes_used, 200u);    // GPU bytes only: a and c
  EXPECT_EQ(s.bytes_used, 10u + 110u + 10u);  // host bytes: b's copy is in host memory now
  EXPECT_EQ(s.demotions, 1);
  EXPECT_EQ(s.loads, 3);
  EXPECT_EQ(s.unloads_for(EvictionReason::kPolicy), 0);  // demoted, not unloaded
  EXPECT_EQ(cache_->status("b")->gpu_bytes, 0u);
  EXPECT_EQ(cache_->status("b")->state, ModelState::kLoaded);
  EXPECT_EQ(cache_->status("a")->gpu_bytes, 100u);
}

// The policy picks the model demoted: LRU the least recent (c), FIFO the first loaded (a), LFU
// the least used (b).
TEST_F(TierTest, LruDemotesTheLeastRecentlyUsed) { EXPECT_EQ(demote_order(EvictionPolicy::kLru), "c"); }
TEST_F(TierTest, FifoDemotesTheFirstLoaded) { EXPECT_EQ(demote_order(EvictionPolicy::kFifo), "a"); }
TEST_F(TierTest, LfuDemotesTheLeastUsed) { EXPECT_EQ(demote_order(EvictionPolicy::kLfu), "b"); }

TEST_F(TierTest, ADemotedModelIsPromotedNotLoaded) {
  for (const char* id : {"a", "b", "c"}) loader_.set(id, on_gpu());
  make_cache(tiers(1000, 250));
  use_a_b_a_c();
  clock_.advance(10);
  {
    auto lease = cache_->acquire("b");
    ASSERT_TRUE(lease.ok()) << lease.error().message();
    EXPECT_EQ(lease->model().tier(), ModelTier::kGpu);  // served from the GPU
  }
  // a (least recently used of a and c) made the room; b came back with a copy.
  EXPECT_EQ(loader_.device_calls(), (Strings{"demote b", "demote a", "promote b"}));
  EXPECT_EQ(loader_.calls_for("b"), 1);
  EXPECT_EQ(tiers_of({"a", "b", "c"}), "a:host b:gpu c:gpu");
  const CacheStats s = cache_->stats();
  EXPECT_EQ(s.loads, 3);
  EXPECT_EQ(s.promotions, 1);
  EXPECT_EQ(s.demotions, 2);
  EXPECT_EQ(s.gpu_bytes_used, 200u);
  EXPECT_EQ(cache_->status("b")->hits, 1);  // resident in host memory: not a miss
  EXPECT_EQ(cache_->status("b")->misses, 1);
}

TEST_F(TierTest, HostOverflowFromDemotionsEvictsFromHostByPolicy) {
  for (const char* id : {"a", "b", "c", "d"}) loader_.set(id, on_gpu());
  make_cache(tiers(150, 200));
  use("a");
  clock_.advance(10);
  use("b");
  clock_.advance(10);
  use("c");  // a demoted: host 110 + 10 + 10
  clock_.advance(10);
  use("d");  // b demoted: host would be 110 + 110 + 10 + 10 > 150, so a (least recent) goes
  EXPECT_EQ(loader_.device_calls(), (Strings{"demote a", "demote b"}));
  EXPECT_EQ(tiers_of({"a", "b", "c", "d"}), "a:disk b:host c:gpu d:gpu");
  EXPECT_EQ(cache_->status("a")->last_eviction, "policy");
  const CacheStats s = cache_->stats();
  EXPECT_EQ(s.bytes_used, 110u + 10u + 10u);
  EXPECT_LE(s.bytes_used, s.bytes_budget);
  EXPECT_EQ(s.gpu_bytes_used, 200u);
  EXPECT_EQ(s.unloads_for(EvictionReason::kPolicy), 1);
}

TEST_F(TierTest, AGpuVictimTheHostCannotKeepGoesToDiskWithoutACopy) {
  for (const char* id : {"a", "b", "c"}) loader_.set(id, on_gpu());
  make_cache(tiers(40, 200));
  use("a");
  clock_.advance(10);
  use("b");
  clock_.advance(10);
  use("c");  // a's 100-byte copy cannot fit 40 host bytes
  EXPECT_TRUE(loader_.device_calls().empty());
  EXPECT_EQ(tiers_of({"a", "b", "c"}), "a:disk b:gpu c:gpu");
  EXPECT_EQ(cache_->stats().bytes_used, 20u);
}

TEST_F(TierTest, BusyAndPinnedModelsAreNeverDemoted) {
  for (const char* id : {"a", "b", "c"}) loader_.set(id, on_gpu());
  make_cache(tiers(1000, 200));
  use("a");
  ASSERT_TRUE(cache_->pin("a").ok());
  clock_.advance(10);
  auto b = cache_->acquire("b");
  ASSERT_TRUE(b.ok());
  clock_.advance(10);
  Pending c(*cache_, "c");  // the GPU is held by pinned a and busy b: c waits
  wait_queued(1);
  EXPECT_TRUE(loader_.device_calls().empty());
  EXPECT_TRUE(cache_->status("b")->draining);  // as a busy host model drains for a waiter
  EXPECT_EQ(tier("c"), ModelTier::kDisk);
  b->release();
  ASSERT_TRUE(c.get().ok()) << c.get().error().message();
  EXPECT_EQ(loader_.device_calls(), Strings{"demote b"});
  EXPECT_EQ(tiers_of({"a", "b", "c"}), "a:gpu b:host c:gpu");
}

// The copies run outside the cache's lock, as loads do: while model a's promotion is held
// at the device, a request for resident c is served at once, and a second request for a waits
// for the one copy (single flight).
TEST_F(TierTest, APromotionInProgressDoesNotHoldUpOtherModelsAndIsSingleFlight) {
  for (const char* id : {"a", "b", "c"}) loader_.set(id, on_gpu());
  make_cache(tiers(1000, 200));
  use("a");
  clock_.advance(10);
  use("b");
  clock_.advance(10);
  use("c");  // a demoted
  loader_.device().set_gates(false, true);
  Pending a1(*cache_, "a");
  loader_.device().wait_entered("promote a");  // b was demoted for it first
  {
    auto c = cache_->acquire("c");  // resident: not behind a's copy
    ASSERT_TRUE(c.ok()) << c.error().message();
    EXPECT_EQ(cache_->status("a")->gpu_bytes, 100u);  // reserved while it is copied
    EXPECT_EQ(cache_->stats().gpu_bytes_used, 200u);
  }
  Pending a2(*cache_, "a");
  while (cache_->status("a")->waiting < 2) std::this_thread::yield();
  loader_.device().set_gates(false, false);
  ASSERT_TRUE(a1.get().ok()) << a1.get().error().message();
  ASSERT_TRUE(a2.get().ok()) << a2.get().error().message();
  EXPECT_EQ(loader_.device_calls(), (Strings{"demote a", "demote b", "promote a"}));
  EXPECT_EQ(tiers_of({"a", "b", "c"}), "a:gpu b:host c:gpu");
  EXPECT_EQ(cache_->stats().promotions, 1);
  EXPECT_EQ(cache_->status("a")->hits, 2);
}

// A demotion in progress holds only its model: a request for it waits for the copy (then for
// its promotion), others are served, and an unload of it is refused until it is done.
TEST_F(TierTest, ADemotionInProgressHoldsOnlyItsModel) {
  for (const char* id : {"a", "b", "c"}) loader_.set(id, on_gpu());
  make_cache(tiers(1000, 200));
  use("a");
  clock_.advance(10);
  use("b");
  clock_.advance(10);
  loader_.device().set_gates(true, false);
  Pending c(*cache_, "c");
  loader_.device().wait_entered("demote a");
  {
    auto b = cache_->acquire("b");
    ASSERT_TRUE(b.ok()) << b.error().message();
  }
  EXPECT_FALSE(cache_->unload("a").ok());
  EXPECT_EQ(cache_->stats().bytes_used, 10u + 10u + 10u + 100u);  // a's copy is reserved in host memory
  Pending a(*cache_, "a");
  while (cache_->status("a")->waiting < 1) std::this_thread::yield();
  EXPECT_EQ(loader_.calls_for("c"), 0);  // c's load waits for the GPU memory a frees
  loader_.device().set_gates(false, false);
  ASSERT_TRUE(c.get().ok()) << c.get().error().message();
  c.get()->release();
  ASSERT_TRUE(a.get().ok()) << a.get().error().message();
  EXPECT_EQ(loader_.calls_for("a"), 1);
  EXPECT_EQ(tier("a"), ModelTier::kGpu);
  const Strings calls = loader_.device_calls();
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0], "demote a");
  EXPECT_EQ(calls[2], "promote a");
}

TEST_F(TierTest, AModelThePinnedGpuModelsLeaveNoRoomForGets507) {
  for (const char* id : {"a", "b", "c"}) loader_.set(id, on_gpu());
  make_cache(tiers(1000, 200));
  use("a");
  use("b");
  ASSERT_TRUE(cache_->pin("a").ok());
  ASSERT_TRUE(cache_->pin("b").ok());
  AcquireFailure f;
  auto c = cache_->acquire("c", {}, &f);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(f.kind, FailureKind::kInsufficientMemory);
  EXPECT_TRUE(f.gpu);
  EXPECT_EQ(f.unevictable_bytes, 200u);
  EXPECT_NE(c.error().message().find("pinned models hold 200 of them (a, b)"), std::string::npos) << c.error().message();
  EXPECT_TRUE(loader_.device_calls().empty());
  EXPECT_EQ(loader_.calls_for("c"), 0);
}

TEST_F(TierTest, AModelThatFitsNeitherTierGets507) {
  loader_.set("a", on_gpu(300));
  loader_.set("b", {.estimate = 2000, .actual = 2000, .gpu = 100, .host_copy = 100});
  make_cache(tiers(1000, 200));
  AcquireFailure f;
  auto a = cache_->acquire("a", {}, &f);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(f.kind, FailureKind::kInsufficientMemory);
  EXPECT_TRUE(f.gpu);
  EXPECT_EQ(f.needed_bytes, 300u);
  EXPECT_EQ(f.budget_bytes, 200u);
  EXPECT_NE(a.error().message().find("more than the whole GPU memory budget of 200 bytes"), std::string::npos)
      << a.error().message();
  auto b = cache_->acquire("b", {}, &f);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(f.kind, FailureKind::kInsufficientMemory);
  EXPECT_FALSE(f.gpu);  // the host budget's refusal, as without a GPU tier
  EXPECT_NE(b.error().message().find("more than the whole memory budget"), std::string::npos) << b.error().message();
  EXPECT_TRUE(loader_.calls().empty());
}

TEST_F(TierTest, TheDryRunAndReadinessCountTheGpu) {
  for (const char* id : {"a", "b", "c"}) loader_.set(id, on_gpu());
  loader_.set("d", on_gpu(300));
  make_cache(tiers(1000, 200));
  use("a");
  clock_.advance(10);
  use("b");
  Result<FitReport> c = cache_->fit("c");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->fits);
  EXPECT_TRUE(c->evict.empty());  // host memory has room
  EXPECT_EQ(c->demote, Strings{"a"});
  EXPECT_EQ(c->gpu_needed_bytes, 100u);
  Result<FitReport> d = cache_->fit("d");
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->fits);
  EXPECT_NE(d->reason.find("larger than the whole GPU memory budget"), std::string::npos) << d->reason;
  const Readiness ready = cache_->readiness("d");
  EXPECT_FALSE(ready.ready);
  EXPECT_EQ(ready.kind, FailureKind::kInsufficientMemory);
  auto held = cache_->acquire("b");
  ASSERT_TRUE(held.ok());
  ASSERT_TRUE(cache_->pin("a").ok());
  c = cache_->fit("c");
  EXPECT_FALSE(c->fits);  // a pinned, b busy: the request would wait for b
  EXPECT_EQ(c->drain, Strings{"b"});
  EXPECT_TRUE(loader_.device_calls().empty());  // a dry run moves nothing
}

TEST_F(TierTest, AGpuBudgetOfZeroIsTheCacheWithoutATier) {
  // GPU models, but no GPU tier: the host budget evicts as it always did and nothing is demoted.
  for (const char* id : {"a", "b", "c"}) loader_.set(id, {.estimate = 100, .actual = 100, .gpu = 100, .host_copy = 100});
  make_cache(tiers(250, 0));
  use_a_b_a_c();
  EXPECT_TRUE(loader_.device_calls().empty());
  EXPECT_EQ(tiers_of({"a", "b", "c"}), "a:gpu b:disk c:gpu");
  const CacheStats s = cache_->stats();
  EXPECT_EQ(s.unloads_for(EvictionReason::kPolicy), 1);
  EXPECT_EQ(s.gpu_bytes_budget, 0u);
  EXPECT_EQ(s.demotions, 0);
}

TEST_F(TierTest, CpuModelsHaveNoGpuTierAndAreNeverDemoted) {
  loader_.set("a", {.estimate = 100, .actual = 100});  // a CPU model
  loader_.set("b", on_gpu());
  loader_.set("c", on_gpu());
  make_cache(tiers(1000, 100));
  use("a");
  clock_.advance(10);
  use("b");
  clock_.advance(10);
  use("c");
  EXPECT_EQ(loader_.device_calls(), Strings{"demote b"});
  EXPECT_EQ(tiers_of({"a", "b", "c"}), "a:host b:host c:gpu");
  EXPECT_EQ(cache_->status("a")->gpu_bytes, 0u);
}

TEST_F(TierTest, AFailedDemotionUnloadsAndAFailedPromotionFailsTheRequest) {
  loader_.set("a", {.estimate = 10, .actual = 10, .gpu = 100, .host_copy = 100, .fail_demote = "no pinned memory"});
  loader_.set("b", {.estimate = 10, .actual = 10, .gpu = 100, .host_copy = 100, .fail_promote = "out of GPU memory"});
  loader_.set("c", on_gpu());
  make_cache(tiers(1000, 200));
  use("a");
  clock_.advance(10);
  use("b");
  clock_.advance(10);
  use("c");  // a's demotion fails: it leaves memory
  EXPECT_EQ(tiers_of({"a", "b", "c"}), "a:disk b:gpu c:gpu");
  clock_.advance(10);
  use("a");  // b demoted
  EXPECT_EQ(tier("b"), ModelTier::kHost);
  clock_.advance(10);
  AcquireFailure f;
  auto b = cache_->acquire("b", {}, &f);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(f.kind, FailureKind::kLoadFailed);
  EXPECT_NE(b.error().message().find("copying it back to the GPU failed: out of GPU memory"), std::string::npos)
      << b.error().message();
  EXPECT_EQ(tier("b"), ModelTier::kHost);  // still resident, its copy intact
  EXPECT_EQ(cache_->stats().promotion_failures, 1);
  EXPECT_EQ(cache_->stats().promotions, 0);
}

TEST_F(TierTest, APreloadDemotesNothingButADemotedModelCountsAsResident) {
  for (const char* id : {"a", "b", "c"}) loader_.set(id, on_gpu());
  make_cache(tiers(1000, 200));
  use("a");
  clock_.advance(10);
  use("b");
  AcquireOptions preload;
  preload.count_access = false;
  preload.allow_evict = false;
  AcquireFailure f;
  Status st = cache_->load("c", preload, &f);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(f.gpu);
  EXPECT_NE(st.error().message().find("a preload does not demote"), std::string::npos) << st.error().message();
  EXPECT_TRUE(loader_.device_calls().empty());
  clock_.advance(10);
  use("c");  // a request does: a goes to host memory
  ASSERT_TRUE(cache_->load("a", preload).ok());  // resident already: not promoted
  EXPECT_EQ(loader_.device_calls(), Strings{"demote a"});
  EXPECT_EQ(tier("a"), ModelTier::kHost);
}

TEST_F(TierTest, AGpuFootprintOverItsEstimateDemotesIdleModelsOnceMeasured) {
  loader_.set("a", on_gpu());
  loader_.set("b", on_gpu());
  loader_.set("c", {.estimate = 10, .actual = 10, .gpu = 150, .gpu_estimate = 50, .host_copy = 100});
  make_cache(tiers(1000, 250));
  use("a");
  clock_.advance(10);
  use("b");
  clock_.advance(10);
  use("c");  // admitted on 50 GPU bytes (fits 250), measured 150
  EXPECT_EQ(loader_.device_calls(), Strings{"demote a"});
  EXPECT_EQ(cache_->stats().gpu_bytes_used, 250u);
}

TEST_F(TierTest, DemotionsAndPromotionsAreInTheEventStream) {
  for (const char* id : {"a", "b", "c"}) loader_.set(id, on_gpu());
  EventBus bus(wall_);
  auto sub = bus.subscribe();
  make_cache(tiers(1000, 250), &bus);
  use_a_b_a_c();
  clock_.advance(10);
  use("b");
  std::vector<std::string> seen;
  while (auto ev = sub->next(0ms)) {
    if (ev->type == ModelEvent::kDemoted) {
      seen.push_back("demoted " + ev->model + " gpu=" + std::to_string(std::get<int64_t>(*ev->find("gpu_bytes"))) +
                     " host=" + std::to_string(std::get<int64_t>(*ev->find("host_bytes"))));
      EXPECT_NE(std::get<std::string>(*ev->find("detail")).find("to make room on the GPU for"), std::string::npos);
    }
    if (ev->type == ModelEvent::kPromoted) seen.push_back("promoted " + ev->model);
    if (ev->type == ModelEvent::kLoaded) {
      EXPECT_EQ(std::get<int64_t>(*ev->find("gpu_bytes")), 100);
    }
  }
  EXPECT_EQ(seen, (Strings{"demoted b gpu=100 host=110", "demoted a gpu=100 host=110", "promoted b"}));
}

TEST_F(TierTest, AnUnloadedModelIsOnDiskAndExpiryUnloadsADemotedOne) {
  for (const char* id : {"a", "b"}) loader_.set(id, on_gpu());
  CacheOptions o = tiers(1000, 100);
  o.keep_alive_ms = 1000;
  make_cache(o);
  EXPECT_EQ(tier("a"), ModelTier::kDisk);
  use("a");
  clock_.advance(10);
  use("b");  // a demoted, its keep-alive still running
  EXPECT_EQ(tier("a"), ModelTier::kHost);
  clock_.advance(995);
  EXPECT_EQ(cache_->tick(), 1);
  EXPECT_EQ(tier("a"), ModelTier::kDisk);
  EXPECT_EQ(cache_->stats().bytes_used, 10u);
}

}  // namespace
}  // namespace hangar::manager
