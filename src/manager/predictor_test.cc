// Tests for the predictor: transitions, calendar and recency each rank the right model; hints.
#include "manager/predictor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>

namespace hangar::manager {
namespace {

using Strings = std::vector<std::string>;
constexpr int64_t kMin = 60'000, kHour = 60 * kMin, kDay = 24 * kHour;
// 2023-11-13 00:00 UTC, a Monday.
constexpr int64_t kMonday = 1'699'833'600'000;

std::string top(const std::vector<Prediction>& ps) {
  return std::max_element(ps.begin(), ps.end(),
                          [](const Prediction& a, const Prediction& b) { return a.probability < b.probability; })
      ->id;
}

TEST(PredictorTest, LearnsWhichModelFollowsWhich) {
  Predictor p;
  std::mt19937 rng(7);
  int64_t t = kMonday + 9 * kHour;
  // Sessions: chat is followed by coder, embed by chat; plus noise that is not.
  const Strings models = {"chat", "coder", "embed", "vision"};
  for (int s = 0; s < 200; ++s) {
    const bool a = rng() % 2;
    p.observe(a ? "chat" : "embed", t);
    t += 20'000;
    p.observe(a ? "coder" : "chat", t);
    t += 20 * kMin;  // a new session
    p.observe(models[rng() % 4], t);
    t += 20 * kMin;
  }
  p.observe("chat", t);
  auto after_chat = p.predict(models, t + 5'000);
  EXPECT_EQ(top(after_chat), "coder");
  EXPECT_NE(after_chat[1].why.find("follows 'chat'"), std::string::npos) << after_chat[1].why;
  p.observe("embed", t + 30 * kMin);
  EXPECT_EQ(top(p.predict(models, t + 30 * kMin + 5'000)), "chat");
  EXPECT_GT(p.predict(models, t + 30 * kMin + 5'000)[0].transition, 0.5);
  // Outside the session window the transition no longer counts.
  EXPECT_EQ(p.predict(models, t + 41 * kMin)[0].transition, 0.0);
}

TEST(PredictorTest, LearnsTheDailyCycle) {
  Predictor p;
  const Strings models = {"morning", "evening"};
  for (int day = 0; day < 14; ++day) {
    for (int i = 0; i < 10; ++i) p.observe("morning", kMonday + day * kDay + 8 * kHour + i * 3 * kMin);
    for (int i = 0; i < 10; ++i) p.observe("evening", kMonday + day * kDay + 20 * kHour + i * 3 * kMin);
  }
  // Two days later, long after the last request (no session, recency faded).
  const int64_t later = kMonday + 16 * kDay;
  EXPECT_EQ(top(p.predict(models, later + 8 * kHour + 10 * kMin)), "morning");
  EXPECT_EQ(top(p.predict(models, later + 20 * kHour + 10 * kMin)), "evening");
  const auto quiet = p.predict(models, later + 3 * kHour);  // nobody asks at 3 am
  const auto busy = p.predict(models, later + 8 * kHour + 10 * kMin);
  EXPECT_LT(quiet[0].probability, busy[0].probability);
  EXPECT_NE(busy[0].why.find("at this hour of day"), std::string::npos) << busy[0].why;
}

TEST(PredictorTest, RecentUseRaisesAModelAndFades) {
  Predictor p;
  const Strings models = {"a", "b", "c"};
  for (int i = 0; i < 30; ++i) p.observe(i % 3 == 0 ? "a" : i % 3 == 1 ? "b" : "c", kMonday + i * kMin);
  int64_t t = kMonday + 30 * kMin;
  for (int i = 0; i < 8; ++i) p.observe("c", t + i * 20'000);
  t += 8 * 20'000 + 11 * kMin;  // past the session window: recency and calendar only
  auto ps = p.predict(models, t);
  EXPECT_EQ(top(ps), "c");
  EXPECT_GT(ps[2].recency, ps[0].recency);
  // Hours later the recent rate has decayed: the probability falls.
  EXPECT_LT(p.predict(models, t + 3 * kHour)[2].probability, ps[2].probability);
}

TEST(PredictorTest, AHintHoldsForAMinuteAndResetForgetsEverything) {
  Predictor p;
  p.observe("a", kMonday);
  p.hint("b", kMonday + kMin);
  auto ps = p.predict({"a", "b"}, kMonday + kMin + 1000);
  EXPECT_TRUE(ps[1].hinted);
  EXPECT_GE(ps[1].probability, 0.9);
  EXPECT_FALSE(p.predict({"a", "b"}, kMonday + 3 * kMin)[1].hinted);
  p.reset();
  EXPECT_EQ(p.events(), 0);
  EXPECT_EQ(p.predict({"a", "b"}, kMonday + 3 * kMin)[0].why.rfind("no history yet", 0), 0u);
}

}  // namespace
}  // namespace hangar::manager
