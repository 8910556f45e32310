// ModelCache: explicit unload, pins, keep-alive ticks, the record of unloads, and stats.
#include <algorithm>
#include <map>

#include "base/log.h"
#include "manager/model_cache_entry.h"

namespace hangar::manager {
namespace {

constexpr size_t kRecentEvictions = 32;

}  // namespace

Status ModelCache::unload(const std::string& id, EvictionReason reason) {
  CacheLock guard(mu_, dropped_);
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    if (!registry_.get(id)) return Error("unknown model '" + id + "'");
    return Status::Ok();
  }
  Entry& e = *it->second;
  if (e.state == ModelState::kUnloaded) return Status::Ok();
  if (e.state == ModelState::kLoading) return Error("model '" + id + "' is loading; try again");
  if (e.moving != Entry::Move::kNone)
    return Error("model '" + id + "' is being copied between GPU and host memory; try again");
  if (e.in_flight > 0) {
    return Error("model '" + id + "' has " + std::to_string(e.in_flight) +
                 " requests in flight; it is unloaded only when idle");
  }
  if (e.pinned) return Error("model '" + id + "' is pinned; unpin it first");
  unload_entry_locked(id, e, reason, reason == EvictionReason::kManual ? "on request" : "");
  log_info("unloaded model '" + id + "' (" + eviction_reason_name(reason) + ")");
  schedule_locked();
  return Status::Ok();
}

std::vector<std::string> ModelCache::unload_for_settings(const std::vector<std::string>& ids) {
  // Outside the lock (the plan may read a header): what the next load will count.
  std::vector<std::optional<AdmissionFigure>> figures;
  for (const std::string& id : ids) {
    Result<AdmissionFigure> fig = admission(id);
    figures.push_back(fig.ok() ? std::optional<AdmissionFigure>(std::move(fig).value()) : std::nullopt);
  }
  CacheLock guard(mu_, dropped_);
  std::vector<std::string> unloaded;
  for (size_t i = 0; i < ids.size(); ++i) {
    auto it = entries_.find(ids[i]);
    if (it == entries_.end()) continue;
    Entry& e = *it->second;
    if (e.state == ModelState::kUnloaded) {
      if (figures[i] && !e.load_pending) e.figure = *figures[i];
      continue;
    }
    if (e.state == ModelState::kLoaded && e.in_flight == 0 && e.moving == Entry::Move::kNone) {
      unload_entry_locked(ids[i], e, EvictionReason::kSettings, "its engine settings changed");
      if (figures[i]) e.figure = *figures[i];
      log_info("unloaded model '" + ids[i] + "' (its engine settings changed)");
      unloaded.push_back(ids[i]);
    } else {
      // Busy or loading: it goes when its last request ends (release()).
      e.stale = true;
      if (figures[i]) e.figure = *figures[i];
      log_info("model '" + ids[i] + "' reloads when its " + std::to_string(e.in_flight) +
               " requests end: its engine settings changed");
    }
  }
  schedule_locked();
  return unloaded;
}

Status ModelCache::pin(const std::string& id, bool persist) {
  std::optional<ModelRecord> rec = registry_.get(id);
  if (!rec || !rec->present) return Error("unknown model '" + id + "'");
  if (persist) HANGAR_TRY(registry_.set_pinned(id, true));  // written through: survives a restart
  CacheLock guard(mu_, dropped_);
  Entry& e = entry_locked(id, *rec);
  e.pinned = true;
  e.expires_at_ms = -1;
  schedule_locked();  // a pinned model no longer drains
  return Status::Ok();
}

Status ModelCache::unpin(const std::string& id, bool persist) {
  if (persist) {
    if (registry_.get(id)) HANGAR_TRY(registry_.set_pinned(id, false));
  } else {
    const std::vector<std::string> pinned = registry_.pinned();
    if (std::binary_search(pinned.begin(), pinned.end(), id)) return Status::Ok();  // the user's pin
  }
  CacheLock guard(mu_, dropped_);
  auto it = entries_.find(id);
  if (it == entries_.end() || !it->second->pinned) {
    if (!registry_.get(id)) return Error("unknown model '" + id + "'");
    return Status::Ok();
  }
  Entry& e = *it->second;
  e.pinned = false;
  if (e.state == ModelState::kLoaded && e.in_flight == 0) {
    // Idle from now on: the default keep-alive starts (0 lets it go at the next tick).
    const int64_t keep = default_keep_alive(id);
    e.expires_at_ms = keep < 0 ? -1 : clock_.now_ms() + keep;
  }
  schedule_locked();  // its memory may be what a waiting model needs
  return Status::Ok();
}

int ModelCache::tick() {
  CacheLock guard(mu_, dropped_);
  const int64_t now = clock_.now_ms();
  int n = 0;
  for (auto& [id, ep] : entries_) {
    Entry& e = *ep;
    (void)requests_per_min_locked(e, now);  // prunes old request times
    if (e.state != ModelState::kLoaded || e.in_flight > 0 || e.pinned || e.moving != Entry::Move::kNone) continue;
    if (e.expires_at_ms < 0 || e.expires_at_ms > now) continue;
    unload_entry_locked(id, e, EvictionReason::kKeepAlive, "keep-alive expired");
    ++n;
    log_info("unloaded model '" + id + "' (keep-alive expired)");
  }
  schedule_locked();  // also wakes waiters, so those past their deadline give up
  return n;
}

