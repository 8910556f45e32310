// ModelCache: requests, single-flight loads, leases and measured footprints.
#include "manager/model_cache.h"

#include <algorithm>

#include "base/log.h"
#include "manager/integrity.h"
#include "manager/model_cache_entry.h"
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

ModelCache::ModelCache(Registry& registry, ModelLoader& loader, const Clock& clock, CacheOptions options,
                       EventBus* events)
    : registry_(registry),
      loader_(loader),
      clock_(clock),
      options_(std::move(options)),
      events_(events),
      budget_(options_.budget_bytes),
      budget_reason_(options_.budget_bytes ? "fixed budget" : "no budget") {
  // Pins outlive the process (the registry keeps them); the models themselves are loaded by
  // the preloader, which queues pinned models after the preload list.
  std::lock_guard lock(mu_);
  for (const std::string& id : registry_.pinned()) {
    if (std::optional<ModelRecord> rec = registry_.get(id)) entry_locked(id, *rec).pinned = true;
  }
}

ModelCache::~ModelCache() {
  std::lock_guard lock(mu_);
  HANGAR_ASSERT_MSG(leases_out_ == 0, "a Lease outlived its ModelCache");
}

Result<AdmissionFigure> ModelCache::admission(const std::string& id) {
  std::optional<ModelRecord> rec = registry_.get_with_header(id);
  if (!rec || !rec->present) return Error("unknown model '" + id + "'");
  return admission(*rec);
}

AdmissionFigure ModelCache::admission(const ModelRecord& rec) {
  AdmissionFigure fig;
  fig.plan = loader_.plan(rec);
  fig.measured = registry_.footprint(rec.id, fig.plan.settings);
  fig.bytes = fig.measured ? fig.measured->measured_bytes : fig.plan.estimate_bytes;
  return fig;
}

