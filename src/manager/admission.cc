// Admission planning: idle models first, then busy ones, each in the eviction policy's order.
#include "manager/admission.h"

namespace hangar::manager {

bool fits_after(const FitRequest& r, uint64_t freed, int removed) {
  const uint64_t used = r.used_bytes > freed ? r.used_bytes - freed : 0;
  const bool bytes_ok = r.budget_bytes == 0 || used + r.needed_bytes <= r.budget_bytes;
  const bool count_ok = r.max_loaded == 0 || r.resident - removed + r.models <= r.max_loaded;
  return bytes_ok && count_ok;
}

FitPlan plan_fit(const FitRequest& r, EvictionPolicy policy, const std::vector<FitCandidate>& candidates) {
  FitPlan plan;
  int removed = 0;
  plan.fits = fits_after(r, 0, 0);
  std::vector<EvictionCandidate> facts;
  facts.reserve(candidates.size());
  for (const FitCandidate& c : candidates) facts.push_back(c.facts);
  const std::vector<size_t> order = eviction_order(policy, facts);
  for (bool busy : {false, true}) {
    for (size_t i : order) {
      if (plan.fits) return plan;
      if (candidates[i].busy != busy) continue;
      (busy ? plan.drain : plan.evict).push_back(i);
      plan.freed_bytes += candidates[i].facts.bytes;
      removed += 1;
      plan.fits = fits_after(r, plan.freed_bytes, removed);
    }
  }
  return plan;
}

}  // namespace hangar::manager
