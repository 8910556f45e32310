// The budget rule (pure) and the monitor that applies it to the cache.
#include "manager/memory_monitor.h"

#include <algorithm>

#include "base/log.h"
#include "manager/units.h"

namespace hangar::manager {

PressureDecision assess_pressure(const MemorySnapshot& s, const PressureOptions& options) {
  PressureDecision d;
  uint64_t min_avail = options.min_available_bytes;
  if (min_avail == 0) {
    min_avail = std::clamp<uint64_t>(s.system_total / 20, uint64_t{256} << 20, uint64_t{4} << 30);
  }
  std::string spare_why;
  if (s.system_total != 0) {
    d.known = true;
    d.spare_bytes = static_cast<int64_t>(s.system_available) - static_cast<int64_t>(min_avail);
    spare_why = "system available " + format_bytes(s.system_available) + ", reserve " + format_bytes(min_avail);
    if (s.system_available < min_avail) {
      d.reason = "system available memory " + format_bytes(s.system_available) + " is below " +
                 format_bytes(min_avail);
    }
  }
  if (s.cgroup_limit && s.cgroup_current) {
    const auto high = static_cast<uint64_t>(static_cast<double>(*s.cgroup_limit) * options.cgroup_high_fraction);
    const int64_t cg_spare = static_cast<int64_t>(high) - static_cast<int64_t>(*s.cgroup_current);
    if (!d.known || cg_spare < d.spare_bytes) {
      d.spare_bytes = cg_spare;
      spare_why = "cgroup usage " + format_bytes(*s.cgroup_current) + " of " + format_bytes(high);
    }
    d.known = true;
    if (*s.cgroup_current > high) {
      if (!d.reason.empty()) d.reason += "; ";
      d.reason += "cgroup usage " + format_bytes(*s.cgroup_current) + " is above " + format_bytes(high) +
                  " of its " + format_bytes(*s.cgroup_limit) + " limit";
    }
  }
  if (d.known && d.spare_bytes < 0) {
    d.under_pressure = true;
    d.bytes_to_free = static_cast<uint64_t>(-d.spare_bytes);
  } else if (d.known) {
    d.reason = spare_why;
  }
  return d;
}

BudgetDecision decide_budget(const MemorySnapshot& s, uint64_t configured, uint64_t used,
                             const PressureOptions& options) {
  BudgetDecision b;
  uint64_t cap = configured;
  if (options.auto_budget) {
    cap = auto_memory_budget(s, options.auto_fraction);
    b.reason = "auto: " + std::to_string(static_cast<int>(options.auto_fraction * 100 + 0.5)) + "% of the " +
               format_bytes(s.process_rss + s.headroom()) + " this process can have (RSS " +
               format_bytes(s.process_rss) + " + " + format_bytes(s.headroom()) + " available)";
  } else {
    b.reason = cap != 0 ? "fixed: --memory-budget " + format_bytes(cap) : "no budget";
  }
  b.effective = cap;
  const PressureDecision d = assess_pressure(s, options);
  if (!d.known) return b;
  const int64_t machine = std::max<int64_t>(static_cast<int64_t>(used) + d.spare_bytes, 0);
  if (cap == 0 || static_cast<uint64_t>(machine) < cap) {
    // A budget of 0 means "no cap"; what the machine can give is never that, so keep it >= 1.
    b.effective = std::max<uint64_t>(static_cast<uint64_t>(machine), 1);
    b.reason = d.under_pressure
                   ? "memory pressure (" + d.reason + "): " + format_bytes(used) + " resident less " +
                         format_bytes(d.bytes_to_free)
                   : "what the machine can give: " + format_bytes(used) + " resident + " +
                         format_bytes(static_cast<uint64_t>(d.spare_bytes)) + " spare (" + d.reason + ")";
  }
  return b;
}

PressureDecision MemoryMonitor::check(std::vector<std::string>* unloaded) {
  const MemorySnapshot snapshot = reader_.read();
  const PressureDecision d = assess_pressure(snapshot, options_);
  const BudgetDecision b = decide_budget(snapshot, cache_.options().budget_bytes, cache_.used_bytes(), options_);
  std::vector<std::string> ids;
  const uint64_t freed = cache_.set_budget(b.effective, b.reason, &ids);
  if (d.under_pressure) {
    std::string list;
    for (const std::string& id : ids) list += (list.empty() ? "" : ", ") + id;
    if (freed < d.bytes_to_free) {
      log_warn("memory pressure (" + d.reason + "): unloaded " + (ids.empty() ? std::string("nothing") : list) +
               ", " + format_bytes(freed) + "; the rest is held by models in flight or pinned");
    } else {
      log_warn("memory pressure (" + d.reason + "): unloaded " + list);
    }
  }
  {
    std::lock_guard lock(mu_);
    stats_.checks += 1;
    stats_.last = snapshot;
    stats_.effective_budget = b.effective;
    stats_.budget_reason = b.reason;
    if (d.under_pressure) {
      stats_.pressure_events += 1;
      stats_.models_unloaded += static_cast<int64_t>(ids.size());
      stats_.bytes_freed += freed;
      stats_.last_reason = d.reason;
    }
  }
  if (unloaded != nullptr) unloaded->insert(unloaded->end(), ids.begin(), ids.end());
  return d;
}

MonitorStats MemoryMonitor::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace hangar::manager
