// Manager: owns the registry, cache, preloader, memory monitor and hasher, and their threads.
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "manager/background_worker.h"
#include "manager/event_bus.h"
#include "manager/hash_worker.h"
#include "manager/learned_preloader.h"
#include "manager/integrity.h"
#include "manager/memory_monitor.h"
#include "manager/memory_reader.h"
#include "manager/model_cache.h"
#include "manager/preloader.h"
#include "manager/registry.h"
#include "manager/settings_store.h"

namespace hangar::manager {

struct ManagerConfig {
  std::string models_dir = "./models";
  std::string state_dir = "./state";
  CacheOptions cache;        // budget: the cap, or for auto the starting figure (auto_memory_budget)
  PreloadOptions preload;
  // Learned preloading: the predictor's windows, the rule's settings (learned.predict follows
  // preload.strategy == kLearned), and how often it looks for a model to preload.
  PredictorOptions predictor;
  LearnedOptions learned;
  int64_t learned_interval_ms = 1000;
  int64_t history_prune_interval_ms = 60'000;  // the request history trimmed to learned.history_keep
  PressureOptions pressure;  // pressure.auto_budget: --memory-budget auto
  std::vector<std::string> preload_ids;  // --preload: appended to the persisted list
  // Per-model settings; an empty path means <models_dir>/hangar.toml (absent: no settings).
  SettingsOptions settings;
  int64_t housekeeping_interval_ms = 1000;  // keep-alive expiry, memory and settings-file checks (real time)
  bool hash_in_background = true;
  // The background worker's other jobs (milliseconds; see Manager::start).
  int64_t kv_trim_interval_ms = 10'000;
  int64_t kv_unused_ms = 300'000;            // finished sequences' KV kept this long for reuse
  int64_t rescan_interval_ms = 30'000;       // the models dir re-checked for changed files
  int64_t prune_interval_ms = 3'600'000;
  int64_t prune_grace_ms = 7 * 86'400'000LL;  // rows of files gone this long are forgotten
  int64_t maintenance_interval_ms = 3'600'000;  // SQLite optimize, vacuum, WAL checkpoint
  // The registry's header reader (Registry::Options::inspect); tests pass one that waits.
  std::function<Status(const std::string& path, ModelRecord* rec)> inspect;
};

// The object `hangar serve` holds. open() does the work that can fail (state file, settings
// file, --preload ids) and applies the settings' pins, so that errors surface before the server
// listens. It scans the models dir only when the registry knows no model yet or a --preload id
// is unknown; otherwise the known records serve at once and the first rescan runs in the
// background. start() launches the background threads (hashing, preloading, and one worker for
// the periodic jobs: "keep_alive" (expiry and memory checks), "settings" (the settings file's
// mtime), "kv_trim", "rescan", "headers" (of files scans registered from stat alone), "prune",
// "history" and "sqlite") and queues the persisted preload list;
// stop() (or the destructor) joins them. Tests use the parts directly and drive the worker
// with a fake clock (worker().run_due()) instead of start(). The loader, reader and clocks must
// outlive the manager. Thread-safe.
class Manager {
 public:
  static Result<std::unique_ptr<Manager>> open(const ManagerConfig& config, ModelLoader& loader,
                                               MemoryReader& memory, const Clock& clock,
                                               const WallClock& wall_clock);
  ~Manager();
  Manager(const Manager&) = delete;
  Manager& operator=(const Manager&) = delete;

  // Headers the background "headers" job reads per run (a fraction of a second of work).
  static constexpr size_t kHeaderBatch = 64;

  void start();
  void stop();
  // Rescans the models dir (POST /v1/models/refresh) and hashes new files in the background.
  Result<ScanReport> refresh();
  // POST /v1/models/{id}/verify: hashes the file now; a mismatch is an error naming the
  // expected and actual digests (see integrity.h). Blocks for the length of the hash.
  Result<std::string> verify(const std::string& id) { return verify_model(*registry_, id); }
  // POST /v1/models/{id}/verify {"accept": true}: the file as it is now becomes the expected
  // one (a model file replaced on purpose); loads no longer answer 409.
  Result<std::string> accept(const std::string& id) { return accept_model(*registry_, id); }
  // One round of housekeeping now: keep-alive expiry, a memory check and the settings
  // file's mtime poll.
  void housekeep();
  // Reads the settings file again (POST /v1/models/refresh); on error the previous settings
  // stay in force and the error is in settings().status().
  Status reload_settings() { return settings_->reload(); }
  // True once the models dir was scanned in this process (open() or the background rescan).
  bool scanned() const;

  // Model state changes for GET /v1/models/events, `settings` events included (published
  // when a model's effective settings change).
  EventBus& events() { return *events_; }
  Registry& registry() { return *registry_; }
  ModelCache& cache() { return *cache_; }
  Preloader& preloader() { return *preloader_; }
  LearnedPreloader& learned() { return *learned_; }
  // POST /v1/models/{id}/hint: see LearnedPreloader::hint; a yes wakes the preload thread.
  Result<PreloadDecision> hint(const std::string& id);
  MemoryMonitor& monitor() { return *monitor_; }
  HashWorker& hasher() { return *hasher_; }
  SettingsStore& settings() { return *settings_; }
  BackgroundWorker& worker() { return *worker_; }
  const ManagerConfig& config() const { return config_; }

 private:
  Manager() = default;
  void add_jobs(const WallClock& wall_clock);
  Result<JobOutcome> rescan_job();
  void preload_loop();
  // Makes the cache and preloader follow the pin and preload settings of `ids`.
  void apply_settings(const std::vector<std::string>& ids);
  void on_settings_changed(const SettingsChange& change);

  ManagerConfig config_;
  const Clock* clock_ = nullptr;
  std::unique_ptr<EventBus> events_;
  std::unique_ptr<Registry> registry_;
  std::unique_ptr<SettingsStore> settings_;  // before the cache, whose keep-alive reads it
  std::unique_ptr<ModelCache> cache_;
  std::unique_ptr<Preloader> preloader_;
  std::unique_ptr<LearnedPreloader> learned_;
  const WallClock* wall_clock_ = nullptr;
  std::unique_ptr<MemoryMonitor> monitor_;
  std::unique_ptr<HashWorker> hasher_;
  std::unique_ptr<BackgroundWorker> worker_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false, started_ = false, scanned_ = false, wake_preload_ = false;
  std::thread preloading_;
  std::mutex settings_mu_;
  std::set<std::string> pinned_by_settings_, preloaded_by_settings_;
};

}  // namespace hangar::manager
