// ModelCache internals shared by its three source files: one model's entry, one waiting request,
// and the lock that frees evicted models only after it is released.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "manager/model_cache.h"

namespace hangar::manager {

// A request waiting in its model's queue; lives on the waiting thread's stack.
struct ModelCache::Waiter {
  uint64_t seq = 0;
  int64_t arrived_ms = 0, deadline_ms = 0;
  bool granted = false;   // a lease was counted for it (in_flight); it only has to take it
  bool failed = false;    // its model's load failed: `error`, `failure`
  bool announced = false;  // a "queued" event was published for it
  std::string error;
  FailureKind failure = FailureKind::kNone;
};

struct ModelCache::Entry {
  ModelState state = ModelState::kUnloaded;
  std::shared_ptr<LoadedModel> model;
  uint64_t bytes = 0;     // measured, while loaded
  uint64_t reserved = 0;  // the admission figure, while loading
  // The GPU tier: GPU bytes now (measured), the GPU figure while loading, and the GPU bytes a
  // demoted model held on the GPU (what promoting it needs).
  uint64_t gpu_bytes = 0, gpu_reserved = 0, gpu_home = 0;
  bool demoted = false;  // loaded, its weights in host memory: a request promotes it first
  // A copy between GPU and host memory in progress, outside the lock (as a load is): the model
  // takes no request and is no candidate for anything until it ends. A demoting model's host
  // copy is reserved (`reserved`) and its GPU bytes still count; a promoting one's GPU bytes are
  // reserved (`gpu_reserved`).
  enum class Move { kNone, kDemoting, kPromoting };
  Move moving = Move::kNone;
  bool promote_pending = false;  // admitted to the GPU; the next of its waiters to wake promotes it
  // Models marked kDemoting to make room for this one: the thread that runs its load or
  // promotion demotes them first, outside the lock.
  std::vector<std::string> to_demote;
  AdmissionFigure figure;  // refreshed at each request: what admission counts
  int in_flight = 0;
  bool pinned = false;
  int priority = 0;          // as of its latest request
  bool draining = false;     // a waiting model needs its memory: new requests queue
  // Its engine sizes changed (settings): new requests queue, and it is unloaded (kSettings)
  // once its last request ends, so that the next load takes the new sizes.
  bool stale = false;
  bool load_pending = false;  // admitted; the next of its waiters to wake runs the load
  std::string admitted_for;  // why it was admitted (for the log)
  int64_t loaded_at_ms = 0, last_used_ms = 0;
  int64_t expires_at_ms = -1;  // -1: no expiry pending
  int64_t last_load_ms = 0;
  int64_t access_count = 0;
  int64_t hits = 0, misses = 0;  // this process's requests that found it loaded / did not
  std::deque<int64_t> recent;  // request times within the rate window
  std::string last_error;      // of the last failed load
  std::string last_eviction;   // eviction_reason_name of the last unload
  std::deque<Waiter*> queue;   // waiting requests, in arrival order (granted ones leave it)
  std::optional<FileIdentity> identity;  // of the file when it was loaded
};

// Holds the cache's lock; on destruction releases it and only then destroys the models that
// were evicted while it was held (their destructors join scheduler threads).
class CacheLock {
 public:
  CacheLock(std::mutex& mu, std::vector<std::shared_ptr<LoadedModel>>& dropped) : lock_(mu), dropped_(dropped) {}
  ~CacheLock() {
    std::vector<std::shared_ptr<LoadedModel>> doomed;
    if (lock_.owns_lock()) doomed.swap(dropped_);
    if (lock_.owns_lock()) lock_.unlock();
  }
  CacheLock(const CacheLock&) = delete;
  CacheLock& operator=(const CacheLock&) = delete;
  std::unique_lock<std::mutex>& get() { return lock_; }
  // Frees the evicted models now, unlocking around their destruction.
  void drop_now() {
    if (dropped_.empty()) return;
    std::vector<std::shared_ptr<LoadedModel>> doomed;
    doomed.swap(dropped_);
    lock_.unlock();
    doomed.clear();
    lock_.lock();
  }

 private:
  std::unique_lock<std::mutex> lock_;
  std::vector<std::shared_ptr<LoadedModel>>& dropped_;
};

}  // namespace hangar::manager
