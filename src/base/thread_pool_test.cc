// Tests for ThreadPool: every thread runs each job, parallel_for covers each index exactly once.
#include "base/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <vector>

namespace hangar {
namespace {

TEST(ThreadPool, RunCallsEveryThreadOnce) {
  ThreadPool pool(4);
  for (int rep = 0; rep < 200; ++rep) {
    std::vector<std::atomic<int>> hits(4);
    pool.run([&](int ith, int nth) {
      EXPECT_EQ(nth, 4);
      hits[ith].fetch_add(1);
    });
    for (auto& h : hits) EXPECT_EQ(h.load(), 1);
  }
}

TEST(ThreadPool, ParallelForCoversEachIndexOnce) {
  ThreadPool pool(3);
  for (int64_t n : {0, 1, 7, 64, 1000, 12345}) {
    std::vector<std::atomic<int>> hits(n);
    pool.parallel_for(n, 13, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
    });
    for (auto& h : hits) ASSERT_EQ(h.load(), 1);
  }
}

// Thousands of back-to-back small jobs, mixing both kinds: late or stale workers must never
// run a job twice, miss one, or run a finished job's function.
TEST(ThreadPool, ManySmallJobsStayExact) {
  ThreadPool pool(3);
  for (int rep = 0; rep < 5000; ++rep) {
    const int64_t n = 1 + rep % 7;
    std::vector<std::atomic<int>> hits(n);
    pool.parallel_for(n, 1, [&](int64_t b, int64_t e, int ith) {
      EXPECT_LT(ith, 3);
      for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
    });
    for (auto& h : hits) ASSERT_EQ(h.load(), 1);
    if (rep % 10 == 0) {
      std::atomic<int> calls{0};
      pool.run([&](int, int) { calls.fetch_add(1); });
      ASSERT_EQ(calls.load(), 3);
    }
  }
}

TEST(ThreadPool, SingleThreadRunsInline) {
  ThreadPool pool(1);
  int calls = 0;
  pool.run([&](int ith, int nth) {
    EXPECT_EQ(ith, 0);
    EXPECT_EQ(nth, 1);
    ++calls;
  });
  EXPECT_EQ(calls, 1);
}

TEST(ThreadPool, PhysicalCoresIsPositive) { EXPECT_GE(ThreadPool::physical_cores(), 1); }

}  // namespace
}  // namespace hangar