Result<Lease> ModelCache::acquire(const std::string& id, const AcquireOptions& options, AcquireFailure* failure) {
  AcquireFailure local;
  AcquireFailure* f = failure != nullptr ? failure : &local;
  *f = AcquireFailure{};
  // A file registered moments ago may not have had its header read yet: read it now.
  std::optional<ModelRecord> rec = registry_.get_with_header(id);
  HANGAR_TRY(check_record(id, rec, &f->kind));
  if (options.count_access) {
    Status st = registry_.record_access(id);
    if (!st.ok()) log_warn("cannot record access to '" + id + "': " + st.error().message());
    if (options_.on_request) options_.on_request(id);
  }
  // Outside the lock: the plan and the priority ask the settings. The record read above has
  // its header (what admission(id) would look up again).
  AdmissionFigure figure = admission(*rec);
  const int priority = options.priority ? *options.priority : options_.priority_of ? options_.priority_of(id) : 0;
  // A stat, outside the lock: whether the file is still the one a loaded model uses in place.
  const Result<FileIdentity> identity = file_identity(id, rec->path);

  CacheLock guard(mu_, dropped_);
  Entry& e = entry_locked(id, *rec);  // rec was read before this access was recorded
  const int64_t now = clock_.now_ms();
  if (options.count_access) {
    e.access_count += 1;
    e.recent.push_back(now);
  }
  e.priority = priority;
  if (e.state == ModelState::kLoaded && e.model->weights_from_file() && e.identity &&
      (!identity.ok() || !(*identity == *e.identity))) {
    // Weights used in place from a file that was rewritten (or truncated: their pages read as
    // zeros) are not the model that was loaded: refused as a changed file is (409), and
    // unloaded so that the next load checks the file against its digest.
    const bool idle = e.in_flight == 0;
    if (idle) {
      unload_entry_locked(id, e, EvictionReason::kFileChanged, "its file changed while its weights were mapped");
      schedule_locked();
    }
    f->kind = FailureKind::kIntegrity;
    log_warn("model '" + id + "': its file changed while the model used it in place; " +
             (idle ? "unloaded" : "unloaded by the first request after its current ones finish"));
    return Error("model '" + id + "': its file '" + rec->path +
                 "' changed on disk while the model was loaded (its weights are read from the file); "
                 "load it again, or if the file was replaced on purpose, POST /v1/models/" + id +
                 "/verify with {\"accept\": true}");
  }
  // A preload only wants the model resident, so a draining or demoted one will do; not one
  // loaded under settings that changed.
  const bool moving = e.moving != Entry::Move::kNone;
  if (e.state == ModelState::kLoaded && !e.stale && !moving && ((!e.draining && !e.demoted) || !options.allow_evict)) {
    if (options.count_access) e.hits += 1;
    return lease_for(id, e, options);
  }
  // Resident but in host memory, or on its way between the tiers: a copy, not a load.
  const bool promotion = e.state == ModelState::kLoaded && (e.demoted || moving) && !e.stale;
  if (options.count_access) (promotion ? e.hits : e.misses) += 1;
  if (promotion && e.demoted && !moving) HANGAR_TRY(never_fits_gpu_locked(id, e.gpu_home, f));
  if ((e.state == ModelState::kUnloaded && !e.load_pending) || e.stale) e.figure = std::move(figure);

  Waiter w;
  w.seq = ++next_waiter_seq_;
  w.arrived_ms = now;
  w.deadline_ms = now + std::max<int64_t>(options_.queue_timeout_ms, 0);
  if (e.state == ModelState::kUnloaded && !e.load_pending) {
    HANGAR_TRY(never_fits_locked(id, e.figure, f));
    HANGAR_TRY(never_fits_gpu_locked(id, gpu_need_locked(e), f));
  }
  if (!options.allow_evict) {
    // A preload takes free memory only, never waits for it, and never jumps a queue.
    if (e.state == ModelState::kUnloaded && !e.load_pending) HANGAR_TRY(admit_now_locked(id, e, false, f));
    w.deadline_ms = INT64_MAX;  // it waits only for its model's load
  } else {
    if (static_cast<int>(e.queue.size()) >= options_.max_queue) {
      counters_.queue_full += 1;
      f->kind = FailureKind::kQueueFull;
      f->retry_after_s = std::max<int64_t>(1, (options_.swap_window_ms + e.last_load_ms + 999) / 1000);
      return Error("model '" + id + "' has " + std::to_string(e.queue.size()) +
                   " requests waiting for memory, the most its queue holds (--queue-size); try again later");
    }
  }
  e.queue.push_back(&w);
  schedule_locked();
  Result<Lease> r = wait_for_model(id, e, w, guard, options, f);
  guard.drop_now();
  return r;
}

