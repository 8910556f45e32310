// BackgroundWorker: jobs run when due on a fake clock, their outcomes and failures are recorded.
#include "manager/background_worker.h"

#include <gtest/gtest.h>

#include "manager/test_support.h"

namespace hangar::manager {
namespace {

using testing::FakeClock;

TEST(BackgroundWorker, RunsEachJobFirstAtOnceThenEveryInterval) {
  FakeClock clock;
  BackgroundWorker worker(clock);
  int a = 0, b = 0;
  worker.add_job("a", 1000, [&]() -> Result<JobOutcome> { ++a; return JobOutcome{}; });
  worker.add_job("b", 5000, [&]() -> Result<JobOutcome> { ++b; return JobOutcome{}; });
  EXPECT_EQ(worker.run_due(), 2);
  EXPECT_EQ(worker.run_due(), 0);
  EXPECT_EQ(worker.next_due_ms(), clock.now_ms() + 1000);
  clock.advance(999);
  EXPECT_EQ(worker.run_due(), 0);
  clock.advance(1);
  EXPECT_EQ(worker.run_due(), 1);
  clock.advance(4000);
  EXPECT_EQ(worker.run_due(), 2);
  EXPECT_EQ(a, 3);
  EXPECT_EQ(b, 2);
}

TEST(BackgroundWorker, StatsRecordLastRunWhatWasFreedAndFailures) {
  FakeClock clock;
  BackgroundWorker worker(clock);
  bool fail = false;
  worker.add_job("trim", 100, [&]() -> Result<JobOutcome> {
    if (fail) return Error("disk on fire");
    return JobOutcome{4096, 2, "freed 2 blocks"};
  });
  const int64_t t0 = clock.now_ms();
  worker.run_due();
  clock.advance(100);
  worker.run_due();
  std::vector<JobStats> s = worker.stats();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].name, "trim");
  EXPECT_EQ(s[0].runs, 2);
  EXPECT_EQ(s[0].last_run_ms, t0 + 100);
  EXPECT_EQ(s[0].last.detail, "freed 2 blocks");
  EXPECT_EQ(s[0].freed_bytes_total, 8192);
  EXPECT_EQ(s[0].freed_items_total, 4);
  fail = true;
  clock.advance(100);
  worker.run_due();
  s = worker.stats();
  EXPECT_EQ(s[0].failures, 1);
  EXPECT_EQ(s[0].last_error, "disk on fire");
  EXPECT_EQ(s[0].last.detail, "freed 2 blocks");  // the last good outcome stays visible
  EXPECT_EQ(s[0].freed_bytes_total, 8192);
}

TEST(BackgroundWorker, RequestMakesAJobDueAndRunNowRunsIt) {
  FakeClock clock;
  BackgroundWorker worker(clock);
  int scans = 0;
  worker.add_job("scan", 60000, [&]() -> Result<JobOutcome> { ++scans; return JobOutcome{}; });
  worker.run_due();
  EXPECT_EQ(worker.run_due(), 0);
  EXPECT_TRUE(worker.request("scan"));
  EXPECT_FALSE(worker.request("nope"));
  EXPECT_EQ(worker.run_due(), 1);
  EXPECT_TRUE(worker.run_now("scan"));
  EXPECT_FALSE(worker.run_now("nope"));
  EXPECT_EQ(scans, 3);
}

TEST(BackgroundWorker, AJobWithWorkLeftRunsAgainAfterTheOthers) {
  FakeClock clock;
  BackgroundWorker worker(clock);
  std::vector<std::string> order;
  int left = 2;
  worker.add_job("batches", 60000, [&]() -> Result<JobOutcome> {
    order.push_back("batches");
    JobOutcome o;
    o.again = --left > 0;
    return o;
  });
  worker.add_job("tick", 1000, [&]() -> Result<JobOutcome> {
    order.push_back("tick");
    return JobOutcome{};
  });
  EXPECT_EQ(worker.run_due(), 2);
  EXPECT_EQ(worker.next_due_ms(), clock.now_ms());  // the rest of the batches is due now
  clock.advance(1000);
  EXPECT_EQ(worker.run_due(), 2);  // the second batch, then the tick that fell due
  EXPECT_EQ(worker.run_due(), 0);  // no work left: back to its interval
  EXPECT_EQ(order, (std::vector<std::string>{"batches", "tick", "batches", "tick"}));
}

}  // namespace
}  // namespace hangar::manager
