// MemoryMonitor: the budget that follows the machine. Each check turns a memory reading into
// the cache's effective budget; when it falls below what is resident, idle models go.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "manager/memory_reader.h"
#include "manager/model_cache.h"

namespace hangar::manager {

struct PressureOptions {
  // The reserve left to the rest of the machine: below this much MemAvailable the system is
  // under pressure. 0 = 5% of MemTotal, at least 256 MiB and at most 4 GiB.
  uint64_t min_available_bytes = 0;
  // Above this fraction of the binding cgroup's memory.max the cgroup is under pressure (the
  // kernel OOM-kills at memory.max).
  double cgroup_high_fraction = 0.90;
  // --memory-budget auto: the budget's cap is `auto_fraction` of what this process can have
  // (its RSS plus the headroom), recomputed at every check. Otherwise the cap is the cache's
  // configured budget (CacheOptions::budget_bytes; 0 = none).
  bool auto_budget = false;
  double auto_fraction = 0.8;
};

struct PressureDecision {
  bool under_pressure = false;
  uint64_t bytes_to_free = 0;  // to get back to the thresholds
  // What the machine can still give beyond its reserve (negative: -bytes_to_free). Only
  // meaningful when `known`.
  int64_t spare_bytes = 0;
  bool known = false;  // the snapshot had numbers (a container without /proc has none)
  std::string reason;  // with the numbers, for the log
};

// Pure: what a snapshot means under the options.
PressureDecision assess_pressure(const MemorySnapshot& snapshot, const PressureOptions& options);

struct BudgetDecision {
  uint64_t effective = 0;  // 0 = no byte cap
  std::string reason;
};

// Pure: the one rule. effective = min(cap, used + spare): the cap is the configured budget or
// the auto fraction; `used` is what the cache holds now (resident and loading), so when other
// processes take memory the budget shrinks below `used` by exactly the shortfall, and it grows
// back as memory returns.
BudgetDecision decide_budget(const MemorySnapshot& snapshot, uint64_t configured, uint64_t used,
                             const PressureOptions& options);

struct MonitorStats {
  int64_t checks = 0, pressure_events = 0, models_unloaded = 0;
  uint64_t bytes_freed = 0;
  MemorySnapshot last;
  std::string last_reason;     // of the last pressure event
  uint64_t effective_budget = 0;
  std::string budget_reason;   // of the last check
};

// check() reads memory, sets the cache's effective budget and so, under pressure, makes the
// cache unload idle, unpinned models (by its eviction policy, reason memory_pressure) until the
// shortfall is covered. Models in flight or pinned stay; if that is not enough it logs a
// warning. Thread-safe; the manager calls check() periodically.
class MemoryMonitor {
 public:
  MemoryMonitor(ModelCache& cache, MemoryReader& reader, PressureOptions options)
      : cache_(cache), reader_(reader), options_(options) {}

  // Returns the pressure decision it acted on; `unloaded` (optional) receives the ids it
  // unloaded.
  PressureDecision check(std::vector<std::string>* unloaded = nullptr);
  MonitorStats stats() const;
  const PressureOptions& options() const { return options_; }

 private:
  ModelCache& cache_;
  MemoryReader& reader_;
  const PressureOptions options_;
  mutable std::mutex mu_;
  MonitorStats stats_;
};

}  // namespace hangar::manager
