// Eviction order for each policy.
#include "manager/eviction.h"

#include <algorithm>
#include <numeric>
#include <tuple>

namespace hangar::manager {

const char* eviction_reason_name(EvictionReason r) {
  switch (r) {
    case EvictionReason::kPolicy: return "policy";
    case EvictionReason::kKeepAlive: return "keep_alive";
    case EvictionReason::kPressure: return "memory_pressure";
    case EvictionReason::kManual: return "manual";
    case EvictionReason::kSettings: return "settings_change";
    case EvictionReason::kFileChanged: return "file_changed";
  }
  return "?";
}

double eviction_cost(const EvictionCandidate& c) {
  return static_cast<double>(c.load_ms) * c.requests_per_min;
}

std::vector<size_t> eviction_order(EvictionPolicy policy,
                                   const std::vector<EvictionCandidate>& candidates) {
  std::vector<size_t> order(candidates.size());
  std::iota(order.begin(), order.end(), size_t{0});
  auto tie = [&](const EvictionCandidate& a, const EvictionCandidate& b) {
    return std::tie(a.last_used_ms, a.id) < std::tie(b.last_used_ms, b.id);
  };
  auto less = [&](size_t ia, size_t ib) {
    const EvictionCandidate& a = candidates[ia];
    const EvictionCandidate& b = candidates[ib];
    switch (policy) {
      case EvictionPolicy::kLru:
        break;
      case EvictionPolicy::kLfu:
        if (a.access_count != b.access_count) return a.access_count < b.access_count;
        break;
      case EvictionPolicy::kFifo:
        if (a.loaded_at_ms != b.loaded_at_ms) return a.loaded_at_ms < b.loaded_at_ms;
        break;
      case EvictionPolicy::kCost: {
        double ca = eviction_cost(a), cb = eviction_cost(b);
        if (ca != cb) return ca < cb;
        break;
      }
    }
    return tie(a, b);
  };
  std::sort(order.begin(), order.end(), less);
  return order;
}

}  // namespace hangar::manager
