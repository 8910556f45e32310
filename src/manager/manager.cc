// Manager: wiring and background threads.
#include "manager/manager.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "base/log.h"

namespace hangar::manager {

Result<std::unique_ptr<Manager>> Manager::open(const ManagerConfig& config, ModelLoader& loader,
                                               MemoryReader& memory, const Clock& clock,
                                               const Clock& wall_clock) {
  std::unique_ptr<Manager> m(new Manager());
  m->config_ = config;
  m->clock_ = &clock;
  HANGAR_ASSIGN(m->registry_, Registry::open({config.state_dir, config.models_dir, &wall_clock}));
  HANGAR_ASSIGN(ScanReport scan, m->registry_->scan());
  const size_t n_models = m->registry_->list().size();
  if (n_models == 0) {
    log_info("no models in '" + config.models_dir +
             "': copy or link .gguf files there and POST /v1/models/refresh");
  } else {
    log_info("found " + std::to_string(n_models) + " models in '" + config.models_dir + "' (" +
             std::to_string(scan.added.size()) + " new)");
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
    return ModelLoadSettings{ms.ctx, ms.parallel, ms.batch_tokens, ms.threads, ms.memory_limit};
  });
  CacheOptions cache_options = config.cache;
  cache_options.keep_alive_for = [s](const std::string& id) { return s->model(id).keep_alive_ms; };
  m->cache_ = std::make_unique<ModelCache>(*m->registry_, loader, clock, cache_options);
  m->preloader_ =
      std::make_unique<Preloader>(*m->registry_, *m->cache_, memory, clock, config.preload);
  m->monitor_ = std::make_unique<MemoryMonitor>(*m->cache_, memory, config.pressure);
  m->hasher_ = std::make_unique<HashWorker>(*m->registry_);
  Manager* self = m.get();
  s->set_listener([self](const SettingsChange& change) { self->on_settings_changed(change); });
  // Pins now; preloads are queued and start with start().
  std::vector<std::string> ids;
  for (const ModelRecord& r : m->registry_->list()) ids.push_back(r.id);
  m->apply_settings(ids);
  return m;
}

Manager::~Manager() { stop(); }

void Manager::start() {
  std::lock_guard lock(mu_);
  if (housekeeping_.joinable()) return;
  stopping_ = false;
  if (config_.hash_in_background) hasher_->start();
  preloader_->enqueue_saved_list();
  housekeeping_ = std::thread([this] { housekeeping_loop(); });
  preloading_ = std::thread([this] { preload_loop(); });
}

void Manager::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (housekeeping_.joinable()) housekeeping_.join();
  if (preloading_.joinable()) preloading_.join();
  if (hasher_) hasher_->stop();
}

Result<ScanReport> Manager::refresh() {
  HANGAR_ASSIGN(ScanReport report, registry_->scan());
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
      Status st = cache_->pin(id);
      if (!st.ok()) log_warn("settings: cannot pin '" + id + "': " + st.error().message());
    } else if (!ms.pin && pinned_by_settings_.erase(id) > 0) {
      Status st = cache_->unpin(id);
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
  // Hook for the model event stream (GET /v1/models/events): each id here is one "settings"
  // event once the cache's event bus exists.
  std::string ids;
  for (const std::string& id : change.ids) ids += (ids.empty() ? "" : ", ") + id;
  log_info("settings changed (" + change.cause + ") for: " + ids);
}

void Manager::housekeeping_loop() {
  const auto interval = std::chrono::milliseconds(std::max<int64_t>(config_.housekeeping_interval_ms, 10));
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    housekeep();
    lock.lock();
    cv_.wait_for(lock, interval, [&] { return stopping_; });
  }
}

void Manager::preload_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    preloader_->step();
    // Sleep until the next batch is due (the manager's clock and the steady clock both count
    // milliseconds), but look again at least every housekeeping interval for new work.
    int64_t wait_ms = preloader_->next_due_ms() - clock_->now_ms();
    wait_ms = std::clamp<int64_t>(wait_ms, 10, std::max<int64_t>(config_.housekeeping_interval_ms, 10));
    lock.lock();
    cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return stopping_; });
  }
}

}  // namespace hangar::manager
