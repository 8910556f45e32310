// MemoryMonitor: unloads idle models when the machine or our cgroup runs short of memory.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "manager/memory_reader.h"
#include "manager/model_cache.h"

namespace hangar::manager {

struct PressureOptions {
  // Below this much MemAvailable the system is under pressure. 0 = 5% of MemTotal, at least
  // 256 MiB and at most 4 GiB.
  uint64_t min_available_bytes = 0;
  // Above this fraction of the binding cgroup's memory.max the cgroup is under pressure (the
  // kernel OOM-kills at memory.max).
  double cgroup_high_fraction = 0.90;
};

struct PressureDecision {
  bool under_pressure = false;
  uint64_t bytes_to_free = 0;  // to get back to the thresholds
  std::string reason;          // with the numbers, for the log
};

// Pure: what a snapshot means under the options.
PressureDecision assess_pressure(const MemorySnapshot& snapshot, const PressureOptions& options);

struct MonitorStats {
  int64_t checks = 0, pressure_events = 0, models_unloaded = 0;
  uint64_t bytes_freed = 0;
  MemorySnapshot last;
  std::string last_reason;
};

// check() reads memory, and under pressure asks the cache to unload idle, unpinned models (by
// its eviction policy) until the shortfall is covered. Models in flight or pinned stay; if
// that is not enough it logs a warning. Thread-safe; the manager calls check() periodically.
class MemoryMonitor {
 public:
  MemoryMonitor(ModelCache& cache, MemoryReader& reader, PressureOptions options)
      : cache_(cache), reader_(reader), options_(options) {}

  // Returns the decision it acted on; `unloaded` (optional) receives the ids it unloaded.
  PressureDecision check(std::vector<std::string>* unloaded = nullptr);
  MonitorStats stats() const;

 private:
  ModelCache& cache_;
  MemoryReader& reader_;
  const PressureOptions options_;
  mutable std::mutex mu_;
  MonitorStats stats_;
};

}  // namespace hangar::manager
