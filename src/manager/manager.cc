// Manager: wiring and background threads.
#include "manager/manager.h"

#include <algorithm>
#include <chrono>

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
  m->cache_ = std::make_unique<ModelCache>(*m->registry_, loader, clock, config.cache);
  m->preloader_ =
      std::make_unique<Preloader>(*m->registry_, *m->cache_, memory, clock, config.preload);
  m->monitor_ = std::make_unique<MemoryMonitor>(*m->cache_, memory, config.pressure);
  m->hasher_ = std::make_unique<HashWorker>(*m->registry_);
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
  return report;
}

void Manager::housekeep() {
  cache_->tick();
  monitor_->check();
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
