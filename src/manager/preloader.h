// Preloader: loads a list of models ahead of requests, in a chosen order, rate-limited.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "manager/memory_reader.h"
#include "manager/model_cache.h"
#include "manager/registry.h"

namespace hangar::manager {

struct PreloadOptions {
  PreloadStrategy strategy = PreloadStrategy::kSequential;
  int batch = 1;           // models loaded (concurrently) per batch
  int64_t delay_ms = 100;  // pause between the end of one batch and the start of the next
  std::optional<int64_t> keep_alive_ms;  // for preloaded models; default: the cache's
  uint64_t memory_margin_bytes = 0;      // machine headroom to leave beyond the estimates
};

struct PreloadStats {
  int64_t queued = 0;       // waiting in the queue now
  int64_t in_progress = 0;  // being loaded now
  int64_t waiting_for_memory = 0;  // queued items that did not fit at the last step
  int64_t loaded = 0, failed = 0;
  int64_t skipped = 0;      // already loaded when their turn came
  double success_rate() const { return loaded + failed ? double(loaded) / double(loaded + failed) : 0.0; }
};

// A queue of models to load, never holding one model twice and never loading one while it is
// being loaded. step() runs one batch when it is due: it takes up to `batch` queued models in
// strategy order (sequential: as queued; frequency: most accessed first; recency: most
// recently accessed first; size: smallest file first) whose estimate fits both the cache's
// free budget (a preload never evicts) and the machine's real headroom (MemoryReader); others
// wait for a later step. A model that can never fit the budget fails. Thread-safe; step() is
// meant for one driving thread (the manager's, or a test with a fake clock).
class Preloader {
 public:
  Preloader(Registry& registry, ModelCache& cache, MemoryReader& memory, const Clock& clock,
            PreloadOptions options);

  // Queues `id`. Returns true when newly queued, false when it was already queued or loading;
  // an error for an unknown model.
  Result<bool> enqueue(const std::string& id);
  // Queues the persisted preload list, then the pinned models not on it (at start); absent
  // models count as failed. Returns how many were queued.
  int enqueue_saved_list();
  // Adds to (removes from) the persisted list and queues (dequeues) the model.
  Status add_to_list(const std::string& id);
  Status remove_from_list(const std::string& id);

  // Runs one batch if now >= next_due_ms() and returns how many loads it attempted.
  int step();
  int64_t next_due_ms() const;
  // Queued ids in the order the strategy would take them now.
  std::vector<std::string> order() const;
  bool idle() const;  // nothing queued and nothing loading
  PreloadStats stats() const;
  const PreloadOptions& options() const { return options_; }

 private:
  struct Item {
    std::string id;
    uint64_t seq = 0;  // queue order, for sequential and for ties
  };
  std::vector<Item> ordered_locked() const;
  void remove_locked(const std::string& id);

  Registry& registry_;
  ModelCache& cache_;
  MemoryReader& memory_;
  const Clock& clock_;
  const PreloadOptions options_;
  mutable std::mutex mu_;
  std::vector<Item> queue_;
  std::set<std::string> in_progress_;
  uint64_t next_seq_ = 0;
  int64_t next_due_ms_ = 0;
  PreloadStats counters_;
};

}  // namespace hangar::manager
