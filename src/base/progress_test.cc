// Progress: ETA arithmetic, the line's figures, redraw rate limiting and silence off a terminal.
#include "base/progress.h"

#include <gtest/gtest.h>

#include <sstream>

namespace hangar {
namespace {

class ManualClock final : public Clock {
 public:
  int64_t now_ms() const override { return now_; }
  void advance(int64_t ms) { now_ += ms; }

 private:
  int64_t now_ = 1000;
};

int count(const std::string& s, const std::string& part) {
  int n = 0;
  for (size_t pos = s.find(part); pos != std::string::npos; pos = s.find(part, pos + 1)) ++n;
  return n;
}

TEST(Progress, EtaIsTheRemainingWorkAtTheAverageRate) {
  EXPECT_EQ(Progress::eta_ms(25, 100, 1000), 3000);  // a quarter in 1 s: 3 s left
  EXPECT_EQ(Progress::eta_ms(50, 100, 4000), 4000);
  EXPECT_EQ(Progress::eta_ms(100, 100, 4000), 0);
  EXPECT_EQ(Progress::eta_ms(150, 100, 4000), 0);  // overshoot is done, never negative
  EXPECT_EQ(Progress::eta_ms(0, 100, 4000), -1);   // no rate yet
  EXPECT_EQ(Progress::eta_ms(10, 0, 4000), -1);    // no total
  EXPECT_EQ(Progress::eta_ms(10, 100, 0), -1);
}

TEST(Progress, DurationsReadAsClockTime) {
  EXPECT_EQ(Progress::format_duration(0), "0:00");
  EXPECT_EQ(Progress::format_duration(7'400), "0:07");
  EXPECT_EQ(Progress::format_duration(754'000), "12:34");
  EXPECT_EQ(Progress::format_duration(3'723'000), "1:02:03");
  EXPECT_EQ(Progress::format_duration(-5), "0:00");
}

TEST(Progress, LineShowsBarBytesRateEtaAndNote) {
  ManualClock clock;
  std::ostringstream out;
  Progress p(clock, out, true, "quantize", Progress::Unit::kBytes);
  p.set_total(400.0 * 1024 * 1024);
  const std::string l = p.line(100.0 * 1024 * 1024, "tensor 3/12", 2000);
  EXPECT_EQ(l, "quantize [#####...............]  25%  100.0 MiB/400.0 MiB  50.0 MiB/s  ETA 0:06  tensor 3/12");
  // Counts without a total: no bar, no ETA.
  Progress c(clock, out, true, "bench");
  EXPECT_EQ(c.line(3, "tg128 run 1/3", 0), "bench  3  tg128 run 1/3");
}

TEST(Progress, RedrawsInPlaceAtMostOncePerInterval) {
  ManualClock clock;
  std::ostringstream out;
  Progress p(clock, out, true, "ppl", Progress::Unit::kCount, 250);
  p.set_total(10);
  p.update(1);  // the first update draws at once
  for (int i = 0; i < 50; ++i) {
    clock.advance(10);  // 500 ms in 10 ms steps: two more draws
    p.update(1 + i * 0.1);
  }
  EXPECT_EQ(count(out.str(), "\r"), 3) << out.str();
  EXPECT_EQ(out.str().find('\n'), std::string::npos);  // in place: never a new line
  EXPECT_EQ(out.str().rfind("\rppl [", 0), 0u);
}

TEST(Progress, ANewStageDrawsAtOnce) {
  ManualClock clock;
  std::ostringstream out;
  Progress p(clock, out, true, "bench");
  p.update(0, "pp512 run 1/3");
  clock.advance(1);
  p.update(1, "tg128 run 1/3");  // rate-limited: not drawn
  EXPECT_EQ(out.str().find("tg128"), std::string::npos);
  p.update(1, "tg128 run 1/3", /*now=*/true);
  EXPECT_NE(out.str().find("tg128 run 1/3"), std::string::npos);
}

TEST(Progress, ClearErasesAndTheNextUpdateRedrawsAtOnce) {
  ManualClock clock;
  std::ostringstream out;
  Progress p(clock, out, true, "q");
  p.update(1);
  p.clear();
  EXPECT_EQ(out.str().substr(out.str().size() - 4), "\r\x1b[K");
  p.update(2, "x");  // no time passed, but the line was erased: drawn again
  EXPECT_NE(out.str().find("x\x1b[K"), std::string::npos);
  p.finish();
  const size_t after_finish = out.str().size();
  p.update(3, "late");
  EXPECT_EQ(out.str().size(), after_finish);  // nothing after finish
}

TEST(Progress, SilentWhenNotATerminal) {
  ManualClock clock;
  std::ostringstream out;
  {
    Progress p(clock, out, false, "quantize", Progress::Unit::kBytes);
    p.set_total(100);
    for (int i = 0; i <= 100; ++i) {
      clock.advance(1000);
      p.update(i, "tensor");
    }
    p.clear();
    p.finish();
  }
  EXPECT_EQ(out.str(), "");
}

TEST(Progress, DestructionErasesADrawnLine) {
  ManualClock clock;
  std::ostringstream out;
  { Progress(clock, out, true, "q").update(1); }
  EXPECT_EQ(out.str().substr(out.str().size() - 4), "\r\x1b[K");
}

}  // namespace
}  // namespace hangar
