// LoadReporter: stages always reported, byte progress paced by the clock and never going back.
#include "manager/load_reporter.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "manager/test_support.h"

namespace hangar::manager {
namespace {

struct Seen {
  std::vector<std::pair<double, std::string>> calls;
  LoadProgress fn() {
    return [this](double f, std::string_view stage) { calls.emplace_back(f, std::string(stage)); };
  }
};

TEST(LoadReporter, BytesArePacedByTheClockAndMappedIntoTheStageSpan) {
  testing::FakeClock clock;
  Seen seen;
  const LoadProgress progress = seen.fn();
  LoadReporter r(clock, progress, "m", 250);
  r.stage(0.1, "prefaulting weights");
  ByteProgress bytes = r.span(0.1, 0.9);
  for (int i = 1; i <= 100; ++i) {  // 100 chunks, 10 ms apart: a report each 250 ms
    clock.advance(10);
    bytes(i * 1'000'000ull, 100'000'000ull);
  }
  ASSERT_EQ(seen.calls.size(), 1u + 4u);
  EXPECT_EQ(seen.calls[0], std::make_pair(0.1, std::string("prefaulting weights")));
  EXPECT_DOUBLE_EQ(seen.calls[1].first, 0.1 + 0.8 * 0.25);  // at 250 ms, a quarter done
  EXPECT_DOUBLE_EQ(seen.calls[4].first, 0.9);
  EXPECT_EQ(seen.calls[4].second, "prefaulting weights");
}

TEST(LoadReporter, NothingBetweenStagesWhileTheClockStands) {
  testing::FakeClock clock;
  Seen seen;
  const LoadProgress progress = seen.fn();
  LoadReporter r(clock, progress, "m", 250);
  r.stage(0, "reading weights");
  for (int i = 0; i < 1000; ++i) r.bytes(0, 0.9, i, 1000);
  r.stage(0.95, "starting scheduler");
  ASSERT_EQ(seen.calls.size(), 2u);
  EXPECT_EQ(seen.calls[1].second, "starting scheduler");
}

TEST(LoadReporter, FractionsNeverGoBack) {
  testing::FakeClock clock;
  Seen seen;
  const LoadProgress progress = seen.fn();
  LoadReporter r(clock, progress, "m", 250);
  r.stage(0.1, "prefaulting weights");
  clock.advance(300);
  r.bytes(0.1, 0.9, 90, 100);  // 0.82
  clock.advance(300);
  r.bytes(0.1, 0.9, 10, 100);  // a second pass over the pages starts again: stays at 0.82
  ASSERT_EQ(seen.calls.size(), 3u);
  EXPECT_DOUBLE_EQ(seen.calls[1].first, 0.82);
  EXPECT_DOUBLE_EQ(seen.calls[2].first, 0.82);
  EXPECT_DOUBLE_EQ(r.fraction(), 0.82);
}

TEST(LoadReporter, WorksWithoutAListener) {
  testing::FakeClock clock;
  const LoadProgress none;
  LoadReporter r(clock, none, "m", 250, 1000);
  r.stage(0, "reading weights");
  clock.advance(2000);
  r.bytes(0, 1, 5, 10);  // logs, reports to nobody
  EXPECT_DOUBLE_EQ(r.fraction(), 0.5);
}

}  // namespace
}  // namespace hangar::manager
