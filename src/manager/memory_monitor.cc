// Memory pressure decisions and pressure unloads.
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
  if (s.system_total != 0 && s.system_available < min_avail) {
    d.under_pressure = true;
    d.bytes_to_free = min_avail - s.system_available;
    d.reason = "system available memory " + format_bytes(s.system_available) + " is below " +
               format_bytes(min_avail);
  }
  if (s.cgroup_limit && s.cgroup_current) {
    const auto high = static_cast<uint64_t>(static_cast<double>(*s.cgroup_limit) *
                                            options.cgroup_high_fraction);
    if (*s.cgroup_current > high) {
      const uint64_t over = *s.cgroup_current - high;
      if (!d.reason.empty()) d.reason += "; ";
      d.reason += "cgroup usage " + format_bytes(*s.cgroup_current) + " is above " +
                  format_bytes(high) + " of its " + format_bytes(*s.cgroup_limit) + " limit";
      d.under_pressure = true;
      d.bytes_to_free = std::max(d.bytes_to_free, over);
    }
  }
  return d;
}

PressureDecision MemoryMonitor::check(std::vector<std::string>* unloaded) {
  const MemorySnapshot snapshot = reader_.read();
  const PressureDecision d = assess_pressure(snapshot, options_);
  std::vector<std::string> ids;
  uint64_t freed = 0;
  if (d.under_pressure) {
    freed = cache_.unload_for_pressure(d.bytes_to_free, &ids);
    std::string list;
    for (const std::string& id : ids) list += (list.empty() ? "" : ", ") + id;
    if (freed < d.bytes_to_free) {
      log_warn("memory pressure (" + d.reason + "): unloaded " +
               (ids.empty() ? std::string("nothing") : list) + ", " + format_bytes(freed) +
               "; the rest is held by models in flight or pinned");
    } else {
      log_warn("memory pressure (" + d.reason + "): unloaded " + list);
    }
  }
  {
    std::lock_guard lock(mu_);
    stats_.checks += 1;
    stats_.last = snapshot;
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
