// ModelCache: which models are resident, under a byte budget, with leases, pins and keep-alive.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "manager/model_loader.h"
#include "manager/model_record.h"
#include "manager/registry.h"

namespace hangar::manager {

struct CacheOptions {
  uint64_t budget_bytes = 0;  // 0 = no byte cap
  int max_loaded = 0;         // 0 = no count cap
  EvictionPolicy policy = EvictionPolicy::kLru;
  int64_t keep_alive_ms = 5 * 60 * 1000;  // 0 = unload when idle; -1 = never
  int ctx = 0;                            // passed to ModelLoader::estimate_bytes
  int64_t rate_window_ms = 10 * 60 * 1000;  // "recent" for the cost policy's request rate
  // A model's own keep-alive (its settings); nullopt or unset: keep_alive_ms. A request's
  // keep_alive still wins.
  std::function<std::optional<int64_t>(const std::string& id)> keep_alive_for;
};

struct AcquireOptions {
  std::optional<int64_t> keep_alive_ms;  // this request's keep-alive (Ollama's keep_alive)
  bool count_access = true;  // false for preloads: not a use of the model
  bool allow_evict = true;   // false for preloads: load only into free budget
};

// Why an acquire failed, so the API can pick a status code (404, 507, 409, 500).
enum class FailureKind { kNone, kUnknownModel, kInsufficientMemory, kIntegrity, kLoadFailed };
struct AcquireFailure {
  FailureKind kind = FailureKind::kNone;
  // For kInsufficientMemory: the estimate, the budget, bytes in use, and how many of those
  // could not be evicted (in flight, pinned or loading).
  uint64_t needed_bytes = 0, budget_bytes = 0, used_bytes = 0, unevictable_bytes = 0;
};

class ModelCache;

// A request's hold on a loaded model: while any lease on a model lives, it is never evicted.
// Destroying or release()-ing it records the last use and starts the keep-alive timer.
// Movable; must not outlive its cache. Not thread-safe itself (one owner).
class Lease {
 public:
  Lease() = default;
  Lease(Lease&& other) noexcept { *this = std::move(other); }
  Lease& operator=(Lease&& other) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease() { release(); }

  explicit operator bool() const { return model_ != nullptr; }
  const std::string& id() const { return id_; }
  LoadedModel& model() const { return *model_; }
  const std::shared_ptr<LoadedModel>& shared_model() const { return model_; }
  void release();

 private:
  friend class ModelCache;
  ModelCache* cache_ = nullptr;
  std::string id_;
  std::shared_ptr<LoadedModel> model_;
  std::optional<int64_t> keep_alive_ms_;
  bool unload_if_zero_ = true;  // keep-alive 0 unloads at once (false: at the next tick)
};

struct ModelStatus {
  std::string id;
  ModelState state = ModelState::kUnloaded;
  uint64_t bytes = 0;           // measured after load (reserved estimate while loading)
  bool pinned = false;
  int in_flight = 0;
  int64_t loaded_at_ms = 0, last_used_ms = 0;  // cache clock
  int64_t expires_in_ms = -1;                  // -1: no expiry pending
  int64_t last_load_ms = 0;                    // duration of the last load
  std::string last_error;                      // of the last failed load
};

struct CacheStats {
  int64_t hits = 0, misses = 0;
  int64_t evictions = 0;          // to make room (budget or count)
  int64_t expirations = 0;        // keep-alive ran out
  int64_t pressure_unloads = 0;   // memory monitor
  int64_t manual_unloads = 0;     // unload()
  int64_t loads = 0, load_failures = 0;
  int64_t total_load_ms = 0, last_load_ms = 0;
  double hit_rate() const { return hits + misses ? double(hits) / double(hits + misses) : 0.0; }
  double avg_load_ms() const { return loads ? double(total_load_ms) / double(loads) : 0.0; }
  uint64_t bytes_used = 0, bytes_budget = 0;
  int loaded = 0, max_loaded = 0;  // loaded counts loading ones too
  std::vector<ModelStatus> models;  // every model the cache has seen, by id
};

// Thread-safe: HTTP threads call acquire() concurrently; concurrent acquires of one unloaded
// model load it once (the others wait for that load). Loads of different models run in
// parallel, outside the lock. Admission is decided from the loader's estimate before a load:
// idle, unpinned models are evicted by the policy until the new one fits; if it cannot fit
// even then, acquire fails at once and nothing is evicted. Memory used is re-measured after
// each load. Time comes only from the injected clock; tick() applies keep-alive expiry.
// The registry, loader and clock must outlive the cache; leases must not.
class ModelCache {
 public:
  ModelCache(Registry& registry, ModelLoader& loader, const Clock& clock, CacheOptions options);
  ~ModelCache();
  ModelCache(const ModelCache&) = delete;
  ModelCache& operator=(const ModelCache&) = delete;