Result<Lease> ModelCache::wait_for_model(const std::string& id, Entry& e, Waiter& w, CacheLock& guard,
                                         const AcquireOptions& options, AcquireFailure* f) {
  std::unique_lock<std::mutex>& lock = guard.get();
  auto leave_queue = [&] {
    auto it = std::find(e.queue.begin(), e.queue.end(), &w);
    if (it != e.queue.end()) e.queue.erase(it);
  };
  for (;;) {
    const int64_t now = clock_.now_ms();
    if (w.granted) {
      if (w.announced) counters_.queue_wait_ms += now - w.arrived_ms;
      return make_lease(id, e, options);  // grant_waiters_locked counted it
    }
    if (w.failed) {
      f->kind = w.failure;
      return Error(w.error);
    }
    if (e.load_pending) {
      // Admitted: this thread runs the load (single flight); the others wait for it.
      e.load_pending = false;
      run_load(id, e, lock);
      continue;
    }
    if (e.promote_pending) {
      // Admitted back to the GPU: this thread runs the copy (single flight), as a load.
      e.promote_pending = false;
      run_promotion(id, e, lock);
      continue;
    }
    if (e.state != ModelState::kLoading && e.moving == Entry::Move::kNone && now >= w.deadline_ms) {
      leave_queue();
      counters_.queue_timeouts += 1;
      schedule_locked();
      f->kind = FailureKind::kQueueTimeout;
      f->retry_after_s = std::max<int64_t>(1, (options_.swap_window_ms + e.last_load_ms + 999) / 1000);
      return Error("model '" + id + "' waited " + std::to_string(now - w.arrived_ms) +
                   " ms for memory without getting it (--queue-timeout): the models that hold the budget stayed busy");
    }
    if (!w.announced && e.state != ModelState::kLoading) {
      w.announced = true;
      counters_.queued += 1;
      publish(ModelEvent(ModelEvent::kQueued, id)
                  .with("reason", std::string(e.stale ? "reload" : e.draining ? "draining" : "memory"))
                  .with("waiting", static_cast<int64_t>(e.queue.size())));
    }
    if (!dropped_.empty()) {
      guard.drop_now();
      continue;
    }
    // A fake clock does not move while we wait: tick() wakes us. A real one does.
    const int64_t wait_ms = w.deadline_ms == INT64_MAX ? 1000 : std::max<int64_t>(w.deadline_ms - now, 1);
    changed_.wait_for(lock, std::chrono::milliseconds(std::min<int64_t>(wait_ms, 1000)));
  }
}

