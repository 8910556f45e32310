// EventBus: fan-out of model events with bounded per-subscriber buffers.
#include "manager/event_bus.h"

#include <algorithm>

namespace hangar::manager {

const ModelEvent::Value* ModelEvent::find(const std::string& key) const {
  for (const auto& [k, v] : fields)
    if (k == key) return &v;
  return nullptr;
}

void EventSubscription::push(const ModelEvent& ev) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    if (events_.size() >= capacity_) {
      events_.pop_front();
      dropped_ += 1;
    }
    events_.push_back(ev);
  }
  cv_.notify_one();
}

std::optional<ModelEvent> EventSubscription::next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !events_.empty() || closed_; });
  if (events_.empty()) return std::nullopt;
  ModelEvent ev = std::move(events_.front());
  events_.pop_front();
  return ev;
}

uint64_t EventSubscription::take_dropped() {
  std::lock_guard lock(mu_);
  return std::exchange(dropped_, 0);
}

void EventSubscription::close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

bool EventSubscription::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

void EventBus::publish(ModelEvent ev) {
  std::vector<std::shared_ptr<EventSubscription>> live;
  {
    std::lock_guard lock(mu_);
    ev.seq = ++seq_;
    ev.time_ms = clock_.now_unix_ms();
    if (closed_) return;
    // Drop the subscriptions whose readers went away.
    subs_.erase(std::remove_if(subs_.begin(), subs_.end(), [](const auto& w) { return w.expired(); }),
                subs_.end());
    live.reserve(subs_.size());
    for (const auto& w : subs_)
      if (auto s = w.lock()) live.push_back(std::move(s));
    // Pushed under the bus lock so that every reader sees events in seq order.
    for (const auto& s : live) s->push(ev);
  }
}

std::shared_ptr<EventSubscription> EventBus::subscribe() {
  auto sub = std::make_shared<EventSubscription>(capacity_);
  std::lock_guard lock(mu_);
  if (closed_) sub->close();
  else subs_.push_back(sub);
  return sub;
}

void EventBus::close_all() {
  std::vector<std::shared_ptr<EventSubscription>> live;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    for (const auto& w : subs_)
      if (auto s = w.lock()) live.push_back(std::move(s));
    subs_.clear();
  }
  for (const auto& s : live) s->close();
}

size_t EventBus::subscribers() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& w : subs_) n += w.expired() ? 0 : 1;
  return n;
}

uint64_t EventBus::published() const {
  std::lock_guard lock(mu_);
  return seq_;
}

}  // namespace hangar::manager
