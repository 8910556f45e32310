// ModelCache: which models are resident under a byte budget, who waits for memory, and why
// each model left.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "manager/admission.h"
#include "manager/event_bus.h"
#include "manager/eviction.h"
#include "manager/integrity.h"
#include "manager/model_loader.h"
#include "manager/model_record.h"
#include "manager/registry.h"

namespace hangar::manager {

struct CacheOptions {
  uint64_t budget_bytes = 0;  // 0 = no byte cap; the starting effective budget (see set_budget)
  // GPU memory, the first tier: GPU models live under this many GPU bytes, and an idle one that
  // must make room is demoted to host memory (counted in budget_bytes) rather than unloaded.
  // 0 = no GPU tier: nothing is demoted nor counted against a GPU cap.
  uint64_t gpu_budget_bytes = 0;
  std::string gpu_budget_reason;  // how it was reached (--gpu-memory-budget auto or a size), for stats
  int max_loaded = 0;         // 0 = no count cap
  EvictionPolicy policy = EvictionPolicy::kLru;
  int64_t keep_alive_ms = 5 * 60 * 1000;  // 0 = unload when idle; -1 = never
  int64_t rate_window_ms = 10 * 60 * 1000;  // "recent" for the cost policy's request rate
  // Requests that wait for memory: at most this many per model (more get kQueueFull), each for
  // at most queue_timeout_ms (then kQueueTimeout).
  int max_queue = 64;
  int64_t queue_timeout_ms = 60 * 1000;
  // How long a waiting model lets the busy models it needs keep taking new requests before
  // they drain (finish what they run, take no more, and go). 0: drain at once. A longer window
  // serves alternating models in larger batches with fewer swaps.
  int64_t swap_window_ms = 0;
  // The priority of a model (higher waits less); called outside the cache's lock, at each
  // request. Empty: every model has priority 0.
  std::function<int(const std::string& id)> priority_of;
  // A model's own keep-alive (its settings); nullopt or unset: keep_alive_ms. A request's
  // keep_alive still wins. Called under the cache's lock: it must not call into the cache.
  std::function<std::optional<int64_t>(const std::string& id)> keep_alive_for;
  // Called at each request for a known model (not for preloads), before it is looked up,
  // outside the cache's lock: the learned preloader's history. Empty: nothing.
  std::function<void(const std::string& id)> on_request;
};

struct AcquireOptions {
  std::optional<int64_t> keep_alive_ms;  // this request's keep-alive (Ollama's keep_alive)
  std::optional<int> priority;           // overrides CacheOptions::priority_of
  bool count_access = true;  // false for preloads: not a use of the model
  bool allow_evict = true;   // false for preloads: load only into free budget, never wait
};

// Why an acquire failed, so the API can pick a status code (404, 507, 429, 503, 409, 500).
enum class FailureKind {
  kNone, kUnknownModel, kInsufficientMemory, kQueueFull, kQueueTimeout, kIntegrity, kLoadFailed
};
struct AcquireFailure {
  FailureKind kind = FailureKind::kNone;
  // For kInsufficientMemory: the footprint, the budget, bytes in use, and how many of those
  // could not be evicted (pinned, or for a preload in flight and loading).
  uint64_t needed_bytes = 0, budget_bytes = 0, used_bytes = 0, unevictable_bytes = 0;
  bool gpu = false;  // the numbers are GPU bytes: the model does not fit the GPU budget
  int64_t retry_after_s = 0;  // kQueueFull, kQueueTimeout: when trying again is sensible
};

class ModelCache;
class CacheLock;

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
  // Host and GPU bytes, measured after load; what is reserved while it loads or is copied
  // between the tiers (a demotion reserves its host copy, a promotion its GPU bytes).
  uint64_t bytes = 0;
  uint64_t gpu_bytes = 0;
  ModelTier tier = ModelTier::kDisk;  // where its weights are (loading: disk)
  bool pinned = false;
  int in_flight = 0;
  int waiting = 0;              // requests queued for it
  bool draining = false;        // takes no new requests: a waiting model needs its memory
  bool reload_pending = false;  // its settings changed: it goes when its requests end
  int priority = 0;
  int64_t loaded_at_ms = 0, last_used_ms = 0;  // cache clock
  int64_t expires_in_ms = -1;                  // -1: no expiry pending
  int64_t last_load_ms = 0;                    // duration of the last load
  std::string last_error;                      // of the last failed load
  std::string last_eviction;                   // eviction_reason_name of the last unload, or ""
  int64_t hits = 0, misses = 0;                // requests since start: found it loaded / did not
};