void ModelCache::unload_entry_locked(const std::string& id, Entry& e, EvictionReason reason,
                                     const std::string& detail) {
  HANGAR_ASSERT(e.state == ModelState::kLoaded && e.in_flight == 0 && e.moving == Entry::Move::kNone);
  const uint64_t bytes = e.bytes;
  const ModelTier tier = e.model->tier();
  dropped_.push_back(std::move(e.model));
  e.model.reset();
  e.state = ModelState::kUnloaded;
  e.bytes = 0;
  e.gpu_bytes = 0;
  e.gpu_home = 0;
  e.demoted = false;
  e.expires_at_ms = -1;
  e.draining = false;
  e.stale = false;
  e.last_eviction = eviction_reason_name(reason);
  counters_.unloads[static_cast<int>(reason)] += 1;
  recent_evictions_.push_back({id, reason, bytes, clock_.now_ms(), detail});
  if (recent_evictions_.size() > kRecentEvictions) recent_evictions_.pop_front();
  ModelEvent ev(ModelEvent::kEvicted, id);
  ev.with("reason", std::string(eviction_reason_name(reason))).with("bytes", static_cast<int64_t>(bytes));
  ev.with("tier", std::string(model_tier_name(tier)));  // where it was
  if (!detail.empty()) ev.with("detail", detail);
  publish(std::move(ev));
}

void ModelCache::publish(ModelEvent ev) {
  if (events_ != nullptr) events_->publish(std::move(ev));
}

uint64_t ModelCache::used_bytes_locked() const {
  uint64_t used = 0;
  for (const auto& [id, e] : entries_) used += e->bytes + e->reserved;
  return used;
}

int ModelCache::resident_count_locked() const {
  int n = 0;
  for (const auto& [id, e] : entries_) n += e->state != ModelState::kUnloaded ? 1 : 0;
  return n;
}

double ModelCache::requests_per_min_locked(Entry& e, int64_t now) {
  while (!e.recent.empty() && e.recent.front() <= now - options_.rate_window_ms) e.recent.pop_front();
  return static_cast<double>(e.recent.size()) * 60000.0 /
         static_cast<double>(std::max<int64_t>(options_.rate_window_ms, 1));
}

bool ModelCache::is_loaded(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  return it != entries_.end() && it->second->state == ModelState::kLoaded;
}

std::vector<std::pair<std::string, std::shared_ptr<LoadedModel>>> ModelCache::loaded_models() const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, std::shared_ptr<LoadedModel>>> out;
  for (const auto& [id, e] : entries_)
    if (e->state == ModelState::kLoaded && e->model) out.emplace_back(id, e->model);
  return out;
}

ModelStatus ModelCache::status_locked(const std::string& id, const Entry& e, int64_t now) const {
  ModelStatus s;
  s.id = id;
  s.state = e.state;
  // What the budgets count for it: reservations while it loads or moves between the tiers.
  s.bytes = e.bytes + e.reserved;
  s.gpu_bytes = e.gpu_bytes + e.gpu_reserved;
  s.tier = e.state != ModelState::kLoaded ? ModelTier::kDisk : e.model->tier();
  s.pinned = e.pinned;
  s.in_flight = e.in_flight;
  s.waiting = static_cast<int>(e.queue.size());
  s.draining = e.draining;
  s.reload_pending = e.stale;
  s.priority = e.priority;
  s.loaded_at_ms = e.loaded_at_ms;
  s.last_used_ms = e.last_used_ms;
  s.expires_in_ms = e.expires_at_ms < 0 ? -1 : std::max<int64_t>(e.expires_at_ms - now, 0);
  s.last_load_ms = e.last_load_ms;
  s.last_error = e.last_error;
  s.last_eviction = e.last_eviction;
  s.hits = e.hits;
  s.misses = e.misses;
  return s;
}

std::optional<ModelStatus> ModelCache::status(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return std::nullopt;
  return status_locked(id, *it->second, clock_.now_ms());
}

CacheStats ModelCache::stats() const {
  std::lock_guard lock(mu_);
  CacheStats s = counters_;
  s.bytes_used = used_bytes_locked();
  s.bytes_budget = budget_;
  s.gpu_bytes_used = gpu_used_locked();
  s.gpu_bytes_budget = options_.gpu_budget_bytes;
  s.gpu_budget_reason = options_.gpu_budget_reason;
  s.budget_reason = budget_reason_;
  s.loaded = resident_count_locked();
  s.max_loaded = options_.max_loaded;
  const int64_t now = clock_.now_ms();
  std::map<std::string, const Entry*> sorted;
  for (const auto& [id, e] : entries_) sorted[id] = e.get();
  for (const auto& [id, e] : sorted) {
    s.models.push_back(status_locked(id, *e, now));
    s.waiting += static_cast<int>(e->queue.size());
    s.hits += e->hits;  // entries are never dropped: the per-model counts sum to the cache's
    s.misses += e->misses;
  }
  s.recent_evictions.assign(recent_evictions_.begin(), recent_evictions_.end());
  return s;
}

}  // namespace hangar::manager
