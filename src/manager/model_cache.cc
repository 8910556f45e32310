// ModelCache: admission, eviction, leases and keep-alive.
#include "manager/model_cache.h"

#include <algorithm>
#include <map>

#include "base/log.h"
#include "manager/eviction.h"
#include "manager/integrity.h"
#include "manager/units.h"

namespace hangar::manager {


Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    cache_ = other.cache_;
    id_ = std::move(other.id_);
    model_ = std::move(other.model_);
    keep_alive_ms_ = other.keep_alive_ms_;
    unload_if_zero_ = other.unload_if_zero_;
    other.cache_ = nullptr;
    other.model_.reset();
  }
  return *this;
}

void Lease::release() {
  if (cache_ == nullptr) return;
  ModelCache* cache = cache_;
  cache_ = nullptr;
  model_.reset();
  cache->release(id_, keep_alive_ms_, unload_if_zero_);
}

ModelCache::ModelCache(Registry& registry, ModelLoader& loader, const Clock& clock,
                       CacheOptions options)
    : registry_(registry), loader_(loader), clock_(clock), options_(options) {}

ModelCache::~ModelCache() {
  std::lock_guard lock(mu_);
  HANGAR_ASSERT_MSG(leases_out_ == 0, "a Lease outlived its ModelCache");
}

Result<Lease> ModelCache::acquire(const std::string& id, const AcquireOptions& options,
                                  AcquireFailure* failure) {
  AcquireFailure local;
  AcquireFailure* f = failure != nullptr ? failure : &local;
  *f = AcquireFailure{};
  std::optional<ModelRecord> rec = registry_.get(id);
  if (!rec || !rec->present) {
    f->kind = FailureKind::kUnknownModel;
    return Error(rec ? "model '" + id + "' is no longer in the models dir"
                     : "unknown model '" + id + "'");
  }
  if (!rec->scan_error.empty()) {
    f->kind = FailureKind::kLoadFailed;
    return Error("model '" + id + "' cannot be loaded: " + rec->scan_error);
  }
  if (options.count_access) {
    Status st = registry_.record_access(id);
    if (!st.ok()) log_warn("cannot record access to '" + id + "': " + st.error().message());
  }
  const uint64_t estimate = loader_.estimate_bytes(*rec, options_.ctx);

  std::unique_lock lock(mu_);
  Entry& e = entry_locked(id, *rec);  // rec was read before this access was recorded
  const int64_t now = clock_.now_ms();
  if (options.count_access) {
    e.access_count += 1;
    e.recent.push_back(now);
  }
  bool counted = !options.count_access;
  for (;;) {
    if (e.state == ModelState::kLoaded) {
      if (!counted) counters_.hits += 1;
      return make_lease_locked(id, e, options);
    }
    if (!counted) counters_.misses += 1;
    counted = true;
    if (e.state == ModelState::kLoading) {
      // Someone else is loading it: wait for that load rather than loading twice.
      const uint64_t gen = e.generation;
      load_done_.wait(lock, [&] { return e.generation != gen; });
      if (!e.last_load_ok) {
        f->kind = e.last_failure;
        return Error(e.last_error);
      }
      continue;  // loaded (or, rarely, already evicted again: then load it ourselves)
    }
    return load_and_lease(id, *rec, estimate, lock, options, f);
  }
}