// One unload, for the record in stats.
struct EvictionRecord {
  std::string id;
  EvictionReason reason = EvictionReason::kPolicy;
  uint64_t bytes = 0;
  int64_t at_ms = 0;     // cache clock
  std::string detail;    // e.g. "to make room for 'b'"
};

struct CacheStats {
  int64_t hits = 0, misses = 0;
  std::array<int64_t, kEvictionReasonCount> unloads{};  // by EvictionReason
  int64_t loads = 0, load_failures = 0;
  // The GPU tier: copies between GPU and host memory (not loads), and their fake-able duration.
  int64_t promotions = 0, demotions = 0, promotion_failures = 0, total_promote_ms = 0;
  int64_t total_load_ms = 0, last_load_ms = 0;
  // Queueing: requests that had to wait, their total wait, those refused (queue full) and
  // those that gave up (timeout).
  int64_t queued = 0, queue_wait_ms = 0, queue_full = 0, queue_timeouts = 0;
  int waiting = 0;  // waiting now
  int64_t unloads_for(EvictionReason r) const { return unloads[static_cast<int>(r)]; }
  double hit_rate() const { return hits + misses ? double(hits) / double(hits + misses) : 0.0; }
  double avg_load_ms() const { return loads ? double(total_load_ms) / double(loads) : 0.0; }
  uint64_t bytes_used = 0, bytes_budget = 0;  // bytes_budget: the effective budget
  std::string budget_reason;                  // why the effective budget is what it is
  uint64_t gpu_bytes_used = 0, gpu_bytes_budget = 0;  // gpu_bytes_budget 0: no GPU tier
  std::string gpu_budget_reason;
  int loaded = 0, max_loaded = 0;  // loaded counts loading ones too
  std::vector<ModelStatus> models;  // every model the cache has seen, by id
  std::vector<EvictionRecord> recent_evictions;  // the latest, oldest first
};

// What admission would count for a model, and whether that is a measurement.
struct AdmissionFigure {
  LoadPlan plan;                      // the loader's plan (estimate, settings, vocab, context)
  uint64_t bytes = 0;                 // measured footprint when known, else the estimate
  std::optional<Footprint> measured;  // under the plan's settings, for this file version
};

// GET /v1/models/{id}/fit: could it be loaded now, and what would go.
struct FitReport {
  bool fits = false;               // now, after evicting `evict`
  bool loaded = false;             // already resident (fits, nothing to evict)
  std::vector<std::string> evict;  // idle models, in the order they would go
  std::vector<std::string> drain;  // busy models that would have to finish first (fits false)
  uint64_t needed_bytes = 0, free_bytes = 0, budget_bytes = 0;
  bool measured = false;           // needed_bytes is a measured footprint
  std::string reason;              // why not, when it does not fit
  // The GPU tier (a GPU model under a GPU budget): its GPU bytes, and the idle GPU models that
  // would be demoted to host memory for it (busy ones it would wait for are in `drain`).
  uint64_t gpu_needed_bytes = 0;
  std::vector<std::string> demote;
};

// GET /health/ready?model=ID: could a request for the model be taken now. A dry run: no access
// is counted, nothing loads, no keep-alive changes.
struct Readiness {
  bool ready = false;
  FailureKind kind = FailureKind::kNone;  // why not: unknown, insufficient memory, queue full, load failed
  std::string reason;                     // empty when ready
  ModelState state = ModelState::kUnloaded;
  int in_flight = 0, waiting = 0;
};

// Thread-safe: HTTP threads call acquire() concurrently.
//  - Single flight: concurrent acquires of one unloaded model load it once.
//  - A request finds its model loaded and takes a lease at once, whatever other models do;
//    loads of different models run in parallel, outside the lock.
//  - A model that does not fit waits in its model's queue (arrival order, bounded, with a
//    timeout). Memory goes to waiting models by priority, then arrival; a model that fits
//    without taking memory an earlier waiter needs is loaded at once (no head-of-line
//    blocking). Busy models a waiter needs drain after the swap window; idle ones are evicted
//    by the policy. Models with requests in flight and pinned models are never evicted.
//  - Admission counts a model's measured footprint (registry) when one exists for its
//    settings, else the loader's estimate; each load's measurement is stored.
//  - Only a model larger than the budget (less pinned models) fails at once
//    (kInsufficientMemory).
// Time comes only from the injected clock; tick() applies keep-alive expiry and queue
// timeouts. Waiting threads also wake on their own after their remaining time (real time),
// so a steady clock needs no ticks for timeouts. The registry, loader, clock and event bus
// must outlive the cache; leases must not.
class ModelCache {
 public:
  ModelCache(Registry& registry, ModelLoader& loader, const Clock& clock, CacheOptions options,
             EventBus* events = nullptr);
  ~ModelCache();
  ModelCache(const ModelCache&) = delete;
  ModelCache& operator=(const ModelCache&) = delete;