void ModelCache::run_load(const std::string& id, Entry& e, std::unique_lock<std::mutex>& lock) {
  HANGAR_ASSERT(e.state == ModelState::kLoading);
  const AdmissionFigure figure = e.figure;
  // The GPU models demoted for this one leave the GPU first, each copy outside the lock.
  run_demotions(std::move(e.to_demote), lock);
  e.to_demote.clear();
  std::vector<std::shared_ptr<LoadedModel>> doomed;
  doomed.swap(dropped_);
  lock.unlock();
  doomed.clear();  // the models evicted for this one leave memory before it comes in

  publish(ModelEvent(ModelEvent::kLoading, id).with("progress", 0.0).with("stage", std::string("start"))
              .with("bytes", static_cast<int64_t>(figure.bytes)));
  const int64_t t0 = clock_.now_ms();
  FailureKind kind = FailureKind::kIntegrity;
  Result<std::shared_ptr<LoadedModel>> loaded = Error("not loaded");
  std::optional<ModelRecord> rec = registry_.get(id);
  if (!rec) kind = FailureKind::kUnknownModel;
  Status integrity = rec ? check_before_load(registry_, *rec) : Status(Error("model '" + id + "' is gone"));
  std::optional<FileIdentity> loaded_identity;
  if (integrity.ok()) {
    kind = FailureKind::kLoadFailed;
    LoadProgress progress = [this, &id](double fraction, std::string_view stage) {
      publish(ModelEvent(ModelEvent::kLoading, id).with("progress", fraction).with("stage", std::string(stage)));
    };
    const Result<FileIdentity> before = file_identity(id, rec->path);
    if (before.ok()) loaded_identity = *before;
    loaded = loader_.load(*rec, progress);
    if (loaded.ok() && *loaded == nullptr) loaded = Error("model '" + id + "': loader returned no model");
    // A file rewritten while it was read (`cp new.gguf` over it) gives a torn copy or a failed
    // read: refused as a changed file is (409), whatever the loader made of it.
    const Result<FileIdentity> after = file_identity(id, rec->path);
    if (before.ok() && (!after.ok() || !(*after == *before))) {
      loaded = Error("model '" + id + "': its file '" + rec->path +
                     "' changed while it was being loaded; not loaded (load it again once the file is "
                     "complete; if it was replaced on purpose, POST /v1/models/" + id +
                     "/verify with {\"accept\": true})");
      kind = FailureKind::kIntegrity;
    }
    const uint64_t limit = figure.plan.memory_limit;
    if (loaded.ok() && limit != 0 && (*loaded)->memory_bytes() > limit) {
      // Learned, so that the next request is refused at admission without a load.
      const uint64_t took = (*loaded)->memory_bytes();
      record_footprint(*rec, figure, took);
      kind = FailureKind::kInsufficientMemory;
      loaded = Error("model '" + id + "' took " + format_bytes(took) + " once loaded, more than its " +
                     "memory_limit setting of " + format_bytes(limit));
    }
  } else {
    loaded = integrity.error();
  }
  const int64_t now = clock_.now_ms();
  const int64_t load_ms = now - t0;

  lock.lock();
  e.reserved = 0;
  e.gpu_reserved = 0;
  if (!loaded.ok()) {
    e.state = ModelState::kUnloaded;
    e.draining = false;
    e.stale = false;
    e.last_error = loaded.error().message();
    counters_.load_failures += 1;
    // Every request waiting for this model shares the failure (they would load the same file).
    for (Waiter* w : e.queue) {
      w->failed = true;
      w->error = e.last_error;
      w->failure = kind;
    }
    e.queue.clear();
    publish(ModelEvent(ModelEvent::kFailed, id).with("error", e.last_error));
    log_warn("loading model '" + id + "' failed: " + e.last_error);
    schedule_locked();
    return;
  }
  e.state = ModelState::kLoaded;
  e.model = std::move(loaded).value();
  e.identity = loaded_identity;
  refresh_bytes_locked(e);
  e.gpu_home = e.gpu_bytes;
  e.demoted = e.model->has_gpu_tier() && e.model->tier() != ModelTier::kGpu;
  e.loaded_at_ms = now;
  e.last_used_ms = now;
  e.last_load_ms = load_ms;
  e.last_error.clear();
  e.draining = false;
  counters_.loads += 1;
  counters_.total_load_ms += load_ms;
  counters_.last_load_ms = load_ms;
  // Its waiters are served first, so a model that another waiter needs still serves the batch
  // it was loaded for; and with their leases counted it cannot be the victim below.
  grant_waiters_locked(e);
  const uint64_t measured = e.bytes;
  if (budget_ != 0 && used_bytes_locked() > budget_) {
    const std::string detail = "'" + id + "' measured " + format_bytes(measured) + " (admitted on " +
                               format_bytes(figure.bytes) + ")";
    shrink_to_budget_locked(EvictionReason::kPolicy, id, detail, nullptr);
    if (used_bytes_locked() > budget_)
      log_warn("model " + detail + "; the cache is " + format_bytes(used_bytes_locked() - budget_) +
               " over its budget and nothing idle is left to evict");
  }
  std::vector<std::string> to_demote;
  if (e.gpu_bytes != 0)
    to_demote = shrink_gpu_locked(id, "'" + id + "' measured " + format_bytes(e.gpu_bytes) + " of GPU memory (admitted on " +
                                          format_bytes(figure.plan.gpu_estimate_bytes) + ")");
  publish(ModelEvent(ModelEvent::kLoaded, id)
              .with("bytes", static_cast<int64_t>(measured))
              .with("gpu_bytes", static_cast<int64_t>(e.gpu_bytes))
              .with("load_ms", load_ms)
              .with("estimated_bytes", static_cast<int64_t>(figure.plan.estimate_bytes)));
  schedule_locked();
  lock.unlock();

  log_info("loaded model '" + id + "' in " + std::to_string(load_ms) + " ms, " + format_bytes(measured) +
           (figure.measured ? "" : " (estimate " + format_bytes(figure.plan.estimate_bytes) + ")"));
  Status st = registry_.record_load(id, load_ms);
  if (!st.ok()) log_warn("cannot record load of '" + id + "': " + st.error().message());
  record_footprint(*rec, figure, measured);
  lock.lock();
  run_demotions(std::move(to_demote), lock);
}

