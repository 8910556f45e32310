// Tests for waiting for memory: queueing instead of 507, timeouts, 429, no head-of-line
// blocking, swap batching, priorities, learned footprints, the dry-run fit and the events.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "manager/cache_fixture.h"
#include "manager/memory_monitor.h"

namespace hangar::manager {
namespace {

using namespace std::chrono_literals;
using testing::CacheFixture;
using testing::FakeMemoryReader;
using Strings = std::vector<std::string>;

CacheOptions opts(uint64_t budget, int64_t swap_window_ms = 0) {
  CacheOptions o;
  o.budget_bytes = budget;
  o.keep_alive_ms = -1;
  o.swap_window_ms = swap_window_ms;
  return o;
}

AcquireOptions with_priority(int p) {
  AcquireOptions o;
  o.priority = p;
  return o;
}

// One request on its own thread; get() waits for acquire() to return. The lease then belongs
// to the test, which releases it.
struct Pending {
  Pending(ModelCache& c, std::string id, AcquireOptions o = {})
      : thread([this, &c, id, o] {
          result = c.acquire(id, o, &failure);
          thread_done = true;
        }) {}
  ~Pending() {
    if (thread.joinable()) thread.join();
  }
  Result<Lease>& get() {
    if (thread.joinable()) thread.join();
    return result;
  }
  Result<Lease> result = Error("pending");
  AcquireFailure failure;
  std::atomic<bool> thread_done{false};
  std::thread thread;  // last: starts once the members above exist
};

class QueueTest : public CacheFixture {
 protected:
  // Blocks until `n` requests wait in `id`'s queue (they announce themselves under the lock).
  void wait_waiting(const std::string& id, int n) {
    while (!cache_->status(id) || cache_->status(id)->waiting < n) std::this_thread::yield();
  }
  // Blocks until `n` requests in all have announced that they wait for memory.
  void wait_queued(int64_t n) {
    while (cache_->stats().queued < n) std::this_thread::yield();
  }
};

TEST_F(QueueTest, ARequestWaitsForABusyModelInsteadOf507AndIsServedWhenItEnds) {
  make_cache(opts(100));
  auto a = cache_->acquire("a");
  ASSERT_TRUE(a.ok());
  Pending b(*cache_, "b");
  wait_queued(1);
  EXPECT_EQ(loaded(), Strings{"a"});  // in flight: never evicted
  EXPECT_TRUE(cache_->status("a")->draining);
  Pending a2(*cache_, "a");  // a draining model takes no new request: it waits too
  wait_waiting("a", 1);
  a->release();
  ASSERT_TRUE(b.get().ok()) << b.get().error().message();
  EXPECT_EQ(loaded(), Strings{"b"});
  const CacheStats s = cache_->stats();
  EXPECT_EQ(s.unloads_for(EvictionReason::kPolicy), 1);
  ASSERT_FALSE(s.recent_evictions.empty());
  EXPECT_EQ(s.recent_evictions.back().id, "a");
  EXPECT_EQ(s.recent_evictions.back().detail, "to make room for 'b'");
  b.get()->release();
  ASSERT_TRUE(a2.get().ok()) << a2.get().error().message();
  EXPECT_EQ(loader_.calls(), (Strings{"a", "b", "a"}));
}

TEST_F(QueueTest, AWaitThatOutlivesTheQueueTimeoutFailsWithRetryAfter) {
  CacheOptions o = opts(100);
  o.queue_timeout_ms = 5'000;
  make_cache(o);
  auto a = cache_->acquire("a");
  ASSERT_TRUE(a.ok());
  Pending b(*cache_, "b");
  wait_queued(1);
  clock_.advance(4'999);
  cache_->tick();
  EXPECT_EQ(cache_->status("b")->waiting, 1);
  clock_.advance(1);
  cache_->tick();
  ASSERT_FALSE(b.get().ok());
  EXPECT_EQ(b.failure.kind, FailureKind::kQueueTimeout);
  EXPECT_GE(b.failure.retry_after_s, 1);
  EXPECT_NE(b.get().error().message().find("--queue-timeout"), std::string::npos);
  EXPECT_EQ(cache_->stats().queue_timeouts, 1);
  EXPECT_EQ(cache_->status("b")->waiting, 0);
  EXPECT_FALSE(cache_->status("a")->draining);  // nobody needs its memory any more
}

TEST_F(QueueTest, AFullQueueRefusesAtOnceWithRetryAfter) {
  CacheOptions o = opts(100);
  o.max_queue = 1;
  make_cache(o);
  auto a = cache_->acquire("a");
  ASSERT_TRUE(a.ok());
  Pending b(*cache_, "b");
  wait_waiting("b", 1);
  AcquireFailure why;
  auto refused = cache_->acquire("b", {}, &why);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(why.kind, FailureKind::kQueueFull);
  EXPECT_GE(why.retry_after_s, 1);
  EXPECT_NE(refused.error().message().find("--queue-size"), std::string::npos);
  EXPECT_EQ(cache_->stats().queue_full, 1);
  a->release();
  EXPECT_TRUE(b.get().ok());
}

TEST_F(QueueTest, ConcurrentRequestsShareOneFailedLoad) {
  loader_.set("a", {.fail = "a.gguf: broken"});
  make_cache(opts(1000));
  loader_.close_gate();
  Pending one(*cache_, "a"), two(*cache_, "a"), three(*cache_, "a");
  loader_.wait_entered(1);
  wait_waiting("a", 3);
  loader_.open_gate();
  for (Pending* p : {&one, &two, &three}) {
    ASSERT_FALSE(p->get().ok());
    EXPECT_EQ(p->failure.kind, FailureKind::kLoadFailed);
    EXPECT_NE(p->get().error().message().find("broken"), std::string::npos);
  }
  EXPECT_EQ(loader_.calls_for("a"), 1);
}

TEST_F(QueueTest, ARequestForALoadedModelNeverWaitsBehindAnotherModelsLoad) {
  make_cache(opts(1000));
  use("a");
  loader_.close_gate();
  Pending b(*cache_, "b");
  loader_.wait_entered(2);             // b's load is stuck in the loader
  auto hit = cache_->acquire("a");     // answered while it is
  ASSERT_TRUE(hit.ok());
  Pending c(*cache_, "c");
  loader_.wait_entered(3);             // and c's load started beside it
  loader_.open_gate();
  EXPECT_TRUE(b.get().ok());
  EXPECT_TRUE(c.get().ok());
  EXPECT_EQ(loaded(), (Strings{"a", "b", "c"}));
}

TEST_F(QueueTest, APreloadIsNotHeldBackByAnotherModelsLoad) {
  make_cache(opts(1000));
  AcquireOptions preload;
  preload.count_access = false;
  preload.allow_evict = false;
  loader_.close_gate();
  Pending a(*cache_, "a", preload);
  loader_.wait_entered(1);  // a is loading; its preload waits for that load, not for memory
  Pending b(*cache_, "b", preload);
  // b either enters the loader beside a or (the old bug) is refused at once as if memory were
  // awaited; the loop ends either way.
  while (loader_.calls_for("b") == 0 && !b.thread_done) std::this_thread::yield();
  loader_.open_gate();
  EXPECT_TRUE(a.get().ok());
  ASSERT_TRUE(b.get().ok()) << b.get().error().message();
  EXPECT_EQ(loaded(), (Strings{"a", "b"}));
}

TEST_F(QueueTest, AModelThatFitsLoadsAtOnceWhileAnEarlierOneWaitsForBusyModels) {
  loader_.set("b", {.estimate = 200, .actual = 200});
  loader_.set("d", {.estimate = 50, .actual = 50});
  make_cache(opts(300));
  auto a = cache_->acquire("a", with_priority(9));
  auto c = cache_->acquire("c", with_priority(9));
  ASSERT_TRUE(a.ok() && c.ok());
  // b needs 200 of which only 100 are free, and may not drain the higher-priority a and c.
  Pending b(*cache_, "b");
  wait_queued(1);
  EXPECT_FALSE(cache_->status("a")->draining);
  auto a2 = cache_->acquire("a", with_priority(9));
  ASSERT_TRUE(a2.ok());
  auto d = cache_->acquire("d");  // fits the free 100: no head-of-line blocking behind b
  ASSERT_TRUE(d.ok()) << d.error().message();
  a->release();
  a2->release();
  c->release();
  d->release();
  ASSERT_TRUE(b.get().ok()) << b.get().error().message();
  EXPECT_EQ(cache_->status("b")->state, ModelState::kLoaded);
}

// The same arrivals with and without a swap window: a in flight, then b, then a again, then b.
void alternate(ModelCache& cache, bool window, int* a_hits_in_window) {
  auto a1 = cache.acquire("a");
  EXPECT_TRUE(a1.ok());
  Pending b1(cache, "b");
  while (cache.stats().queued < 1) std::this_thread::yield();
  std::optional<Pending> a2_waiting;
  Result<Lease> a2 = Error("queued");
  if (window) {
    a2 = cache.acquire("a");  // within the window the resident model still serves
    *a_hits_in_window = a2.ok() ? 1 : 0;
  } else {
    a2_waiting.emplace(cache, "a");
    while (cache.status("a")->waiting < 1) std::this_thread::yield();
  }
  Pending b2(cache, "b");
  while (cache.status("b")->waiting < 2) std::this_thread::yield();
  a1->release();
  if (a2.ok()) a2->release();
  EXPECT_TRUE(b1.get().ok());
  EXPECT_TRUE(b2.get().ok());  // one load of b served both
  b1.get()->release();
  b2.get()->release();
  if (a2_waiting) {
    EXPECT_TRUE(a2_waiting->get().ok());
    a2_waiting->get()->release();
  }
}

TEST_F(QueueTest, WithoutASwapWindowEveryWaitingRequestDrainsTheResidentModel) {
  make_cache(opts(100, /*swap_window_ms=*/0));
  int hits = 0;
  alternate(*cache_, false, &hits);
  EXPECT_EQ(loader_.calls(), (Strings{"a", "b", "a"}));
}

TEST_F(QueueTest, ASwapWindowServesAlternatingModelsInBatches) {
  make_cache(opts(100, /*swap_window_ms=*/1'000));
  int hits = 0;
  alternate(*cache_, true, &hits);
  EXPECT_EQ(hits, 1);
  EXPECT_EQ(loader_.calls(), (Strings{"a", "b"}));  // one swap fewer for the same requests
}

TEST_F(QueueTest, AfterTheSwapWindowTheResidentModelDrains) {
  make_cache(opts(100, /*swap_window_ms=*/1'000));
  auto a = cache_->acquire("a");
  Pending b(*cache_, "b");
  wait_queued(1);
  EXPECT_FALSE(cache_->status("a")->draining);
  clock_.advance(999);
  cache_->tick();
  EXPECT_FALSE(cache_->status("a")->draining);
  clock_.advance(1);
  cache_->tick();
  EXPECT_TRUE(cache_->status("a")->draining);
  Pending a2(*cache_, "a");
  wait_waiting("a", 1);
  a->release();
  ASSERT_TRUE(b.get().ok());
  b.get()->release();
  ASSERT_TRUE(a2.get().ok());
}

TEST_F(QueueTest, PrioritiesDecideWhoWaits) {
  make_cache(opts(100));
  auto a = cache_->acquire("a");
  Pending b(*cache_, "b", with_priority(0));
  wait_queued(1);
  Pending c(*cache_, "c", with_priority(5));  // arrived later, ranks first
  wait_queued(2);
  a->release();
  ASSERT_TRUE(c.get().ok());
  EXPECT_EQ(cache_->status("b")->waiting, 1);
  c.get()->release();
  ASSERT_TRUE(b.get().ok());
  EXPECT_EQ(loader_.calls(), (Strings{"a", "c", "b"}));
}

TEST_F(QueueTest, ALowerPriorityWaiterDoesNotDrainAHigherPriorityModel) {
  CacheOptions o = opts(100);
  o.priority_of = [](const std::string& id) { return id == "a" ? 5 : 0; };
  make_cache(o);
  auto a = cache_->acquire("a");
  Pending b(*cache_, "b");
  wait_queued(1);
  EXPECT_FALSE(cache_->status("a")->draining);
  EXPECT_EQ(cache_->status("a")->priority, 5);
  auto a2 = cache_->acquire("a");
  ASSERT_TRUE(a2.ok());
  a->release();
  a2->release();  // idle now: an idle model is evicted whatever its priority
  ASSERT_TRUE(b.get().ok());
}

TEST_F(QueueTest, LearnedFootprintIsUsedFromTheSecondLoadAndSurvivesARestart) {
  loader_.set("a", {.estimate = 100, .actual = 150});
  make_cache(opts(1000));
  auto first = cache_->admission("a");
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->bytes, 100u);
  EXPECT_FALSE(first->measured.has_value());
  use("a");
  auto second = cache_->admission("a");
  EXPECT_EQ(second->bytes, 150u);
  ASSERT_TRUE(second->measured.has_value());
  EXPECT_EQ(second->measured->estimated_bytes, 100u);
  ASSERT_TRUE(cache_->unload("a").ok());
  loader_.close_gate();
  {
    Pending again(*cache_, "a");
    loader_.wait_entered(2);
    EXPECT_EQ(cache_->stats().bytes_used, 150u);  // reserved at the measured figure
    loader_.open_gate();
    ASSERT_TRUE(again.get().ok());
  }
  make_cache(opts(1000));  // a new process over the same registry
  EXPECT_EQ(cache_->admission("a")->bytes, 150u);
  loader_.set_settings("ctx=1024");  // measured under other settings: the estimate again
  EXPECT_EQ(cache_->admission("a")->bytes, 100u);
}

TEST_F(QueueTest, FitIsADryRunThatNamesTheVictims) {
  loader_.set("d", {.estimate = 400});
  make_cache(opts(250));
  use("a");
  clock_.advance(10);
  use("b");
  auto r = cache_->fit("c");
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->fits);
  EXPECT_EQ(r->evict, Strings{"a"});
  EXPECT_EQ(r->needed_bytes, 100u);
  EXPECT_EQ(r->free_bytes, 50u);
  EXPECT_EQ(loaded(), (Strings{"a", "b"}));  // nothing changed
  EXPECT_EQ(loader_.calls_for("c"), 0);

  auto held = cache_->acquire("a");
  ASSERT_TRUE(cache_->pin("b").ok());
  r = cache_->fit("c");
  EXPECT_FALSE(r->fits);
  EXPECT_TRUE(r->evict.empty());
  EXPECT_EQ(r->drain, Strings{"a"});  // a request would wait for a to finish
  EXPECT_FALSE(cache_->status("a")->draining);

  EXPECT_TRUE(cache_->fit("a")->fits);
  EXPECT_TRUE(cache_->fit("a")->loaded);
  r = cache_->fit("d");
  EXPECT_FALSE(r->fits);
  EXPECT_NE(r->reason.find("larger than the whole budget"), std::string::npos);
  EXPECT_FALSE(cache_->fit("zzz").ok());
}

TEST_F(QueueTest, ReadinessIsADryRunThatSaysWhyNot) {
  loader_.set("d", {.estimate = 400});
  CacheOptions o = opts(250);
  o.max_queue = 1;
  o.keep_alive_ms = 60'000;
  int requests_seen = 0;  // the learned preloader's history
  o.on_request = [&](const std::string&) { requests_seen += 1; };
  make_cache(o);
  // An unloaded model that fits: ready, and asking neither loads it nor counts a use.
  Readiness r = cache_->readiness("a");
  EXPECT_TRUE(r.ready) << r.reason;
  EXPECT_EQ(loader_.calls_for("a"), 0);
  EXPECT_EQ(registry_->get("a")->access_count, 0);
  EXPECT_EQ(cache_->stats().hits + cache_->stats().misses, 0);
  // Loaded: ready, and the keep-alive countdown is not reset by asking.
  use("a");
  clock_.advance(1000);
  const int64_t expires = cache_->status("a")->expires_in_ms;
  r = cache_->readiness("a");
  EXPECT_TRUE(r.ready);
  EXPECT_EQ(r.state, ModelState::kLoaded);
  EXPECT_EQ(cache_->status("a")->expires_in_ms, expires);
  EXPECT_EQ(registry_->get("a")->access_count, 1);
  EXPECT_EQ(requests_seen, 1);  // the use, not the questions
  // Never fits: larger than the whole budget.
  r = cache_->readiness("d");
  EXPECT_FALSE(r.ready);
  EXPECT_EQ(r.kind, FailureKind::kInsufficientMemory);
  EXPECT_NE(r.reason.find("budget"), std::string::npos) << r.reason;
  // Unknown.
  r = cache_->readiness("zzz");
  EXPECT_FALSE(r.ready);
  EXPECT_EQ(r.kind, FailureKind::kUnknownModel);
  // A full queue: b waits for memory held by a busy a and c.
  auto held_a = cache_->acquire("a");
  auto held_c = cache_->acquire("c");
  ASSERT_TRUE(held_a.ok() && held_c.ok());
  Pending b(*cache_, "b");
  wait_waiting("b", 1);
  r = cache_->readiness("b");
  EXPECT_FALSE(r.ready);
  EXPECT_EQ(r.kind, FailureKind::kQueueFull);
  EXPECT_EQ(r.waiting, 1);
  held_a->release();
  held_c->release();
  EXPECT_TRUE(b.get().ok());
}

TEST_F(QueueTest, TheBudgetFollowsTheMachineAndAWaiterGetsInWhenMemoryReturns) {
  EventBus bus(wall_);
  auto sub = bus.subscribe();
  make_cache(opts(0), &bus);  // no fixed cap: the machine decides
  FakeMemoryReader memory;
  PressureOptions p;
  p.min_available_bytes = 1000;
  MemoryMonitor monitor(*cache_, memory, p);
  use("a");
  clock_.advance(10);
  auto b = cache_->acquire("b");
  memory.set_available(1000 + 100);  // 100 spare beyond the reserve with a and b resident
  EXPECT_FALSE(monitor.check().under_pressure);
  EXPECT_EQ(cache_->budget_bytes(), 300u);
  memory.set_available(1000 - 50);  // another process took 150
  std::vector<std::string> unloaded;
  EXPECT_TRUE(monitor.check(&unloaded).under_pressure);
  EXPECT_EQ(unloaded, Strings{"a"});  // idle goes; b is in flight
  EXPECT_EQ(cache_->budget_bytes(), 150u);
  EXPECT_NE(cache_->stats().budget_reason.find("memory pressure"), std::string::npos);
  EXPECT_EQ(cache_->status("a")->last_eviction, "memory_pressure");
  // The eviction is in the event stream with its reason, as every other eviction is.
  std::vector<std::string> evicted;
  while (auto ev = sub->next(0ms))
    if (ev->type == ModelEvent::kEvicted) evicted.push_back(ev->model + " " + std::get<std::string>(*ev->find("reason")));
  EXPECT_EQ(evicted, Strings{"a memory_pressure"});
  Pending c(*cache_, "c");  // 100 + 100 > 150: waits
  wait_queued(1);
  memory.set_available(1000 + 300);  // memory returned
  monitor.check();
  EXPECT_EQ(cache_->budget_bytes(), 400u);  // b's 100 resident + 300 spare
  ASSERT_TRUE(c.get().ok());
  EXPECT_EQ(monitor.stats().budget_reason, cache_->stats().budget_reason);
}

TEST_F(QueueTest, EveryStateChangeIsPublished) {
  loader_.set("b", {.fail = "b.gguf: broken"});
  EventBus bus(wall_);
  auto sub = bus.subscribe();
  make_cache(opts(100), &bus);
  use("a");
  auto a = cache_->acquire("a");
  {
    Pending c(*cache_, "c");
    wait_queued(1);
    a->release();
    ASSERT_TRUE(c.get().ok());
  }
  EXPECT_FALSE(cache_->acquire("b").ok());
  use("a", 0);  // keep-alive 0
  use("d");
  ASSERT_TRUE(cache_->unload("d").ok());

  std::vector<std::string> seen;
  while (auto ev = sub->next(0ms)) {
    std::string s = ev->type + " " + ev->model;
    if (const auto* r = ev->find("reason")) s += " " + std::get<std::string>(*r);
    seen.push_back(s);
  }
  EXPECT_EQ(seen, (Strings{"loading a", "loading a", "loaded a", "queued c memory", "evicted a policy",
                           "loading c", "loading c", "loaded c", "evicted c policy", "loading b",
                           "loading b", "failed b", "loading a", "loading a", "loaded a",
                           "evicted a keep_alive", "loading d", "loading d", "loaded d", "evicted d manual"}));
}

}  // namespace
}  // namespace hangar::manager