  // Returns a lease on the loaded model, loading it first or waiting for memory if needed
  // (blocking this thread). Errors: unknown model, never fits, queue full, queue timeout,
  // integrity mismatch, load failure; `failure` (optional) gets the kind and numbers.
  Result<Lease> acquire(const std::string& id, const AcquireOptions& options = {},
                        AcquireFailure* failure = nullptr);
  // Loads without holding it (POST /load, preloads). A keep-alive of 0 lets it go at the next
  // tick() rather than at once.
  Status load(const std::string& id, const AcquireOptions& options, AcquireFailure* failure = nullptr);
  // Unloads now, recording `reason`. Errors for a model in flight, loading or pinned;
  // unloading an unloaded model is not an error.
  Status unload(const std::string& id, EvictionReason reason = EvictionReason::kManual);
  // The engine sizes of `ids` changed (settings: ctx, parallel, batch_tokens, threads, ...). An
  // idle one is unloaded now (reason kSettings); a busy or loading one takes no new requests
  // (they queue) and is unloaded when its last request ends. The next request loads it with
  // the new sizes. Pinned models too: they stay pinned. Returns the ids unloaded now.
  std::vector<std::string> unload_for_settings(const std::vector<std::string>& ids);
  // A pinned model is never evicted nor expired (it may be unloaded or pinned while unloaded).
  // A persisted pin (the user's: POST /pin) is written to the registry and restored by the next
  // cache over it; an unpersisted one (from the settings file, which is read again at start)
  // lives in memory only, and unpin(id, false) leaves a persisted pin in place.
  Status pin(const std::string& id, bool persist = true);
  Status unpin(const std::string& id, bool persist = true);

  // Unloads idle models whose keep-alive ran out and ends the waits that timed out. Returns
  // how many models it unloaded.
  int tick();
  // Sets the effective budget (memory that follows the machine) and why; when it falls below
  // what is resident, idle unpinned models go by policy (reason kPressure) until it fits or
  // none is left. Returns the bytes freed; appends the ids to `unloaded` when given.
  uint64_t set_budget(uint64_t bytes, const std::string& reason,
                      std::vector<std::string>* unloaded = nullptr);

  // What admission counts for `id`; error for an unknown model.
  Result<AdmissionFigure> admission(const std::string& id);
  // The same for a record already in hand (listing many models: no registry lookup each).
  AdmissionFigure admission(const ModelRecord& rec);
  // The dry run of an acquire now; changes nothing. Error for an unknown model.
  Result<FitReport> fit(const std::string& id);
  // Whether a request for `id` would be taken now (not refused at once); changes nothing.
  Readiness readiness(const std::string& id);
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
  uint64_t budget_bytes() const;  // effective
  uint64_t used_bytes() const;    // resident and loading
  uint64_t gpu_used_bytes() const;  // GPU bytes of resident and loading models
  EventBus* events() const { return events_; }

 private:
  struct Waiter;
  struct Entry;
  friend class Lease;
  void release(const std::string& id, std::optional<int64_t> keep_alive_ms, bool unload_if_zero);
  int64_t default_keep_alive(const std::string& id) const;

  // model_cache.cc: requests, loads and leases.
  Result<Lease> wait_for_model(const std::string& id, Entry& e, Waiter& w, CacheLock& guard,
                               const AcquireOptions& options, AcquireFailure* f);
  void run_load(const std::string& id, Entry& e, std::unique_lock<std::mutex>& lock);
  void record_footprint(const ModelRecord& rec, const AdmissionFigure& figure, uint64_t measured);
  Lease lease_for(const std::string& id, Entry& e, const AcquireOptions& options);  // counts it in flight
  Lease make_lease(const std::string& id, const Entry& e, const AcquireOptions& options);  // counted already
  // Why a request for this record cannot be served whatever the cache holds (unknown, gone,
  // unreadable header); acquire() and readiness() answer alike.
  static Status check_record(const std::string& id, const std::optional<ModelRecord>& rec, FailureKind* kind);
  Entry& entry_locked(const std::string& id, const ModelRecord& rec);
  Status admit_now_locked(const std::string& id, Entry& e, bool allow_evict, AcquireFailure* f);
  Status never_fits_locked(const std::string& id, const AdmissionFigure& figure, AcquireFailure* f) const;

