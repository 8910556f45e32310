// Manager: wiring and background threads.
#include "manager/manager.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "base/log.h"

namespace hangar::manager {

Result<std::unique_ptr<Manager>> Manager::open(const ManagerConfig& config, ModelLoader& loader,
                                               MemoryReader& memory, const Clock& clock,
                                               const WallClock& wall_clock) {
  std::unique_ptr<Manager> m(new Manager());
  m->config_ = config;
  m->clock_ = &clock;
  Registry::Options ro{config.state_dir, config.models_dir, &wall_clock};
  ro.inspect = config.inspect;
  HANGAR_ASSIGN(m->registry_, Registry::open(ro));
  // A restart serves the known records at once and rescans in the background; a first start
  // (or a --preload id the registry has not seen) needs the scan before anything can be served.
  bool must_scan = m->registry_->list(/*include_absent=*/true).empty();
  for (const std::string& id : config.preload_ids)
    if (!m->registry_->get(id)) must_scan = true;
  if (must_scan) {
    HANGAR_ASSIGN(ScanReport scan, m->registry_->scan());
    m->scanned_ = true;
    log_info("found " + std::to_string(m->registry_->list().size()) + " models in '" + config.models_dir +
             "' (" + std::to_string(scan.added.size()) + " new)");
  } else {
    log_info(std::to_string(m->registry_->list().size()) + " models known in '" + config.models_dir +
             "'; rescanning in the background");
  }
  if (m->registry_->list().empty()) {
    log_info("no models in '" + config.models_dir +
             "': copy or link .gguf files there and POST /v1/models/refresh");
  }
  for (const std::string& id : config.preload_ids) {
    Status st = m->registry_->add_preload(id);
    if (!st.ok()) return st.error().context("--preload (models dir '" + config.models_dir + "')");
  }
  SettingsOptions settings = config.settings;
  if (settings.path.empty()) settings.path = (std::filesystem::path(config.models_dir) / "hangar.toml").string();
  HANGAR_ASSIGN(m->settings_, SettingsStore::open(std::move(settings), *m->registry_, wall_clock));
  SettingsStore* s = m->settings_.get();
  loader.set_load_settings([s](const std::string& id) {
    const ModelSettings ms = s->model(id);
    return ModelLoadSettings{ms.ctx, ms.parallel, ms.batch_tokens, ms.threads, ms.memory_limit, ms.device};
  });
  CacheOptions cache_options = config.cache;
  cache_options.keep_alive_for = [s](const std::string& id) { return s->model(id).keep_alive_ms; };
  cache_options.priority_of = [s](const std::string& id) { return s->priority(id); };
  Manager* owner = m.get();
  cache_options.on_request = [owner](const std::string& id) {
    if (owner->learned_) owner->learned_->on_request(id);
  };
  m->wall_clock_ = &wall_clock;
  m->events_ = std::make_unique<EventBus>(wall_clock);
  m->cache_ = std::make_unique<ModelCache>(*m->registry_, loader, clock, cache_options, m->events_.get());
  m->preloader_ =
      std::make_unique<Preloader>(*m->registry_, *m->cache_, memory, clock, config.preload);
  LearnedOptions learned = config.learned;
  learned.predict = config.preload.strategy == PreloadStrategy::kLearned;
  if (!learned.keep_alive_ms) learned.keep_alive_ms = config.preload.keep_alive_ms;
  m->learned_ = std::make_unique<LearnedPreloader>(*m->registry_, *m->cache_, wall_clock, config.predictor, learned);
  HANGAR_TRY(m->learned_->load_history());
  m->monitor_ = std::make_unique<MemoryMonitor>(*m->cache_, memory, config.pressure);
  m->hasher_ = std::make_unique<HashWorker>(*m->registry_);
  Manager* self = m.get();
  s->set_listener([self](const SettingsChange& change) { self->on_settings_changed(change); });
  // Pins now; preloads are queued and start with start().
  std::vector<std::string> ids;
  for (const ModelRecord& r : m->registry_->list()) ids.push_back(r.id);
  m->apply_settings(ids);
  m->worker_ = std::make_unique<BackgroundWorker>(clock);
  m->add_jobs(wall_clock);
  m->monitor_->check();  // the effective budget follows the machine from the first request on
  return m;
}

void Manager::add_jobs(const WallClock& wall_clock) {
  const ManagerConfig& c = config_;
  worker_->add_job("keep_alive", std::max<int64_t>(c.housekeeping_interval_ms, 10), [this]() -> Result<JobOutcome> {
    const uint64_t before = cache_->stats().bytes_used;
    const int expired = cache_->tick();
    std::vector<std::string> unloaded;
    monitor_->check(&unloaded);
    const uint64_t after = cache_->stats().bytes_used;
    JobOutcome o;
    o.freed_items = expired + static_cast<int64_t>(unloaded.size());
    o.freed_bytes = before > after ? static_cast<int64_t>(before - after) : 0;
    o.detail = std::to_string(expired) + " expired, " + std::to_string(unloaded.size()) + " unloaded for memory";
    return o;
  });
  worker_->add_job("settings", std::max<int64_t>(c.housekeeping_interval_ms, 10), [this]() -> Result<JobOutcome> {
    JobOutcome o;
    o.detail = settings_->poll() ? "the settings file changed: read again" : "unchanged";
    return o;
  });
  worker_->add_job("kv_trim", std::max<int64_t>(c.kv_trim_interval_ms, 10), [this]() -> Result<JobOutcome> {
    JobOutcome o;
    const auto models = cache_->loaded_models();
    for (const auto& [id, model] : models) {
      if (model->weights_lost()) {
        // Its file was truncated under the mapping: it answers garbage until it goes.
        Status st = cache_->unload(id, EvictionReason::kFileChanged);
        log_warn("model '" + id + "': its file was truncated while loaded; " +
                 (st.ok() ? std::string("unloaded") : "unload: " + st.error().message()));
      }
      const uint64_t freed = model->trim_idle(config_.kv_unused_ms);
      o.freed_bytes += static_cast<int64_t>(freed);
      o.freed_items += freed > 0;
    }
    o.detail = "KV memory of " + std::to_string(o.freed_items) + " of " + std::to_string(models.size()) +
               " loaded models returned";
    return o;
  });
  worker_->add_job("rescan", std::max<int64_t>(c.rescan_interval_ms, 10), [this] { return rescan_job(); });
  // Headers of files a scan registered from stat alone, a batch per run so that the other jobs
  // take turns; requested after every scan, and periodically for files a request did not read.
  worker_->add_job("headers", std::max<int64_t>(c.rescan_interval_ms, 10), [this]() -> Result<JobOutcome> {
    HANGAR_ASSIGN(HeaderReport r, registry_->read_headers(kHeaderBatch));
    JobOutcome o;
    o.freed_items = static_cast<int64_t>(r.read.size() + r.failed.size());
    o.detail = std::to_string(r.read.size()) + " headers read, " + std::to_string(r.failed.size()) +
               " unreadable, " + std::to_string(r.pending) + " pending";
    o.again = r.pending > 0 && o.freed_items > 0;
    return o;
  });
  worker_->add_job("prune", std::max<int64_t>(c.prune_interval_ms, 10), [this, &wall_clock]() -> Result<JobOutcome> {
    HANGAR_ASSIGN(std::vector<std::string> ids, registry_->prune_absent(wall_clock.now_unix_ms() - config_.prune_grace_ms));
    JobOutcome o;
    o.freed_items = static_cast<int64_t>(ids.size());
    o.detail = ids.empty() ? "nothing to prune" : "forgot " + std::to_string(ids.size()) + " models gone since before the grace period";
    for (const std::string& id : ids) log_info("registry: forgot model '" + id + "' (file gone for longer than the grace period)");
    return o;
  });
  worker_->add_job("history", std::max<int64_t>(c.history_prune_interval_ms, 10), [this]() -> Result<JobOutcome> {
    HANGAR_ASSIGN(int64_t gone, learned_->prune());
    JobOutcome o;
    o.freed_items = gone;
    o.detail = std::to_string(gone) + " request history rows pruned, " +
               std::to_string(registry_->history_size()) + " kept";
    return o;
  });
  worker_->add_job("sqlite", std::max<int64_t>(c.maintenance_interval_ms, 10), [this]() -> Result<JobOutcome> {
    HANGAR_ASSIGN(Registry::Maintenance m, registry_->maintain());
    JobOutcome o;
    o.freed_items = m.pages_freed;
    o.freed_bytes = m.pages_freed * m.page_size + std::max<int64_t>(m.wal_bytes_before - m.wal_bytes_after, 0);
    o.detail = std::to_string(m.pages_freed) + " pages vacuumed, WAL " + std::to_string(m.wal_bytes_before) +
               " -> " + std::to_string(m.wal_bytes_after) + " bytes";
    return o;
  });
}

Result<JobOutcome> Manager::rescan_job() {
  HANGAR_ASSIGN(ScanReport r, registry_->scan());
  {
    std::lock_guard lock(mu_);
    scanned_ = true;
  }
  if (!r.added.empty() || !r.updated.empty()) {
    worker_->request("headers");
    if (config_.hash_in_background) hasher_->wake();
  }
  if (!r.added.empty()) apply_settings(r.added);  // a new file may match a glob that pins or preloads it
  JobOutcome o;
  o.freed_items = static_cast<int64_t>(r.removed.size());
  o.detail = std::to_string(r.added.size()) + " added, " + std::to_string(r.updated.size()) + " changed, " +
             std::to_string(r.removed.size()) + " gone, " + std::to_string(r.unchanged) + " unchanged";
  if (!r.added.empty() || !r.updated.empty() || !r.removed.empty()) log_info("models dir: " + o.detail);
  return o;
}

bool Manager::scanned() const {
  std::lock_guard lock(mu_);
  return scanned_;
}

Manager::~Manager() { stop(); }

void Manager::start() {
  std::lock_guard lock(mu_);
  if (started_) return;
  started_ = true;
  stopping_ = false;
  if (config_.hash_in_background) hasher_->start();
  preloader_->enqueue_saved_list();
  worker_->start();
  preloading_ = std::thread([this] { preload_loop(); });
}

void Manager::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    started_ = false;
    cv_.notify_all();
  }
  if (worker_) worker_->stop();
  if (preloading_.joinable()) preloading_.join();
  if (hasher_) hasher_->stop();
  if (events_) events_->close_all();
}

