// ModelCache: who gets memory next. One pass over the waiting models decides loads, drains and
// grants; it runs after every change that can free memory or add a waiter.
#include <algorithm>
#include <set>

#include "base/log.h"
#include "manager/model_cache_entry.h"
#include "manager/units.h"

namespace hangar::manager {
namespace {

// The state after `freed` bytes of `removed` models go and `need` bytes of one model come.
void carry_out(FitRequest& state, uint64_t need, uint64_t freed, int removed) {
  state.used_bytes = state.used_bytes + need > freed ? state.used_bytes + need - freed : 0;
  state.resident += 1 - removed;
}

// The state after a change carried out at once (demotions, host evictions, a promotion).
void shift(FitRequest& state, int64_t bytes, int models) {
  const int64_t used = static_cast<int64_t>(state.used_bytes) + bytes;
  state.used_bytes = used > 0 ? static_cast<uint64_t>(used) : 0;
  state.resident += models;
}

}  // namespace

FitRequest ModelCache::fit_request_locked(uint64_t needed, int models) const {
  FitRequest r;
  r.needed_bytes = needed;
  r.models = models;
  r.budget_bytes = budget_;
  r.max_loaded = options_.max_loaded;
  r.used_bytes = used_bytes_locked();
  r.resident = resident_count_locked();
  return r;
}

std::vector<FitCandidate> ModelCache::candidates_locked(bool with_busy, int max_priority, const std::string& except,
                                                        std::vector<std::string>* ids) {
  return tier_candidates_locked(/*gpu=*/false, with_busy, max_priority, except, ids);
}

// The models that could make room in one tier, in the facts the eviction policy ranks. Host:
// every loaded model but one whose queue waits on it moving; GPU: the models on the GPU, by
// their GPU bytes. Never pinned, never moving, busy ones only when asked for.
std::vector<FitCandidate> ModelCache::tier_candidates_locked(bool gpu, bool with_busy, int max_priority,
                                                             const std::string& except,
                                                             std::vector<std::string>* ids) {
  const int64_t now = clock_.now_ms();
  std::vector<FitCandidate> out;
  ids->clear();
  for (auto& [id, ep] : entries_) {
    Entry& x = *ep;
    if (id == except || x.state != ModelState::kLoaded || x.pinned) continue;
    if (x.moving != Entry::Move::kNone) continue;
    if (gpu ? (x.demoted || x.gpu_bytes == 0) : (x.demoted && !x.queue.empty())) continue;  // host: requests wait for it
    const bool busy = x.in_flight > 0;
    if (busy && (!with_busy || x.priority > max_priority)) continue;
    FitCandidate c;
    c.facts = {id, gpu ? x.gpu_bytes : x.bytes, x.last_used_ms, x.loaded_at_ms, x.access_count, x.last_load_ms,
               requests_per_min_locked(x, now)};
    c.busy = busy;
    out.push_back(std::move(c));
    ids->push_back(id);
  }
  return out;
}

void ModelCache::start_load_locked(const std::string& id, Entry& e, const std::vector<std::string>& victims,
                                   const std::string& for_whom) {
  for (const std::string& v : victims) {
    Entry& x = *entries_.at(v);
    log_info("evicting model '" + v + "' (" + eviction_policy_name(options_.policy) + ") to make room for '" + id + "'");
    unload_entry_locked(v, x, EvictionReason::kPolicy, "to make room for '" + id + "'");
  }
  e.state = ModelState::kLoading;
  e.reserved = e.figure.bytes;
  e.load_pending = true;
  e.admitted_for = for_whom;
}

void ModelCache::grant_waiters_locked(Entry& e) {
  for (Waiter* w : e.queue) {
    w->granted = true;
    e.in_flight += 1;
    leases_out_ += 1;
  }
  if (!e.queue.empty()) e.expires_at_ms = -1;
  e.queue.clear();
}

// Waiting models in rank order (priority, then the arrival of their oldest request). For each:
// if it fits now (evicting idle models) without taking what a model ranked before it has
// claimed, it is admitted; otherwise, if it would fit once some busy models finish, it claims
// them and the idle ones it needs, and those busy models drain once it has waited the swap
// window. A model that cannot fit even then claims nothing, so the ones after it still can.
// With a GPU tier a GPU model must fit the GPU budget as well (the same rule over GPU bytes,
// demoting idle models instead of evicting them), and a demoted model with waiters needs only
// GPU room: its promotion frees host memory.
void ModelCache::schedule_locked() {
  const int64_t now = clock_.now_ms();
  struct Want {
    const std::string* id;
    Entry* e;
  };
  std::vector<Want> wants;
  for (auto& [id, ep] : entries_) {
    const bool load = ep->state == ModelState::kUnloaded && !ep->load_pending;
    const bool promote = ep->state == ModelState::kLoaded && ep->demoted && !ep->stale &&
                         ep->moving == Entry::Move::kNone;
    if ((load || promote) && !ep->queue.empty()) wants.push_back({&id, ep.get()});
  }
  std::sort(wants.begin(), wants.end(), [](const Want& a, const Want& b) {
    if (a.e->priority != b.e->priority) return a.e->priority > b.e->priority;
    const Waiter& wa = *a.e->queue.front();
    const Waiter& wb = *b.e->queue.front();
    return wa.seq < wb.seq;
  });
  // The state once every claim ranked so far is carried out.
  FitRequest future = fit_request_locked(0, 0);
  FitRequest gpu_future = gpu_fit_request_locked(0);
  std::set<std::string> claimed, drain;
  for (const Want& want : wants) {
    const std::string& id = *want.id;
    Entry& e = *want.e;
    const bool swap_due = now - e.queue.front()->arrived_ms >= options_.swap_window_ms;
    std::vector<std::string> gpu_victims;
    if (e.state == ModelState::kLoaded) {
      // Demoted: room on the GPU is all it needs.
      if (!plan_gpu_locked(id, e, gpu_need_locked(e), 0, {}, gpu_future, claimed, drain, swap_due, &gpu_victims))
        continue;
      const int resident = resident_count_locked();
      const uint64_t host_before = used_bytes_locked();
      start_promotion_locked(id, e, gpu_victims);
      shift(future, static_cast<int64_t>(used_bytes_locked()) - static_cast<int64_t>(host_before),
            resident_count_locked() - resident);
      continue;  // the first of its waiters to wake runs the copy, then they take their leases
    }
    const uint64_t need = e.figure.bytes;
    std::vector<std::string> ids;
    std::vector<FitCandidate> all = candidates_locked(true, e.priority, id, &ids);
    std::vector<FitCandidate> idle;
    std::vector<std::string> idle_ids, free_ids;
    std::vector<FitCandidate> free;
    for (size_t i = 0; i < all.size(); ++i) {
      if (claimed.count(ids[i])) continue;
      free.push_back(all[i]);
      free_ids.push_back(ids[i]);
      if (!all[i].busy) {
        idle.push_back(all[i]);
        idle_ids.push_back(ids[i]);
      }
    }
    FitRequest real = fit_request_locked(need, 1);
    FitPlan now_plan = plan_fit(real, options_.policy, idle);
    FitRequest later = future;
    later.needed_bytes = need;
    later.models = 1;
    if (now_plan.fits && fits_after(later, now_plan.freed_bytes, static_cast<int>(now_plan.evict.size()))) {
      std::vector<std::string> victims;
      std::set<std::string> gone;
      uint64_t gone_gpu = 0;
      for (size_t i : now_plan.evict) {
        victims.push_back(idle_ids[i]);
        gone.insert(idle_ids[i]);
        gone_gpu += entries_.at(idle_ids[i])->gpu_bytes;
      }
      const uint64_t gpu_need = gpu_need_locked(e);
      if (!plan_gpu_locked(id, e, gpu_need, gone_gpu, gone, gpu_future, claimed, drain, swap_due, &gpu_victims))
        continue;  // the GPU has no room yet: it waits, holding no host memory
      carry_out(future, need, now_plan.freed_bytes, static_cast<int>(victims.size()));
      for (const std::string& v : victims) claimed.insert(v);
      start_load_locked(id, e, victims, "a request");
      e.gpu_reserved = gpu_need;
      const int resident = resident_count_locked();
      e.to_demote.clear();
      shift(future, vacate_gpu_locked(id, gpu_victims, &e.to_demote), resident_count_locked() - resident);
      continue;
    }
    FitPlan plan = plan_fit(later, options_.policy, free);
    if (!plan.fits) continue;
    carry_out(future, need, plan.freed_bytes, static_cast<int>(plan.evict.size() + plan.drain.size()));
    for (size_t i : plan.evict) claimed.insert(free_ids[i]);
    for (size_t i : plan.drain) claimed.insert(free_ids[i]);
    if (swap_due)
      for (size_t i : plan.drain) drain.insert(free_ids[i]);
  }
  for (auto& [id, ep] : entries_) {
    Entry& x = *ep;
    const bool d = x.state == ModelState::kLoaded && drain.count(id) > 0;
    if (d && !x.draining) log_debug("model '" + id + "' drains: a waiting model needs its memory");
    x.draining = d;
    if (x.state == ModelState::kLoaded && !x.draining && !x.stale && !x.demoted && x.moving == Entry::Move::kNone &&
        !x.queue.empty())
      grant_waiters_locked(x);
  }
  changed_.notify_all();
}

uint64_t ModelCache::shrink_to_budget_locked(EvictionReason reason, const std::string& except,
                                             const std::string& detail, std::vector<std::string>* unloaded) {
  std::vector<std::string> ids;
  const FitPlan plan = plan_fit(fit_request_locked(0, 0), options_.policy, candidates_locked(false, 0, except, &ids));
  uint64_t freed = 0;
  for (size_t i : plan.evict) {
    Entry& x = *entries_.at(ids[i]);
    freed += x.bytes;
    log_info("unloading model '" + ids[i] + "' (" + eviction_reason_name(reason) + "): " + detail);
    unload_entry_locked(ids[i], x, reason, detail);
    if (unloaded != nullptr) unloaded->push_back(ids[i]);
  }
  return freed;
}

uint64_t ModelCache::set_budget(uint64_t bytes, const std::string& reason, std::vector<std::string>* unloaded) {
  CacheLock guard(mu_, dropped_);
  budget_ = bytes;
  budget_reason_ = reason;
  uint64_t freed = 0;
  if (budget_ != 0 && used_bytes_locked() > budget_)
    freed = shrink_to_budget_locked(EvictionReason::kPressure, "", reason, unloaded);
  schedule_locked();  // a budget that grew lets waiting models in
  return freed;
}

uint64_t ModelCache::budget_bytes() const {
  std::lock_guard lock(mu_);
  return budget_;
}

uint64_t ModelCache::used_bytes() const {
  std::lock_guard lock(mu_);
  return used_bytes_locked();
}

Result<FitReport> ModelCache::fit(const std::string& id) {
  HANGAR_ASSIGN(AdmissionFigure figure, admission(id));
  const int priority = options_.priority_of ? options_.priority_of(id) : 0;
  CacheLock guard(mu_, dropped_);
  FitReport r;
  r.needed_bytes = figure.bytes;
  r.measured = figure.measured.has_value();
  r.budget_bytes = budget_;
  const uint64_t used = used_bytes_locked();
  r.free_bytes = budget_ > used ? budget_ - used : 0;
  auto it = entries_.find(id);
  if (it != entries_.end() && it->second->state != ModelState::kUnloaded) {
    r.loaded = it->second->state == ModelState::kLoaded;
    r.fits = true;
    r.needed_bytes = it->second->state == ModelState::kLoaded ? it->second->bytes : it->second->reserved;
    if (it->second->draining) r.reason = "resident but draining: new requests wait until a swap brings it back";
    if (it->second->demoted) {
      r.reason = "in host memory (demoted from the GPU): a request copies it back";
      if (it->second->moving == Entry::Move::kNone) gpu_fit_locked(id, gpu_need_locked(*it->second), priority, r);
    }
    if (it->second->stale) {
      // Its next load counts the new figure; until then the old one holds the memory.
      r.needed_bytes = figure.bytes;
      r.reason = "resident under settings that changed: new requests wait until its requests end and it reloads";
    }
    return r;
  }
  std::vector<std::string> ids;
  const FitPlan plan = plan_fit(fit_request_locked(figure.bytes, 1), options_.policy,
                                candidates_locked(true, priority, id, &ids));
  for (size_t i : plan.evict) r.evict.push_back(ids[i]);
  for (size_t i : plan.drain) r.drain.push_back(ids[i]);
  r.fits = plan.fits_now();
  if (!plan.fits) {
    r.evict.clear();
    r.drain.clear();
    r.reason = budget_ != 0 && figure.bytes > budget_
                   ? "larger than the whole budget (" + budget_reason_ + ")"
                   : "the budget is held by pinned, loading or higher-priority models";
  } else if (!plan.drain.empty()) {
    r.reason = "busy models must finish first: a request would wait in the queue";
  }
  if (r.fits) gpu_fit_locked(id, options_.gpu_budget_bytes ? figure.plan.gpu_estimate_bytes : 0, priority, r);
  return r;
}

bool ModelCache::fits_without_eviction(uint64_t bytes, int models) const {
  std::lock_guard lock(mu_);
  return fits_after(fit_request_locked(bytes, models), 0, 0);
}

Readiness ModelCache::readiness(const std::string& id) {
  Readiness r;
  // As acquire() checks, in its order, without recording an access or touching the entry.
  std::optional<ModelRecord> rec = registry_.get_with_header(id);
  if (Status st = check_record(id, rec, &r.kind); !st.ok()) {
    r.reason = st.error().message();
    return r;
  }
  const AdmissionFigure figure = admission(*rec);
  CacheLock guard(mu_, dropped_);
  auto it = entries_.find(id);
  const Entry* e = it == entries_.end() ? nullptr : it->second.get();
  if (e != nullptr) {
    r.state = e->state;
    r.in_flight = e->in_flight;
    r.waiting = static_cast<int>(e->queue.size());
    if (e->state == ModelState::kLoaded && !e->stale && !e->draining) {
      r.ready = true;
      return r;
    }
    if (r.waiting >= options_.max_queue) {
      r.kind = FailureKind::kQueueFull;
      r.reason = "model '" + id + "' has " + std::to_string(r.waiting) +
                 " requests waiting for memory, the most its queue holds (--queue-size)";
      return r;
    }
  }
  if (e == nullptr || (e->state == ModelState::kUnloaded && !e->load_pending)) {
    AcquireFailure f;
    Status st = never_fits_locked(id, figure, &f);
    if (st.ok()) st = never_fits_gpu_locked(id, options_.gpu_budget_bytes ? figure.plan.gpu_estimate_bytes : 0, &f);
    if (!st.ok()) {
      r.kind = f.kind;
      r.reason = st.error().message();
      return r;
    }
  }
  r.ready = true;
  return r;
}

}  // namespace hangar::manager
