// LoadReporter: stages always reported, byte progress paced by the clock and never going back.
#include "manager/load_reporter.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "manager/test_support.h"

namespace hangar::manager {
namespace {

// A reporter at 250 ms on a fake clock, with every call it makes.
class LoadReporterTest : public ::testing::Test {
 protected:
  testing::FakeClock clock_;
  std::vector<std::pair<double, std::string>> seen_;
  const LoadProgress progress_ = [this](double f, std::string_view stage) { seen_.emplace_back(f, std::string(stage)); };
  LoadReporter r_{clock_, progress_, "m", 250};
};

TEST_F(LoadReporterTest, BytesArePacedByTheClockAndMappedIntoTheStageSpan) {
  r_.stage(0.1, "prefaulting weights");
  ByteProgress bytes = r_.span(0.1, 0.9);
  for (int i = 1; i <= 100; ++i) {  // 100 chunks, 10 ms apart: a report each 250 ms
    clock_.advance(10);
    bytes(i * 1'000'000ull, 100'000'000ull);
  }
  ASSERT_EQ(seen_.size(), 1u + 4u);
  EXPECT_EQ(seen_[0], std::make_pair(0.1, std::string("prefaulting weights")));
  EXPECT_DOUBLE_EQ(seen_[1].first, 0.1 + 0.8 * 0.25);  // at 250 ms, a quarter done
  EXPECT_DOUBLE_EQ(seen_[4].first, 0.9);
  EXPECT_EQ(seen_[4].second, "prefaulting weights");
}

TEST_F(LoadReporterTest, NothingBetweenStagesWhileTheClockStands) {
  r_.stage(0, "reading weights");
  for (int i = 0; i < 1000; ++i) r_.bytes(0, 0.9, i, 1000);
  r_.stage(0.95, "starting scheduler");
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_EQ(seen_[1].second, "starting scheduler");
}

TEST_F(LoadReporterTest, FractionsNeverGoBack) {
  r_.stage(0.1, "prefaulting weights");
  clock_.advance(300);
  r_.bytes(0.1, 0.9, 90, 100);  // 0.82
  clock_.advance(300);
  r_.bytes(0.1, 0.9, 10, 100);  // a second pass over the pages starts again: stays at 0.82
  ASSERT_EQ(seen_.size(), 3u);
  EXPECT_DOUBLE_EQ(seen_[1].first, 0.82);
  EXPECT_DOUBLE_EQ(seen_[2].first, 0.82);
  EXPECT_DOUBLE_EQ(r_.fraction(), 0.82);
}

TEST_F(LoadReporterTest, WorksWithoutAListener) {
  const LoadProgress none;
  LoadReporter r(clock_, none, "m", 250, 1000);
  r.stage(0, "reading weights");
  clock_.advance(2000);
  r.bytes(0, 1, 5, 10);  // logs, reports to nobody
  EXPECT_DOUBLE_EQ(r.fraction(), 0.5);
}

}  // namespace
}  // namespace hangar::manager
