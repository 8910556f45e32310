// Clock (monotonic, for durations) and WallClock (epoch time, for records) are distinct types.
#include "base/clock.h"

#include <gtest/gtest.h>

#include <type_traits>

namespace hangar {
namespace {

// A wall clock jumps when the system time is set; were it a Clock, a keep-alive or timeout
// could be given one and expire early or never. The types keep them apart at compile time.
static_assert(!std::is_base_of_v<Clock, SystemWallClock>);
static_assert(!std::is_convertible_v<const SystemWallClock&, const Clock&>);
static_assert(!std::is_convertible_v<const SteadyClock&, const WallClock&>);

TEST(Clock, SteadyClockNeverGoesBack) {
  SteadyClock c;
  int64_t last = c.now_ms();
  for (int i = 0; i < 1000; ++i) {
    const int64_t now = c.now_ms();
    EXPECT_GE(now, last);
    last = now;
  }
}

TEST(Clock, WallClockIsEpochTime) {
  // After 2020-01-01 and agreeing with unix_time_s to the second.
  SystemWallClock w;
  const int64_t ms = w.now_unix_ms();
  EXPECT_GT(ms, int64_t{1'577'836'800'000});
  EXPECT_NEAR(static_cast<double>(ms / 1000), static_cast<double>(unix_time_s()), 2.0);
}

}  // namespace
}  // namespace hangar
