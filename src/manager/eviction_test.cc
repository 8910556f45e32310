// Tests for the eviction order of each policy.
#include "manager/eviction.h"

#include <gtest/gtest.h>

namespace hangar::manager {
namespace {

std::vector<std::string> order_ids(EvictionPolicy p, const std::vector<EvictionCandidate>& c) {
  std::vector<std::string> ids;
  for (size_t i : eviction_order(p, c)) ids.push_back(c[i].id);
  return ids;
}

// id, bytes, last_used, loaded_at, access_count, load_ms, requests_per_min
const std::vector<EvictionCandidate> kCandidates = {
    {"a", 100, /*last_used*/ 50, /*loaded_at*/ 10, /*access*/ 9, /*load_ms*/ 2000, 0.5},
    {"b", 100, 30, 20, 2, 100, 4.0},
    {"c", 100, 40, 5, 5, 50, 1.0},
};

TEST(Eviction, LruEvictsLeastRecentlyUsedFirst) {
  EXPECT_EQ(order_ids(EvictionPolicy::kLru, kCandidates), (std::vector<std::string>{"b", "c", "a"}));
}

TEST(Eviction, LfuEvictsFewestAccessesFirst) {
  EXPECT_EQ(order_ids(EvictionPolicy::kLfu, kCandidates), (std::vector<std::string>{"b", "c", "a"}));
  auto c = kCandidates;
  c[1].access_count = 20;  // now b is the most used
  EXPECT_EQ(order_ids(EvictionPolicy::kLfu, c), (std::vector<std::string>{"c", "a", "b"}));
}

TEST(Eviction, FifoEvictsEarliestLoadedFirst) {
  EXPECT_EQ(order_ids(EvictionPolicy::kFifo, kCandidates), (std::vector<std::string>{"c", "a", "b"}));
}

TEST(Eviction, CostEvictsCheapestReloadTimesRate) {
  // costs: a = 2000 * 0.5 = 1000, b = 100 * 4 = 400, c = 50 * 1 = 50
  EXPECT_DOUBLE_EQ(eviction_cost(kCandidates[0]), 1000.0);
  EXPECT_EQ(order_ids(EvictionPolicy::kCost, kCandidates), (std::vector<std::string>{"c", "b", "a"}));
}

TEST(Eviction, TiesFallBackToLruThenId) {
  std::vector<EvictionCandidate> c = {
      {"z", 1, 5, 1, 3, 10, 0}, {"y", 1, 5, 1, 3, 10, 0}, {"x", 1, 9, 1, 3, 10, 0}};
  for (auto p : {EvictionPolicy::kLru, EvictionPolicy::kLfu, EvictionPolicy::kFifo,
                 EvictionPolicy::kCost}) {
    EXPECT_EQ(order_ids(p, c), (std::vector<std::string>{"y", "z", "x"})) << eviction_policy_name(p);
  }
}

}  // namespace
}  // namespace hangar::manager
