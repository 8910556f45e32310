// Eviction policies (which idle model goes first: LRU, LFU, FIFO, or lowest reload cost) and
// the reasons a model is unloaded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "manager/model_record.h"

namespace hangar::manager {

// Why a model left memory. Every unload records one (stats, /metrics, the event stream).
enum class EvictionReason {
  kPolicy,     // made room for another model (the eviction policy chose it)
  kKeepAlive,  // idle for longer than its keep-alive
  kPressure,   // the machine ran short: the effective budget fell below what was resident
  kManual,     // DELETE /v1/models/{id}
  kSettings,   // its settings changed in a way that needs a reload
  kFileChanged,  // its weights are the file's pages and the file changed or was truncated
};
constexpr int kEvictionReasonCount = 6;
// "policy", "keep_alive", "memory_pressure", "manual", "settings_change", "file_changed".
const char* eviction_reason_name(EvictionReason r);

// What a policy may look at for one idle, unpinned, loaded model.
struct EvictionCandidate {
  std::string id;
  uint64_t bytes = 0;
  int64_t last_used_ms = 0;   // cache clock
  int64_t loaded_at_ms = 0;   // cache clock
  int64_t access_count = 0;   // persisted, all time
  int64_t load_ms = 0;        // measured duration of its last load
  double requests_per_min = 0;  // recent request rate
};

// Reload cost for the `cost` policy: measured load time x recent request rate, i.e. the
// milliseconds per minute of future loading that evicting this model is expected to cause.
double eviction_cost(const EvictionCandidate& c);

// Returns indexes into `candidates`, the first to evict first:
//   lru:  oldest last use;  lfu: fewest accesses;  fifo: earliest loaded;
//   cost: lowest eviction_cost().
// Ties fall back to least recently used, then to id, so the order is deterministic.
std::vector<size_t> eviction_order(EvictionPolicy policy,
                                   const std::vector<EvictionCandidate>& candidates);

}  // namespace hangar::manager
