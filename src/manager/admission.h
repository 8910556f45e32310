// Admission planning: which resident models must go for a model to fit the budget (pure).
#pragma once

#include <cstdint>
#include <vector>

#include "manager/eviction.h"

namespace hangar::manager {

// A resident model that admission may remove. Pinned and loading models are never candidates.
struct FitCandidate {
  EvictionCandidate facts;
  bool busy = false;  // requests in flight: it may go only once they end (it drains first)
};

// The question: does `needed_bytes` more (as `models` more models) fit under the caps?
struct FitRequest {
  uint64_t needed_bytes = 0;
  int models = 1;             // 0: only get back under the caps (pressure, after a measurement)
  uint64_t budget_bytes = 0;  // 0: no byte cap
  int max_loaded = 0;         // 0: no count cap
  uint64_t used_bytes = 0;    // resident and loading models, now
  int resident = 0;           // resident and loading models, now
};

struct FitPlan {
  bool fits = false;           // true once the models below are gone
  std::vector<size_t> evict;   // idle candidates to evict, first to go first
  std::vector<size_t> drain;   // busy candidates that must also go once their requests end
  uint64_t freed_bytes = 0;    // bytes of evict + drain
  bool fits_now() const { return fits && drain.empty(); }
};

// Whether the request fits after `freed` bytes of `removed` models are gone.
bool fits_after(const FitRequest& r, uint64_t freed, int removed);

// Idle candidates go first in the policy's order, then busy ones in the same order, and the plan
// stops as soon as the request fits: the one answer to "what must go" for admission, the dry
// run, memory pressure and the correction after a measured load. When even every candidate is
// not enough, `fits` is false and the lists hold them all.
FitPlan plan_fit(const FitRequest& r, EvictionPolicy policy, const std::vector<FitCandidate>& candidates);

}  // namespace hangar::manager