  // model_cache_queue.cc: who gets memory.
  void schedule_locked();
  void grant_waiters_locked(Entry& e);
  void start_load_locked(const std::string& id, Entry& e, const std::vector<std::string>& victims,
                         const std::string& for_whom);
  std::vector<FitCandidate> candidates_locked(bool with_busy, int max_priority, const std::string& except,
                                              std::vector<std::string>* ids);
  FitRequest fit_request_locked(uint64_t needed, int models) const;
  uint64_t shrink_to_budget_locked(EvictionReason reason, const std::string& except, const std::string& detail,
                                   std::vector<std::string>* ids);

  // model_cache_tier.cc: the GPU tier (demotions to host memory, promotions back).
  uint64_t gpu_need_locked(const Entry& e) const;
  uint64_t gpu_used_locked() const;
  std::vector<FitCandidate> gpu_candidates_locked(bool with_busy, int max_priority, const std::string& except,
                                                  std::vector<std::string>* ids);
  std::vector<FitCandidate> tier_candidates_locked(bool gpu, bool with_busy, int max_priority,
                                                  const std::string& except, std::vector<std::string>* ids);
  FitRequest gpu_fit_request_locked(uint64_t needed) const;
  // The GPU side of admitting `id` (needing `need` GPU bytes) in the scheduler's pass: true when
  // it fits now once `victims` (idle GPU models, by policy) leave the GPU; otherwise it may claim
  // the busy ones that hold the room (they drain when `swap_due`). `gone`, `gone_gpu`: models
  // (and their GPU bytes) that leave memory for this load anyway. `gpu_future`: the GPU once the
  // claims ranked before it are carried out.
  bool plan_gpu_locked(const std::string& id, const Entry& e, uint64_t need, uint64_t gone_gpu,
                       const std::set<std::string>& gone, FitRequest& gpu_future, std::set<std::string>& claimed,
                       std::set<std::string>& drain, bool swap_due, std::vector<std::string>* victims);
  // Moves `victims` (idle GPU models) off the GPU for `id`: each is unloaded now when the host
  // budget cannot take its copy (idle host models go by policy to make host room), else marked
  // demoting with its copy's host bytes reserved and appended to `to_demote`. Returns the
  // change in host bytes counted.
  int64_t vacate_gpu_locked(const std::string& id, const std::vector<std::string>& victims,
                            std::vector<std::string>* to_demote);
  // Runs the demotions vacate_gpu_locked marked, each outside the lock (a copy over the bus).
  void run_demotions(std::vector<std::string> victims, std::unique_lock<std::mutex>& lock);
  // Marks idle GPU models for demotion by policy until the GPU budget holds what is resident
  // (after a measured load, or a promotion that took more than it held before); the caller
  // runs them.
  std::vector<std::string> shrink_gpu_locked(const std::string& except, const std::string& detail);
  // Admits a demoted model back to the GPU (its GPU bytes reserved, `victims` vacated); the
  // first of its waiters to wake runs run_promotion outside the lock.
  void start_promotion_locked(const std::string& id, Entry& e, const std::vector<std::string>& victims);
  void run_promotion(const std::string& id, Entry& e, std::unique_lock<std::mutex>& lock);
  Status never_fits_gpu_locked(const std::string& id, uint64_t need, AcquireFailure* f) const;
  // fit()'s GPU side for `id` needing `need` GPU bytes, once `r.evict` are gone.
  void gpu_fit_locked(const std::string& id, uint64_t need, int priority, FitReport& r);
  void refresh_bytes_locked(Entry& e);

  // model_cache_control.cc: unloads and reports.
  void unload_entry_locked(const std::string& id, Entry& e, EvictionReason reason, const std::string& detail);
  uint64_t used_bytes_locked() const;
  int resident_count_locked() const;
  double requests_per_min_locked(Entry& e, int64_t now);
  ModelStatus status_locked(const std::string& id, const Entry& e, int64_t now) const;
  void publish(ModelEvent ev);

  Registry& registry_;
  ModelLoader& loader_;
  const Clock& clock_;
  const CacheOptions options_;
  EventBus* const events_;
  mutable std::mutex mu_;
  std::condition_variable changed_;  // any state change that a waiting request may care about
  std::unordered_map<std::string, std::unique_ptr<Entry>> entries_;
  uint64_t budget_ = 0;  // effective
  std::string budget_reason_;
  uint64_t next_waiter_seq_ = 0;
  // Only the counters are kept here; the rest, hits and misses included (the sum of the
  // entries'), is computed in stats().
  CacheStats counters_;
  std::deque<EvictionRecord> recent_evictions_;
  // Models evicted under the lock are destroyed after it is released (their scheduler
  // threads join): every public method clears this on the way out.
  std::vector<std::shared_ptr<LoadedModel>> dropped_;
  int leases_out_ = 0;
};

}  // namespace hangar::manager