Result<ScanReport> Manager::refresh() {
  HANGAR_ASSIGN(ScanReport report, registry_->scan());
  {
    std::lock_guard lock(mu_);
    scanned_ = true;
  }
  if (!report.added.empty() || !report.updated.empty()) worker_->request("headers");
  if (config_.hash_in_background) hasher_->wake();
  apply_settings(report.added);  // a new file may match a glob that pins or preloads it
  return report;
}

void Manager::housekeep() {
  cache_->tick();
  monitor_->check();
  settings_->poll();
}

void Manager::apply_settings(const std::vector<std::string>& ids) {
  std::lock_guard lock(settings_mu_);
  for (const std::string& id : ids) {
    std::optional<ModelRecord> rec = registry_->get(id);
    if (!rec || !rec->present) continue;
    const ModelSettings ms = settings_->model(id);
    // Only what the settings pinned is unpinned by them: POST /pin stays the user's.
    if (ms.pin && pinned_by_settings_.insert(id).second) {
      Status st = cache_->pin(id, /*persist=*/false);  // the settings file pins it again at start
      if (!st.ok()) log_warn("settings: cannot pin '" + id + "': " + st.error().message());
    } else if (!ms.pin && pinned_by_settings_.erase(id) > 0) {
      Status st = cache_->unpin(id, /*persist=*/false);
      if (!st.ok()) log_warn("settings: cannot unpin '" + id + "': " + st.error().message());
    }
    if (ms.preload && preloaded_by_settings_.insert(id).second) {
      Result<bool> queued = preloader_->enqueue(id);
      if (!queued.ok()) log_warn("settings: cannot preload '" + id + "': " + queued.error().message());
    } else if (!ms.preload) {
      preloaded_by_settings_.erase(id);
    }
  }
}