void ModelCache::record_footprint(const ModelRecord& rec, const AdmissionFigure& figure, uint64_t measured) {
  Footprint fp;
  fp.settings = figure.plan.settings;
  fp.file_size = rec.file_size;
  fp.mtime_ns = rec.mtime_ns;
  fp.measured_bytes = measured;
  fp.estimated_bytes = figure.plan.estimate_bytes;
  Status st = registry_.record_footprint(rec.id, fp);
  if (!st.ok()) log_warn("cannot record the footprint of '" + rec.id + "': " + st.error().message());
}

Status ModelCache::load(const std::string& id, const AcquireOptions& options, AcquireFailure* failure) {
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

Lease ModelCache::lease_for(const std::string& id, Entry& e, const AcquireOptions& options) {
  e.in_flight += 1;
  e.expires_at_ms = -1;
  leases_out_ += 1;
  return make_lease(id, e, options);
}

Lease ModelCache::make_lease(const std::string& id, const Entry& e, const AcquireOptions& options) {
  Lease lease;
  lease.cache_ = this;
  lease.id_ = id;
  lease.model_ = e.model;
  lease.keep_alive_ms_ = options.keep_alive_ms;
  return lease;
}

void ModelCache::release(const std::string& id, std::optional<int64_t> keep_alive_ms, bool unload_if_zero) {
  CacheLock guard(mu_, dropped_);
  Entry& e = *entries_.at(id);
  HANGAR_ASSERT(e.in_flight > 0 && leases_out_ > 0);
  e.in_flight -= 1;
  leases_out_ -= 1;
  const int64_t now = clock_.now_ms();
  e.last_used_ms = now;
  const int64_t keep = keep_alive_ms ? *keep_alive_ms : default_keep_alive(id);
  if (e.in_flight == 0 && e.stale) {
    unload_entry_locked(id, e, EvictionReason::kSettings, "its engine settings changed");
    log_info("unloaded model '" + id + "' (its engine settings changed; its last request ended)");
  } else if (e.in_flight == 0 && !e.pinned) {
    if (keep < 0) {
      e.expires_at_ms = -1;
    } else if (keep == 0 && unload_if_zero) {
      unload_entry_locked(id, e, EvictionReason::kKeepAlive, "keep-alive 0");
    } else {
      e.expires_at_ms = now + keep;
    }
  }
  // An idle model may be what a waiting request needs.
  if (e.in_flight == 0) schedule_locked();
}

int64_t ModelCache::default_keep_alive(const std::string& id) const {
  std::optional<int64_t> own = options_.keep_alive_for ? options_.keep_alive_for(id) : std::nullopt;
  return own.value_or(options_.keep_alive_ms);
}

Status ModelCache::check_record(const std::string& id, const std::optional<ModelRecord>& rec, FailureKind* kind) {
  if (!rec || !rec->present) {
    *kind = FailureKind::kUnknownModel;
    return Error(rec ? "model '" + id + "' is no longer in the models dir" : "unknown model '" + id + "'");
  }
  if (!rec->scan_error.empty()) {
    *kind = FailureKind::kLoadFailed;
    return Error("model '" + id + "' cannot be loaded: " + rec->scan_error);
  }
  return Status::Ok();
}

Status ModelCache::admit_now_locked(const std::string& id, Entry& e, bool allow_evict, AcquireFailure* f) {
  std::vector<std::string> ids;
  const FitRequest req = fit_request_locked(e.figure.bytes, 1);
  FitPlan plan;
  plan.fits = fits_after(req, 0, 0);
  if (!plan.fits && allow_evict) plan = plan_fit(req, options_.policy, candidates_locked(false, 0, id, &ids));
  // Requests waiting for memory; those of a model being loaded wait for its load only (its
  // memory is reserved), so they do not hold a preload back.
  bool queue_waiting = false;
  for (const auto& [other, x] : entries_)
    queue_waiting |= other != id && !x->queue.empty() && x->state != ModelState::kLoading;
  // A preload demotes nothing either: the GPU must have the room free.
  const uint64_t gpu_need = gpu_need_locked(e);
  const bool gpu_fits = gpu_need == 0 || fits_after(gpu_fit_request_locked(gpu_need), 0, 0);
  if (plan.fits_now() && !queue_waiting && gpu_fits) {
    std::vector<std::string> victims;
    for (size_t i : plan.evict) victims.push_back(ids[i]);
    start_load_locked(id, e, victims, "a preload");
    e.gpu_reserved = gpu_need;
    return Status::Ok();
  }
  if (!gpu_fits) {
    const uint64_t gpu_used = gpu_used_locked();
    *f = AcquireFailure{FailureKind::kInsufficientMemory, gpu_need, options_.gpu_budget_bytes, gpu_used, gpu_used, true};
    return Error("cannot preload model '" + id + "': it needs " + std::to_string(gpu_need) +
                 " bytes of GPU memory; the GPU budget is " + std::to_string(options_.gpu_budget_bytes) + " bytes and " +
                 std::to_string(gpu_used) + " are in use (a preload does not demote)");
  }
  *f = AcquireFailure{FailureKind::kInsufficientMemory, e.figure.bytes, budget_, req.used_bytes, req.used_bytes};
  return Error("cannot preload model '" + id + "': it needs " + std::to_string(e.figure.bytes) + " bytes; the budget is " +
               std::to_string(budget_) + " bytes and " + std::to_string(req.used_bytes) + " are in use" +
               (queue_waiting ? ", and requests are waiting for memory" : "") + " (a preload does not evict)");
}

Status ModelCache::never_fits_locked(const std::string& id, const AdmissionFigure& figure, AcquireFailure* f) const {
  uint64_t pinned_bytes = 0;
  int pinned = 0;
  std::string names;
  for (const auto& [other, x] : entries_) {
    if (other == id || !x->pinned || x->state == ModelState::kUnloaded) continue;
    pinned_bytes += x->state == ModelState::kLoading ? x->reserved : x->bytes;
    pinned += 1;
    names += (names.empty() ? "" : ", ") + other;
  }
  const uint64_t need = figure.bytes;
  const std::string what = figure.measured ? "a measured " : "an estimated ";
  const uint64_t limit = figure.plan.memory_limit;
  if (limit != 0 && need > limit) {
    *f = AcquireFailure{FailureKind::kInsufficientMemory, need, budget_, used_bytes_locked(), 0};
    return Error("cannot load model '" + id + "': it needs " + what + format_bytes(need) +
                 ", more than its memory_limit setting of " + format_bytes(limit) + "; raise memory_limit in the settings file or with "
                 "PATCH /v1/models/" + id + "/settings");
  }
  const bool bytes_never = budget_ != 0 && need + pinned_bytes > budget_;
  const bool count_never = options_.max_loaded != 0 && pinned + 1 > options_.max_loaded;
  if (!bytes_never && !count_never) return Status::Ok();
  *f = AcquireFailure{FailureKind::kInsufficientMemory, need, budget_, used_bytes_locked(), pinned_bytes};
  std::string msg = "cannot load model '" + id + "': ";
  if (count_never) {
    msg += "max-loaded is " + std::to_string(options_.max_loaded) + " and " + std::to_string(pinned) +
           " models are pinned (" + names + ")";
  } else if (need > budget_) {
    msg += "it needs " + what + std::to_string(need) + " bytes, more than the whole memory budget of " +
           std::to_string(budget_) + " bytes (" + budget_reason_ + ")";
  } else {
    msg += "it needs " + what + std::to_string(need) + " bytes; the budget is " + std::to_string(budget_) +
           " bytes and pinned models hold " + std::to_string(pinned_bytes) + " of them (" + names + ")";
  }
  return Error(msg);
}

}  // namespace hangar::manager