Result<Lease> ModelCache::load_and_lease(const std::string& id, const ModelRecord& rec,
                                         uint64_t estimate, std::unique_lock<std::mutex>& lock,
                                         const AcquireOptions& options, AcquireFailure* f) {
  Entry& e = *entries_.at(id);
  std::vector<std::shared_ptr<LoadedModel>> dropped;
  HANGAR_TRY(admit_locked(id, estimate, options.allow_evict, &dropped, f));
  e.state = ModelState::kLoading;
  e.reserved = estimate;
  lock.unlock();
  dropped.clear();  // evicted models are destroyed outside the lock

  const int64_t t0 = clock_.now_ms();
  FailureKind kind = FailureKind::kIntegrity;
  Result<std::shared_ptr<LoadedModel>> loaded = Error("not loaded");
  Status integrity = check_before_load(registry_, rec);
  if (integrity.ok()) {
    kind = FailureKind::kLoadFailed;
    loaded = loader_.load(rec);
    if (loaded.ok() && *loaded == nullptr) loaded = Error("model '" + id + "': loader returned no model");
  } else {
    loaded = integrity.error();
  }
  const int64_t now = clock_.now_ms();
  const int64_t load_ms = now - t0;

  lock.lock();
  e.reserved = 0;
  e.generation += 1;
  if (!loaded.ok()) {
    e.state = ModelState::kUnloaded;
    e.last_load_ok = false;
    e.last_error = loaded.error().message();
    e.last_failure = kind;
    counters_.load_failures += 1;
    f->kind = kind;
    load_done_.notify_all();
    log_warn("loading model '" + id + "' failed: " + e.last_error);
    return loaded.error();
  }
  e.state = ModelState::kLoaded;
  e.model = std::move(loaded).value();
  e.bytes = e.model->memory_bytes();
  e.loaded_at_ms = now;
  e.last_used_ms = now;
  e.last_load_ms = load_ms;
  e.last_load_ok = true;
  e.last_error.clear();
  counters_.loads += 1;
  counters_.total_load_ms += load_ms;
  counters_.last_load_ms = load_ms;
  // The lease is taken before the correction below, so the new model cannot be its victim.
  Lease lease = make_lease_locked(id, e, options);
  const uint64_t used = used_bytes_locked();
  if (options_.budget_bytes != 0 && used > options_.budget_bytes) {
    // The measurement exceeded the estimate: make room after the fact.
    uint64_t over = used - options_.budget_bytes;
    uint64_t freed = evict_idle_locked(over, id, &counters_.evictions, &dropped, nullptr);
    if (freed < over) {
      log_warn("model '" + id + "' measured " + format_bytes(e.bytes) + " (estimate " +
               format_bytes(estimate) + "); the cache is " + format_bytes(over - freed) +
               " over its budget and nothing idle is left to evict");
    }
  }
  load_done_.notify_all();
  lock.unlock();
  dropped.clear();
  log_info("loaded model '" + id + "' in " + std::to_string(load_ms) + " ms, " +
           format_bytes(e.bytes));
  Status st = registry_.record_load(id, load_ms);
  if (!st.ok()) log_warn("cannot record load of '" + id + "': " + st.error().message());
  return lease;
}

Status ModelCache::load(const std::string& id, const AcquireOptions& options,
                        AcquireFailure* failure) {
  HANGAR_ASSIGN(Lease lease, acquire(id, options, failure));
  lease.unload_if_zero_ = false;
  lease.release();
  return Status::Ok();
}

ModelCache::Entry& ModelCache::entry_locked(const std::string& id, const ModelRecord& rec) {
  auto [it, inserted] = entries_.try_emplace(id);
  if (inserted) {
    // The persisted history seeds LFU and the cost policy before this process saw a request.
    it->second = std::make_unique<Entry>();
    it->second->access_count = rec.access_count;
    it->second->last_load_ms = rec.last_load_ms;
  }
  return *it->second;
}

Lease ModelCache::make_lease_locked(const std::string& id, Entry& e,
                                    const AcquireOptions& options) {
  e.in_flight += 1;
  e.expires_at_ms = -1;
  leases_out_ += 1;
  Lease lease;
  lease.cache_ = this;
  lease.id_ = id;
  lease.model_ = e.model;
  lease.keep_alive_ms_ = options.keep_alive_ms;
  return lease;
}

void ModelCache::release(const std::string& id, std::optional<int64_t> keep_alive_ms,
                         bool unload_if_zero) {
  std::vector<std::shared_ptr<LoadedModel>> dropped;
  {
    std::lock_guard lock(mu_);
    Entry& e = *entries_.at(id);
    HANGAR_ASSERT(e.in_flight > 0 && leases_out_ > 0);
    e.in_flight -= 1;
    leases_out_ -= 1;
    const int64_t now = clock_.now_ms();
    e.last_used_ms = now;
    const int64_t keep = keep_alive_ms ? *keep_alive_ms : default_keep_alive(id);
    if (e.in_flight == 0 && !e.pinned) {
      if (keep < 0) {
        e.expires_at_ms = -1;
      } else if (keep == 0 && unload_if_zero) {
        unload_entry_locked(e, &dropped);
        counters_.expirations += 1;
        log_info("unloaded model '" + id + "' (keep-alive 0)");
      } else {
        e.expires_at_ms = now + keep;
      }
    }
  }
}

