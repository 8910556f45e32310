// ModelCache: explicit unload, pins, keep-alive ticks, pressure unloads and stats.
#include <algorithm>
#include <map>

#include "base/log.h"
#include "manager/model_cache.h"

namespace hangar::manager {

Status ModelCache::unload(const std::string& id) {
  std::vector<std::shared_ptr<LoadedModel>> dropped;
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) {
    if (!registry_.get(id)) return Error("unknown model '" + id + "'");
    return Status::Ok();
  }
  Entry& e = *it->second;
  if (e.state == ModelState::kUnloaded) return Status::Ok();
  if (e.state == ModelState::kLoading) return Error("model '" + id + "' is loading; try again");
  if (e.in_flight > 0) {
    return Error("model '" + id + "' has " + std::to_string(e.in_flight) +
                 " requests in flight; it is unloaded only when idle");
  }
  if (e.pinned) return Error("model '" + id + "' is pinned; unpin it first");
  unload_entry_locked(e, &dropped);
  counters_.manual_unloads += 1;
  log_info("unloaded model '" + id + "' on request");
  return Status::Ok();
}

Status ModelCache::pin(const std::string& id) {
  std::optional<ModelRecord> rec = registry_.get(id);
  if (!rec || !rec->present) return Error("unknown model '" + id + "'");
  std::lock_guard lock(mu_);
  Entry& e = entry_locked(id, *rec);
  e.pinned = true;
  e.expires_at_ms = -1;
  return Status::Ok();
}

Status ModelCache::unpin(const std::string& id) {
  std::lock_guard lock(mu_);
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
  return Status::Ok();
}

int ModelCache::tick() {
  std::vector<std::shared_ptr<LoadedModel>> dropped;
  std::lock_guard lock(mu_);
  const int64_t now = clock_.now_ms();
  int n = 0;
  for (auto& [id, ep] : entries_) {
    Entry& e = *ep;
    (void)requests_per_min_locked(e, now);  // prunes old request times
    if (e.state != ModelState::kLoaded || e.in_flight > 0 || e.pinned) continue;
    if (e.expires_at_ms < 0 || e.expires_at_ms > now) continue;
    unload_entry_locked(e, &dropped);
    counters_.expirations += 1;
    ++n;
    log_info("unloaded model '" + id + "' (keep-alive expired)");
  }
  return n;
}

uint64_t ModelCache::unload_for_pressure(uint64_t bytes, std::vector<std::string>* unloaded) {
  std::vector<std::shared_ptr<LoadedModel>> dropped;
  std::lock_guard lock(mu_);
  return evict_idle_locked(bytes, "", &counters_.pressure_unloads, &dropped, unloaded);
}

Result<uint64_t> ModelCache::estimate_bytes(const std::string& id) {
  std::optional<ModelRecord> rec = registry_.get(id);
  if (!rec || !rec->present) return Error("unknown model '" + id + "'");
  return loader_.estimate_bytes(*rec, options_.ctx);
}

bool ModelCache::fits_without_eviction(uint64_t bytes, int models) const {
  std::lock_guard lock(mu_);
  const uint64_t budget = options_.budget_bytes;
  return (budget == 0 || used_bytes_locked() + bytes <= budget) &&
         (options_.max_loaded == 0 || resident_count_locked() + models <= options_.max_loaded);
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
  s.bytes = e.state == ModelState::kLoading ? e.reserved : e.bytes;
  s.pinned = e.pinned;
  s.in_flight = e.in_flight;
  s.loaded_at_ms = e.loaded_at_ms;
  s.last_used_ms = e.last_used_ms;
  s.expires_in_ms = e.expires_at_ms < 0 ? -1 : std::max<int64_t>(e.expires_at_ms - now, 0);
  s.last_load_ms = e.last_load_ms;
  s.last_error = e.last_load_ok ? "" : e.last_error;
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
  s.bytes_budget = options_.budget_bytes;
  s.loaded = resident_count_locked();
  s.max_loaded = options_.max_loaded;
  const int64_t now = clock_.now_ms();
  std::map<std::string, const Entry*> sorted;
  for (const auto& [id, e] : entries_) sorted[id] = e.get();
  for (const auto& [id, e] : sorted) s.models.push_back(status_locked(id, *e, now));
  return s;
}

}  // namespace hangar::manager
