// Tests for the event bus: fan-out in order, bounded buffers that drop the oldest, shutdown.
#include "manager/event_bus.h"

#include <gtest/gtest.h>

#include <thread>

#include "manager/test_support.h"

namespace hangar::manager {
namespace {

using namespace std::chrono_literals;
using testing::FakeWallClock;

TEST(EventBus, EverySubscriberGetsEveryEventInOrderWithSeqAndTime) {
  FakeWallClock wall(1'700'000'000'000);
  EventBus bus(wall);
  auto one = bus.subscribe();
  auto two = bus.subscribe();
  bus.publish(ModelEvent(ModelEvent::kLoading, "a").with("progress", 0.5));
  wall.advance(7);
  bus.publish(ModelEvent(ModelEvent::kEvicted, "a").with("reason", std::string("policy")));
  for (auto& sub : {one, two}) {
    auto first = sub->next(0ms);
    auto second = sub->next(0ms);
    ASSERT_TRUE(first && second);
    EXPECT_EQ(first->type, "loading");
    EXPECT_EQ(first->model, "a");
    EXPECT_EQ(std::get<double>(*first->find("progress")), 0.5);
    EXPECT_EQ(first->seq, 1u);
    EXPECT_EQ(first->time_ms, 1'700'000'000'000);
    EXPECT_EQ(second->type, "evicted");
    EXPECT_EQ(std::get<std::string>(*second->find("reason")), "policy");
    EXPECT_EQ(second->seq, 2u);
    EXPECT_EQ(second->time_ms, 1'700'000'000'007);
    EXPECT_FALSE(sub->next(0ms).has_value());
  }
}

TEST(EventBus, ASlowSubscriberLosesTheOldestAndIsToldHowMany) {
  FakeWallClock wall;
  EventBus bus(wall, /*capacity_per_subscriber=*/3);
  auto slow = bus.subscribe();
  for (int i = 0; i < 10; ++i) bus.publish(ModelEvent(ModelEvent::kLoaded, "m" + std::to_string(i)));
  EXPECT_EQ(slow->take_dropped(), 7u);
  EXPECT_EQ(slow->take_dropped(), 0u);
  EXPECT_EQ(slow->next(0ms)->model, "m7");
  EXPECT_EQ(slow->next(0ms)->model, "m8");
  EXPECT_EQ(slow->next(0ms)->model, "m9");
  EXPECT_EQ(bus.published(), 10u);
}

TEST(EventBus, GoneSubscribersAreForgottenAndCloseWakesReaders) {
  FakeWallClock wall;
  EventBus bus(wall);
  {
    auto gone = bus.subscribe();
    EXPECT_EQ(bus.subscribers(), 1u);
  }
  EXPECT_EQ(bus.subscribers(), 0u);
  auto reader = bus.subscribe();
  std::thread t([&] { EXPECT_FALSE(reader->next(std::chrono::hours(1)).has_value()); });
  bus.close_all();  // without it the reader would wait an hour
  t.join();
  EXPECT_TRUE(reader->closed());
  auto late = bus.subscribe();
  EXPECT_TRUE(late->closed());
}

}  // namespace
}  // namespace hangar::manager