Status ModelCache::admit_locked(const std::string& id, uint64_t bytes, bool allow_evict,
                                std::vector<std::shared_ptr<LoadedModel>>* dropped,
                                AcquireFailure* f) {
  const uint64_t budget = options_.budget_bytes;
  const int max_loaded = options_.max_loaded;
  auto fits = [&](uint64_t used, int count) {
    return (budget == 0 || used + bytes <= budget) && (max_loaded == 0 || count + 1 <= max_loaded);
  };
  const uint64_t used = used_bytes_locked();
  const int count = resident_count_locked();
  if (fits(used, count)) return Status::Ok();

  const int64_t now = clock_.now_ms();
  std::vector<EvictionCandidate> candidates;
  std::vector<Entry*> entries;
  std::string blocked;  // models that cannot be evicted, for the error
  uint64_t unevictable = 0;
  std::map<std::string, Entry*> sorted;
  for (auto& [eid, ep] : entries_) sorted[eid] = ep.get();
  for (auto& [eid, ep] : sorted) {
    Entry& x = *ep;
    if (x.state == ModelState::kUnloaded) continue;
    const char* why = x.state == ModelState::kLoading ? "loading"
                      : x.in_flight > 0               ? "in flight"
                      : x.pinned                      ? "pinned"
                                                      : nullptr;
    if (why != nullptr) {
      uint64_t b = x.state == ModelState::kLoading ? x.reserved : x.bytes;
      unevictable += b;
      blocked += (blocked.empty() ? "" : ", ") + eid + " (" + why + ", " + std::to_string(b) +
                 " bytes)";
      continue;
    }
    candidates.push_back({eid, x.bytes, x.last_used_ms, x.loaded_at_ms, x.access_count,
                          x.last_load_ms, requests_per_min_locked(x, now)});
    entries.push_back(&x);
  }
  std::vector<size_t> victims;
  uint64_t u = used;
  int c = count;
  if (allow_evict) {
    for (size_t idx : eviction_order(options_.policy, candidates)) {
      if (fits(u, c)) break;
      victims.push_back(idx);
      u -= candidates[idx].bytes;
      c -= 1;
    }
  }
  if (!fits(u, c)) {
    *f = AcquireFailure{FailureKind::kInsufficientMemory, bytes, budget, used, unevictable};
    std::string msg = "cannot load model '" + id + "': ";
    if (budget != 0 && bytes > budget) {
      msg += "it needs an estimated " + std::to_string(bytes) +
             " bytes, more than the whole memory budget of " + std::to_string(budget) + " bytes";
    } else if (budget != 0 && u + bytes > budget) {
      msg += "it needs an estimated " + std::to_string(bytes) + " bytes; the budget is " +
             std::to_string(budget) + " bytes and " + std::to_string(used) + " are in use, " +
             (allow_evict ? std::to_string(unevictable) + " of them by models that cannot be evicted"
                          : std::string("and a preload does not evict"));
    } else {
      msg += "max-loaded is " + std::to_string(max_loaded) + " and " + std::to_string(count) +
             " models are resident" +
             (allow_evict ? std::string(", none of them evictable") : ", and a preload does not evict");
    }
    if (!blocked.empty()) msg += " (" + blocked + ")";
    return Error(msg);
  }
  for (size_t idx : victims) {
    log_info("evicting model '" + candidates[idx].id + "' (" +
             eviction_policy_name(options_.policy) + ") to make room for '" + id + "'");
    unload_entry_locked(*entries[idx], dropped);
    counters_.evictions += 1;
  }
  return Status::Ok();
}

uint64_t ModelCache::evict_idle_locked(uint64_t bytes, const std::string& except,
                                       int64_t* counter,
                                       std::vector<std::shared_ptr<LoadedModel>>* dropped,
                                       std::vector<std::string>* ids) {
  const int64_t now = clock_.now_ms();
  std::vector<EvictionCandidate> candidates;
  std::vector<Entry*> entries;
  for (auto& [eid, ep] : entries_) {
    Entry& x = *ep;
    if (eid == except || x.state != ModelState::kLoaded || x.in_flight > 0 || x.pinned) continue;
    candidates.push_back({eid, x.bytes, x.last_used_ms, x.loaded_at_ms, x.access_count,
                          x.last_load_ms, requests_per_min_locked(x, now)});
    entries.push_back(&x);
  }
  uint64_t freed = 0;
  for (size_t idx : eviction_order(options_.policy, candidates)) {
    if (freed >= bytes) break;
    freed += candidates[idx].bytes;
    unload_entry_locked(*entries[idx], dropped);
    *counter += 1;
    if (ids != nullptr) ids->push_back(candidates[idx].id);
  }
  return freed;
}

void ModelCache::unload_entry_locked(Entry& e, std::vector<std::shared_ptr<LoadedModel>>* dropped) {
  HANGAR_ASSERT(e.state == ModelState::kLoaded && e.in_flight == 0);
  dropped->push_back(std::move(e.model));
  e.model.reset();
  e.state = ModelState::kUnloaded;
  e.bytes = 0;
  e.expires_at_ms = -1;
}

int64_t ModelCache::default_keep_alive(const std::string& id) const {
  std::optional<int64_t> own = options_.keep_alive_for ? options_.keep_alive_for(id) : std::nullopt;
  return own.value_or(options_.keep_alive_ms);
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
  while (!e.recent.empty() && e.recent.front() <= now - options_.rate_window_ms) {
    e.recent.pop_front();
  }
  return static_cast<double>(e.recent.size()) * 60000.0 /
         static_cast<double>(std::max<int64_t>(options_.rate_window_ms, 1));
}

}  // namespace hangar::manager
