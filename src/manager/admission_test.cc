// Tests for admission planning: idle before busy, policy order, byte and count caps.
#include "manager/admission.h"

#include <gtest/gtest.h>

namespace hangar::manager {
namespace {

FitCandidate cand(const std::string& id, uint64_t bytes, int64_t last_used, bool busy = false) {
  FitCandidate c;
  c.facts.id = id;
  c.facts.bytes = bytes;
  c.facts.last_used_ms = last_used;
  c.busy = busy;
  return c;
}

FitRequest request(uint64_t need, uint64_t budget, uint64_t used, int resident) {
  FitRequest r;
  r.needed_bytes = need;
  r.budget_bytes = budget;
  r.used_bytes = used;
  r.resident = resident;
  return r;
}

TEST(Admission, FitsWithoutEvictingWhenThereIsRoom) {
  const FitPlan p = plan_fit(request(100, 500, 300, 3), EvictionPolicy::kLru, {cand("a", 100, 1)});
  EXPECT_TRUE(p.fits_now());
  EXPECT_TRUE(p.evict.empty());
}

TEST(Admission, EvictsIdleModelsInPolicyOrderUntilItFits) {
  const std::vector<FitCandidate> c = {cand("a", 100, 30), cand("b", 100, 10), cand("c", 100, 20)};
  const FitPlan p = plan_fit(request(150, 300, 300, 3), EvictionPolicy::kLru, c);
  EXPECT_TRUE(p.fits_now());
  EXPECT_EQ(p.evict, (std::vector<size_t>{1, 2}));  // b, then c (least recently used first)
  EXPECT_EQ(p.freed_bytes, 200u);
}

TEST(Admission, IdleModelsGoBeforeBusyOnesThatThenDrain) {
  const std::vector<FitCandidate> c = {cand("busy", 100, 1, true), cand("idle", 100, 50)};
  FitPlan p = plan_fit(request(100, 200, 200, 2), EvictionPolicy::kLru, c);
  EXPECT_TRUE(p.fits_now());
  EXPECT_EQ(p.evict, (std::vector<size_t>{1}));
  p = plan_fit(request(200, 200, 200, 2), EvictionPolicy::kLru, c);
  EXPECT_TRUE(p.fits);
  EXPECT_FALSE(p.fits_now());  // the busy one has to finish first
  EXPECT_EQ(p.drain, (std::vector<size_t>{0}));
}

TEST(Admission, TooLargeEvenWithEveryCandidateGoneDoesNotFit) {
  const FitPlan p = plan_fit(request(500, 300, 200, 2), EvictionPolicy::kLru,
                             {cand("a", 100, 1), cand("b", 100, 2, true)});
  EXPECT_FALSE(p.fits);
  EXPECT_EQ(p.evict.size() + p.drain.size(), 2u);
}

TEST(Admission, CountCapAndGettingUnderTheBudget) {
  FitRequest r = request(10, 0, 300, 3);  // no byte cap
  r.max_loaded = 3;
  FitPlan p = plan_fit(r, EvictionPolicy::kLru, {cand("a", 100, 2), cand("b", 100, 1)});
  EXPECT_EQ(p.evict, (std::vector<size_t>{1}));
  // needed 0, models 0: how much must go to get back under a budget that shrank to 150.
  FitRequest shrink = request(0, 150, 300, 3);
  shrink.models = 0;
  p = plan_fit(shrink, EvictionPolicy::kLru, {cand("a", 100, 2), cand("b", 100, 1), cand("c", 100, 3)});
  EXPECT_TRUE(p.fits_now());
  EXPECT_EQ(p.evict, (std::vector<size_t>{1, 0}));
}

}  // namespace
}  // namespace hangar::manager