void Manager::on_settings_changed(const SettingsChange& change) {
  apply_settings(change.ids);
  // Engine sizes apply at a load: resident models go (idle ones now, busy ones when their
  // requests end) so that the next request loads them as the settings now say. A resident
  // model now over its memory_limit goes the same way (its next load is refused with 507).
  std::set<std::string> reload(change.reload_ids.begin(), change.reload_ids.end());
  for (const std::string& id : change.ids) {
    const uint64_t limit = settings_->model(id).memory_limit;
    const std::optional<ModelStatus> st = cache_->status(id);
    if (limit != 0 && st && st->state == ModelState::kLoaded && st->bytes > limit) reload.insert(id);
  }
  for (const std::string& id : change.ids)
    events_->publish(ModelEvent(ModelEvent::kSettings, id).with("cause", change.cause).with("reload", reload.count(id) > 0));
  std::string ids;
  for (const std::string& id : change.ids) ids += (ids.empty() ? "" : ", ") + id;
  log_info("settings changed (" + change.cause + ") for: " + ids);
  // Those pinned or preloaded and unloaded now come back at once (a busy one at its next
  // request).
  for (const std::string& id : cache_->unload_for_settings({reload.begin(), reload.end()})) {
    const std::optional<ModelStatus> st = cache_->status(id);
    if (!settings_->model(id).preload && !(st && st->pinned)) continue;
    Result<bool> queued = preloader_->enqueue(id);
    if (!queued.ok()) log_warn("settings: cannot preload '" + id + "' again: " + queued.error().message());
  }
}

Result<PreloadDecision> Manager::hint(const std::string& id) {
  HANGAR_ASSIGN(PreloadDecision d, learned_->hint(id));
  if (d.preload) {
    std::lock_guard lock(mu_);
    wake_preload_ = true;
    cv_.notify_all();
  }
  return d;
}

void Manager::preload_loop() {
  std::unique_lock lock(mu_);
  int64_t next_learned_ms = 0;
  while (!stopping_) {
    const bool woken = wake_preload_;
    wake_preload_ = false;
    lock.unlock();
    preloader_->step();
    // The list first; then a hint's or a prediction's preload, at most once an interval.
    if (woken || clock_->now_ms() >= next_learned_ms) {
      learned_->step();
      next_learned_ms = clock_->now_ms() + std::max<int64_t>(config_.learned_interval_ms, 10);
    }
    // Sleep until the next batch is due (the manager's clock and the steady clock both count
    // milliseconds), but look again at least every housekeeping interval for new work.
    int64_t wait_ms = preloader_->next_due_ms() - clock_->now_ms();
    wait_ms = std::clamp<int64_t>(wait_ms, 10, std::max<int64_t>(config_.housekeeping_interval_ms, 10));
    lock.lock();
    cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return stopping_ || wake_preload_; });
  }
}

}  // namespace hangar::manager