  // Returns a lease on the loaded model, loading it first if needed (blocking this thread).
  // Errors: unknown model, insufficient memory (with the numbers), integrity mismatch, load
  // failure; `failure` (optional) gets the kind and numbers.
  Result<Lease> acquire(const std::string& id, const AcquireOptions& options = {},
                        AcquireFailure* failure = nullptr);
  // Loads without holding it (POST /load, preloads). A keep-alive of 0 lets it go at the next
  // tick() rather than at once.
  Status load(const std::string& id, const AcquireOptions& options, AcquireFailure* failure = nullptr);
  // Unloads now. Errors for a model in flight, loading or pinned; unloading an unloaded
  // model is not an error.
  Status unload(const std::string& id);
  // A pinned model is never evicted nor expired (it may be unloaded or pinned while unloaded).
  Status pin(const std::string& id);
  Status unpin(const std::string& id);

  // Unloads idle models whose keep-alive ran out. Returns how many.
  int tick();
  // Unloads idle, unpinned models by policy until at least `bytes` are freed (or none left).
  // Returns the bytes freed; appends the ids to `unloaded` when given.
  uint64_t unload_for_pressure(uint64_t bytes, std::vector<std::string>* unloaded = nullptr);

  // The loader's estimate for `id` with the cache's ctx; error for an unknown model.
  Result<uint64_t> estimate_bytes(const std::string& id);
  // The same for a record already in hand (listing many models: no registry lookup each).
  uint64_t estimate_bytes(const ModelRecord& rec) { return loader_.estimate_bytes(rec, options_.ctx); }
  // Whether `bytes` more, in `models` more models, fit the budget and count caps without
  // evicting anything.
  bool fits_without_eviction(uint64_t bytes, int models = 1) const;
  bool is_loaded(const std::string& id) const;
  // The models loaded now with their ids, for background clean-up (holding one keeps it alive,
  // not leased).
  std::vector<std::pair<std::string, std::shared_ptr<LoadedModel>>> loaded_models() const;

  CacheStats stats() const;
  std::optional<ModelStatus> status(const std::string& id) const;
  const CacheOptions& options() const { return options_; }

 private:
  struct Entry {
    ModelState state = ModelState::kUnloaded;
    std::shared_ptr<LoadedModel> model;
    uint64_t bytes = 0;     // measured, while loaded
    uint64_t reserved = 0;  // the estimate, while loading
    int in_flight = 0;
    bool pinned = false;
    int64_t loaded_at_ms = 0, last_used_ms = 0;
    int64_t expires_at_ms = -1;  // -1: no expiry pending
    int64_t last_load_ms = 0;
    int64_t access_count = 0;
    std::deque<int64_t> recent;  // request times within the rate window
    uint64_t generation = 0;     // bumped whenever a load finishes, to wake waiters
    bool last_load_ok = false;
    std::string last_error;
    FailureKind last_failure = FailureKind::kNone;
  };
  friend class Lease;
  void release(const std::string& id, std::optional<int64_t> keep_alive_ms, bool unload_if_zero);
  // Caller holds mu_. Evicts by policy so that `bytes` more fit; nothing changes on failure.
  Status admit_locked(const std::string& id, uint64_t bytes, bool allow_evict,
                      std::vector<std::shared_ptr<LoadedModel>>* dropped,
                      AcquireFailure* failure);
  uint64_t evict_idle_locked(uint64_t bytes, const std::string& except, int64_t* counter,
                             std::vector<std::shared_ptr<LoadedModel>>* dropped,
                             std::vector<std::string>* ids);
  void unload_entry_locked(Entry& e, std::vector<std::shared_ptr<LoadedModel>>* dropped);
  uint64_t used_bytes_locked() const;
  int64_t default_keep_alive(const std::string& id) const;
  int resident_count_locked() const;
  double requests_per_min_locked(Entry& e, int64_t now);
  ModelStatus status_locked(const std::string& id, const Entry& e, int64_t now) const;
  Result<Lease> load_and_lease(const std::string& id, const ModelRecord& rec, uint64_t estimate,
                               std::unique_lock<std::mutex>& lock,
                               const AcquireOptions& options, AcquireFailure* failure);
  Entry& entry_locked(const std::string& id, const ModelRecord& rec);
  Lease make_lease_locked(const std::string& id, Entry& e, const AcquireOptions& options);

  Registry& registry_;
  ModelLoader& loader_;
  const Clock& clock_;
  const CacheOptions options_;
  mutable std::mutex mu_;
  std::condition_variable load_done_;
  std::unordered_map<std::string, std::unique_ptr<Entry>> entries_;
  CacheStats counters_;  // only the counters are kept here; the rest is computed in stats()
  int leases_out_ = 0;
};

}  // namespace hangar::manager
