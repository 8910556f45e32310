// EventBus: model state changes (queued, loading, loaded, evicted, failed, settings) fanned out
// to subscribers, each with a bounded buffer, so a slow reader never holds up the manager.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "base/clock.h"

namespace hangar::manager {

// One change of one model. `type` is one of the names below (the API writes each event as
// `data: {"type": ..., "model": ..., <fields>}`); fields keep the order they were added in.
struct ModelEvent {
  using Value = std::variant<int64_t, double, bool, std::string>;

  static constexpr const char* kQueued = "queued";    // a request waits (fields: reason, waiting)
  static constexpr const char* kLoading = "loading";  // progress 0..1, stage
  static constexpr const char* kLoaded = "loaded";    // bytes, load_ms, estimated_bytes
  static constexpr const char* kEvicted = "evicted";  // reason (eviction_reason_name), bytes
  // The GPU tier: moved to host memory to make room (gpu_bytes freed, host_bytes, detail), or
  // copied back to the GPU for a request (gpu_bytes, host_bytes, ms).
  static constexpr const char* kDemoted = "demoted";
  static constexpr const char* kPromoted = "promoted";
  static constexpr const char* kFailed = "failed";    // error
  // cause ("file" or "api"), reload (its engine sizes changed: a resident model is unloaded
  // when idle and the next request loads it under the new sizes)
  static constexpr const char* kSettings = "settings";

  std::string type;
  std::string model;
  std::vector<std::pair<std::string, Value>> fields;
  uint64_t seq = 0;     // set by publish(): 1, 2, ... in publication order
  int64_t time_ms = 0;  // set by publish(): the bus's wall clock

  ModelEvent() = default;
  ModelEvent(std::string t, std::string m) : type(std::move(t)), model(std::move(m)) {}
  // Appends a field; returns *this so fields chain.
  ModelEvent& with(std::string key, Value value) {
    fields.emplace_back(std::move(key), std::move(value));
    return *this;
  }
  // The field's value, or null when absent (tests and the API).
  const Value* find(const std::string& key) const;
};

// One reader's queue. When it is full, the oldest event is dropped and counted, so the reader
// learns that it missed some (dropped()). Thread-safe.
class EventSubscription {
 public:
  explicit EventSubscription(size_t capacity) : capacity_(capacity) {}

  // The next event, waiting up to `timeout` (real time) for one; nullopt on timeout or once
  // closed and drained.
  std::optional<ModelEvent> next(std::chrono::milliseconds timeout);
  // Events dropped since the last call (resets the count).
  uint64_t take_dropped();
  // Wakes a waiting next(); later events are not delivered.
  void close();
  bool closed() const;

 private:
  friend class EventBus;
  void push(const ModelEvent& ev);

  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<ModelEvent> events_;
  uint64_t dropped_ = 0;
  bool closed_ = false;
};

// Publishing takes a short lock per subscriber and never waits for a reader. Subscriptions
// end when their last shared_ptr goes (the bus keeps weak references) or at close_all().
// Thread-safe; the clock must outlive the bus.
class EventBus {
 public:
  explicit EventBus(const WallClock& wall_clock, size_t capacity_per_subscriber = 1024)
      : clock_(wall_clock), capacity_(capacity_per_subscriber) {}

  void publish(ModelEvent ev);
  std::shared_ptr<EventSubscription> subscribe();
  // Closes every subscription (shutdown): readers wake and see the end.
  void close_all();
  size_t subscribers() const;
  uint64_t published() const;

 private:
  const WallClock& clock_;
  const size_t capacity_;
  mutable std::mutex mu_;
  std::vector<std::weak_ptr<EventSubscription>> subs_;
  uint64_t seq_ = 0;
  bool closed_ = false;
};

}  // namespace hangar::manager
