// ModelCache: the GPU tier. GPU models live under a GPU byte budget; an idle one that must make
// room is demoted to page-locked host memory (where the host budget counts it) rather than
// unloaded, and a request promotes it back with a copy over the bus, not a load.
#include <algorithm>
#include <set>

#include "base/log.h"
#include "manager/model_cache_entry.h"
#include "manager/units.h"

namespace hangar::manager {

uint64_t ModelCache::gpu_need_locked(const Entry& e) const {
  if (options_.gpu_budget_bytes == 0) return 0;
  if (e.state == ModelState::kLoaded) return e.demoted ? e.gpu_home : 0;
  return e.figure.plan.gpu_estimate_bytes;
}

uint64_t ModelCache::gpu_used_locked() const {
  uint64_t used = 0;
  for (const auto& [id, e] : entries_) used += e->gpu_bytes + e->gpu_reserved;
  return used;
}

uint64_t ModelCache::gpu_used_bytes() const {
  std::lock_guard lock(mu_);
  return gpu_used_locked();
}

FitRequest ModelCache::gpu_fit_request_locked(uint64_t needed) const {
  FitRequest r;
  r.needed_bytes = needed;
  r.models = 0;  // the GPU has no count cap
  r.budget_bytes = options_.gpu_budget_bytes;
  r.used_bytes = gpu_used_locked();
  return r;
}

std::vector<FitCandidate> ModelCache::gpu_candidates_locked(bool with_busy, int max_priority,
                                                            const std::string& except,
                                                            std::vector<std::string>* ids) {
  return tier_candidates_locked(/*gpu=*/true, with_busy, max_priority, except, ids);
}

bool ModelCache::plan_gpu_locked(const std::string& id, const Entry& e, uint64_t need, uint64_t gone_gpu,
                                 const std::set<std::string>& gone, FitRequest& gpu_future,
                                 std::set<std::string>& claimed, std::set<std::string>& drain, bool swap_due,
                                 std::vector<std::string>* victims) {
  victims->clear();
  if (need == 0) return true;
  std::vector<std::string> ids;
  const std::vector<FitCandidate> all = gpu_candidates_locked(true, e.priority, id, &ids);
  std::vector<FitCandidate> idle, free;
  std::vector<std::string> idle_ids, free_ids;
  for (size_t i = 0; i < all.size(); ++i) {
    if (claimed.count(ids[i]) || gone.count(ids[i])) continue;
    free.push_back(all[i]);
    free_ids.push_back(ids[i]);
    if (!all[i].busy) {
      idle.push_back(all[i]);
      idle_ids.push_back(ids[i]);
    }
  }
  // Models leaving the host for this load leave the GPU too.
  auto less_gone = [gone_gpu](FitRequest r) {
    r.used_bytes = r.used_bytes > gone_gpu ? r.used_bytes - gone_gpu : 0;
    return r;
  };
  const FitRequest real = less_gone(gpu_fit_request_locked(need));
  FitRequest later = less_gone(gpu_future);
  later.needed_bytes = need;
  later.models = 0;
  const FitPlan now_plan = plan_fit(real, options_.policy, idle);
  if (now_plan.fits && fits_after(later, now_plan.freed_bytes, 0)) {
    for (size_t i : now_plan.evict) {
      victims->push_back(idle_ids[i]);
      claimed.insert(idle_ids[i]);
    }
    gpu_future = later;
    gpu_future.used_bytes = later.used_bytes + need > now_plan.freed_bytes ? later.used_bytes + need - now_plan.freed_bytes : 0;
    return true;
  }
  // Busy GPU models hold the room: claim them (and the idle ones it needs); they drain, as
  // host models do, once it has waited the swap window.
  const FitPlan plan = plan_fit(later, options_.policy, free);
  if (!plan.fits) return false;
  gpu_future.used_bytes = later.used_bytes + need > plan.freed_bytes ? later.used_bytes + need - plan.freed_bytes : 0;
  for (size_t i : plan.evict) claimed.insert(free_ids[i]);
  for (size_t i : plan.drain) {
    claimed.insert(free_ids[i]);
    if (swap_due) drain.insert(free_ids[i]);
  }
  return false;
}

int64_t ModelCache::vacate_gpu_locked(const std::string& id, const std::vector<std::string>& victims,
                                      std::vector<std::string>* to_demote) {
  if (victims.empty()) return 0;
  const uint64_t before = used_bytes_locked();
  // The host once the victims' copies come in: idle host models (the victims among them, at
  // their demoted size) go by policy until it fits. When even that is not enough, the victims
  // go to disk instead: the host cannot take their copies.
  std::set<std::string> victim_set(victims.begin(), victims.end());
  std::vector<std::string> ids;
  std::vector<FitCandidate> host = candidates_locked(false, 0, id, &ids);
  uint64_t copies = 0;
  for (const std::string& v : victims) copies += entries_.at(v)->model->host_copy_bytes();
  for (size_t i = 0; i < ids.size(); ++i)
    if (victim_set.count(ids[i])) host[i].facts.bytes += entries_.at(ids[i])->model->host_copy_bytes();
  FitRequest req = fit_request_locked(copies, 0);
  req.max_loaded = 0;  // demoted models stay resident: the count does not change
  const FitPlan plan = plan_fit(req, options_.policy, host);
  std::set<std::string> unload;
  if (plan.fits) {
    for (size_t i : plan.evict) unload.insert(ids[i]);
  } else {
    unload = victim_set;
  }
  const std::string for_whom = "to make room on the GPU for '" + id + "'";
  for (const std::string& u : unload) {
    if (victim_set.count(u)) continue;
    log_info("evicting model '" + u + "' (" + eviction_policy_name(options_.policy) +
             ") to make room in host memory for models demoted from the GPU for '" + id + "'");
    unload_entry_locked(u, *entries_.at(u), EvictionReason::kPolicy,
                        "to make room in host memory for models demoted from the GPU for '" + id + "'");
  }
  for (const std::string& v : victims) {
    Entry& x = *entries_.at(v);
    if (unload.count(v)) {
      log_info("evicting model '" + v + "' " + for_whom + " (host memory cannot take its copy)");
      unload_entry_locked(v, x, EvictionReason::kPolicy, for_whom + " (host memory full)");
      continue;
    }
    // Its copy's host bytes are reserved now; its GPU bytes count until the copy is done.
    x.moving = Entry::Move::kDemoting;
    x.reserved = x.model->host_copy_bytes();
    x.draining = false;
    x.admitted_for = for_whom;
    to_demote->push_back(v);
  }
  return static_cast<int64_t>(used_bytes_locked()) - static_cast<int64_t>(before);
}

void ModelCache::run_demotions(std::vector<std::string> victims, std::unique_lock<std::mutex>& lock) {
  if (victims.empty()) return;
  for (const std::string& v : victims) {
    Entry& x = *entries_.at(v);
    HANGAR_ASSERT(x.moving == Entry::Move::kDemoting && x.in_flight == 0);
    const std::shared_ptr<LoadedModel> model = x.model;
    const uint64_t gpu = x.gpu_bytes;
    const std::string detail = x.admitted_for;
    lock.unlock();
    Status st = model->demote();
    lock.lock();
    x.moving = Entry::Move::kNone;
    x.reserved = 0;
    if (!st.ok()) {
      // It had to leave the GPU: it leaves memory altogether.
      log_warn("demoting model '" + v + "' failed (" + st.error().message() + "); unloading it");
      unload_entry_locked(v, x, EvictionReason::kPolicy, detail + " (demotion failed: " + st.error().message() + ")");
      continue;
    }
    x.demoted = true;
    x.gpu_home = gpu;
    refresh_bytes_locked(x);
    counters_.demotions += 1;
    log_info("demoted model '" + v + "' to host memory (" + format_bytes(gpu) + " of GPU memory freed) " + detail);
    publish(ModelEvent(ModelEvent::kDemoted, v)
                .with("gpu_bytes", static_cast<int64_t>(gpu))
                .with("host_bytes", static_cast<int64_t>(x.bytes))
                .with("detail", detail));
    if (x.stale) unload_entry_locked(v, x, EvictionReason::kSettings, "its engine settings changed");
  }
  schedule_locked();  // a demoted model's waiters now want it back
}

std::vector<std::string> ModelCache::shrink_gpu_locked(const std::string& except, const std::string& detail) {
  std::vector<std::string> to_demote;
  const uint64_t budget = options_.gpu_budget_bytes;
  if (budget == 0 || gpu_used_locked() <= budget) return to_demote;
  std::vector<std::string> ids, victims;
  const FitPlan plan = plan_fit(gpu_fit_request_locked(0), options_.policy, gpu_candidates_locked(false, 0, except, &ids));
  for (size_t i : plan.evict) victims.push_back(ids[i]);
  vacate_gpu_locked(except, victims, &to_demote);
  if (!plan.fits)
    log_warn("model " + detail + "; the GPU is " + format_bytes(gpu_used_locked() - budget) +
             " over its budget and no idle model is left to demote");
  return to_demote;
}

void ModelCache::start_promotion_locked(const std::string& id, Entry& e, const std::vector<std::string>& victims) {
  HANGAR_ASSERT(e.state == ModelState::kLoaded && e.demoted && e.moving == Entry::Move::kNone);
  e.to_demote.clear();
  vacate_gpu_locked(id, victims, &e.to_demote);
  e.moving = Entry::Move::kPromoting;
  e.gpu_reserved = e.gpu_home;
  e.promote_pending = true;
}

void ModelCache::run_promotion(const std::string& id, Entry& e, std::unique_lock<std::mutex>& lock) {
  HANGAR_ASSERT(e.moving == Entry::Move::kPromoting);
  run_demotions(std::move(e.to_demote), lock);
  e.to_demote.clear();
  std::vector<std::shared_ptr<LoadedModel>> doomed;
  doomed.swap(dropped_);
  const std::shared_ptr<LoadedModel> model = e.model;
  lock.unlock();
  doomed.clear();  // the models unloaded for this one leave memory before it comes back
  const int64_t t0 = clock_.now_ms();
  Status st = model->promote();
  const int64_t ms = clock_.now_ms() - t0;
  lock.lock();
  e.moving = Entry::Move::kNone;
  e.gpu_reserved = 0;
  if (!st.ok()) {
    counters_.promotion_failures += 1;
    const std::string error = "model '" + id + "': copying it back to the GPU failed: " + st.error().message();
    log_warn(error);
    // Its waiters share the failure; it stays in host memory, its copy intact.
    for (Waiter* w : e.queue) {
      w->failed = true;
      w->error = error;
      w->failure = FailureKind::kLoadFailed;
    }
    e.queue.clear();
    schedule_locked();
    return;
  }
  e.demoted = false;
  refresh_bytes_locked(e);
  counters_.promotions += 1;
  counters_.total_promote_ms += ms;
  publish(ModelEvent(ModelEvent::kPromoted, id)
              .with("gpu_bytes", static_cast<int64_t>(e.gpu_bytes))
              .with("host_bytes", static_cast<int64_t>(e.bytes))
              .with("ms", ms));
  log_info("promoted model '" + id + "' to the GPU in " + std::to_string(ms) + " ms");
  grant_waiters_locked(e);
  if (e.stale && e.in_flight == 0) unload_entry_locked(id, e, EvictionReason::kSettings, "its engine settings changed");
  std::vector<std::string> more = shrink_gpu_locked(id, "'" + id + "' took " + format_bytes(e.gpu_bytes) +
                                                              " of GPU memory back");
  schedule_locked();
  run_demotions(std::move(more), lock);
}

Status ModelCache::never_fits_gpu_locked(const std::string& id, uint64_t need, AcquireFailure* f) const {
  const uint64_t budget = options_.gpu_budget_bytes;
  if (budget == 0 || need == 0) return Status::Ok();
  uint64_t pinned_bytes = 0;
  std::vector<std::string> pinned;
  for (const auto& [other, x] : entries_) {
    const uint64_t held = x->gpu_bytes + x->gpu_reserved;
    if (other == id || !x->pinned || held == 0) continue;
    pinned_bytes += held;
    pinned.push_back(other);
  }
  if (need + pinned_bytes <= budget) return Status::Ok();
  std::sort(pinned.begin(), pinned.end());
  std::string names;
  for (const std::string& p : pinned) names += (names.empty() ? "" : ", ") + p;
  *f = AcquireFailure{FailureKind::kInsufficientMemory, need, budget, gpu_used_locked(), pinned_bytes, true};
  std::string msg = "cannot load model '" + id + "' onto the GPU: it needs " + std::to_string(need) + " bytes of GPU memory";
  if (need > budget) {
    msg += ", more than the whole GPU memory budget of " + std::to_string(budget) + " bytes (--gpu-memory-budget)";
  } else {
    msg += "; the GPU memory budget is " + std::to_string(budget) + " bytes and pinned models hold " +
           std::to_string(pinned_bytes) + " of them (" + names + ")";
  }
  return Error(msg);
}

void ModelCache::gpu_fit_locked(const std::string& id, uint64_t need, int priority, FitReport& r) {
  r.gpu_needed_bytes = need;
  if (need == 0 || options_.gpu_budget_bytes == 0 || !r.fits) return;
  std::vector<std::string> ids;
  std::vector<FitCandidate> all = gpu_candidates_locked(true, priority, id, &ids);
  FitRequest req = gpu_fit_request_locked(need);
  std::vector<FitCandidate> candidates;
  std::vector<std::string> candidate_ids;
  for (size_t i = 0; i < all.size(); ++i) {
    if (std::find(r.evict.begin(), r.evict.end(), ids[i]) != r.evict.end()) {
      req.used_bytes -= std::min(req.used_bytes, all[i].facts.bytes);  // leaving memory anyway
      continue;
    }
    candidates.push_back(all[i]);
    candidate_ids.push_back(ids[i]);
  }
  const FitPlan plan = plan_fit(req, options_.policy, candidates);
  if (!plan.fits) {
    r.fits = false;
    r.evict.clear();
    r.drain.clear();
    r.reason = need > options_.gpu_budget_bytes
                   ? "larger than the whole GPU memory budget (--gpu-memory-budget)"
                   : "the GPU memory budget is held by pinned, loading or higher-priority models";
    return;
  }
  for (size_t i : plan.evict) r.demote.push_back(candidate_ids[i]);
  for (size_t i : plan.drain) r.drain.push_back(candidate_ids[i]);
  if (!plan.drain.empty()) {
    r.fits = false;
    r.reason = "busy models must finish first: a request would wait in the queue";
  }
}

void ModelCache::refresh_bytes_locked(Entry& e) {
  e.bytes = e.model->memory_bytes();
  e.gpu_bytes = e.model->gpu_bytes();
}

}  // namespace hangar::manager
