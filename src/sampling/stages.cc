// The sampler chain's stages: penalties, top-k, top-p, min-p, temperature and the draw.
#include "sampling/stages.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "base/assert.h"

namespace hangar {
namespace {

// Writes exp(logit - max) into p for every candidate and returns their sum. The sum is kept in
// double because 150k small terms in float lose the tail that top-p cares about.
double fill_weights(std::span<Candidate> c) {
  float max_logit = -std::numeric_limits<float>::infinity();
  for (const Candidate& x : c) max_logit = std::max(max_logit, x.logit);
  if (max_logit == -std::numeric_limits<float>::infinity()) {
    // Every token is banned; weight them equally rather than produce NaN.
    for (Candidate& x : c) x.p = 1.0f;
    return static_cast<double>(c.size());
  }
  double total = 0.0;
  for (Candidate& x : c) {
    x.p = std::exp(x.logit - max_logit);
    total += x.p;
  }
  return total;
}

float median_of_three(float a, float b, float c) {
  if (a > b) std::swap(a, b);
  if (b > c) std::swap(b, c);
  return std::max(a, b);
}

// Keeps the `take` lowest ids of c[lo, hi) (all with the same logit) at c[lo, lo + take).
void keep_lowest_ids(std::span<Candidate> c, size_t lo, size_t hi, size_t take) {
  auto by_id = [](const Candidate& a, const Candidate& b) { return a.id < b.id; };
  std::nth_element(c.begin() + lo, c.begin() + lo + take - 1, c.begin() + hi, by_id);
}

}  // namespace

float penalized_logit(float logit, int32_t count, float repeat, float frequency, float presence) {
  if (count <= 0) return logit;
  float out = logit <= 0.0f ? logit * repeat : logit / repeat;
  return out - static_cast<float>(count) * frequency - presence;
}

TokenId argmax(const float* logits, int32_t n) {
  HANGAR_ASSERT(n > 0);
  TokenId best = 0;
  for (int32_t i = 1; i < n; ++i) {
    if (logits[i] > logits[best]) best = i;
  }
  return best;
}

size_t select_top_k(const float* logits, int32_t n, int32_t k, Candidate* out) {
  HANGAR_ASSERT(k > 0 && n > 0);
  const size_t size = static_cast<size_t>(std::min(k, n));
  // A heap whose front is the worst kept token; a later token (higher id) replaces it only
  // with a strictly higher logit, which keeps the lowest-id tie-break.
  Candidate* heap_end = out;
  for (int32_t i = 0; i < n; ++i) {
    if (static_cast<size_t>(heap_end - out) < size) {
      *heap_end++ = Candidate{i, logits[i], 0.0f};
      std::push_heap(out, heap_end, ranks_before);
    } else if (logits[i] > out[0].logit) {
      std::pop_heap(out, heap_end, ranks_before);
      heap_end[-1] = Candidate{i, logits[i], 0.0f};
      std::push_heap(out, heap_end, ranks_before);
    }
  }
  std::sort_heap(out, heap_end, ranks_before);
  return size;
}

size_t top_p_sorted(std::span<Candidate> c, float top_p) {
  if (c.empty()) return 0;
  const double target = static_cast<double>(top_p) * fill_weights(c);
  double cum = 0.0;
  for (size_t i = 0; i < c.size(); ++i) {
    cum += c[i].p;
    if (cum >= target) return i + 1;
  }
  return c.size();
}

size_t top_p_unsorted(std::span<Candidate> c, float top_p) {
  if (c.empty()) return 0;
  double need = static_cast<double>(top_p) * fill_weights(c);
  if (!(need > 0.0)) {
    std::iter_swap(c.begin(), std::min_element(c.begin(), c.end(), ranks_before));
    return 1;
  }
  // [0, lo) is kept, [lo, hi) undecided, [hi, end) dropped. Invariant: need > 0, so a part
  // whose mass reaches it is never empty and every round shrinks [lo, hi).
  size_t lo = 0;
  size_t hi = c.size();
  while (lo < hi) {
    const float pivot =
        median_of_three(c[lo].logit, c[lo + (hi - lo) / 2].logit, c[hi - 1].logit);
    // Three-way partition of [lo, hi): [lo, gt) above the pivot, [gt, i) equal, [lt, hi) below.
    size_t gt = lo, i = lo, lt = hi;
    double mass_above = 0.0, mass_equal = 0.0;
    while (i < lt) {
      if (c[i].logit > pivot) {
        mass_above += c[i].p;
        std::swap(c[gt++], c[i++]);
      } else if (c[i].logit < pivot) {
        std::swap(c[i], c[--lt]);
      } else {
        mass_equal += c[i].p;
        ++i;
      }
    }
    if (mass_above >= need) {
      hi = gt;
      continue;
    }
    need -= mass_above;
    if (mass_equal >= need) {
      // Equal logits have equal weights, so the count needed is a division; ties go to low ids.
      const size_t n_equal = lt - gt;
      const double weight = c[gt].p;
      size_t take = weight > 0.0 ? static_cast<size_t>(std::ceil(need / weight)) : n_equal;
      take = std::clamp<size_t>(take, 1, n_equal);
      keep_lowest_ids(c, gt, lt, take);
      return gt + take;
    }
    need -= mass_equal;
    lo = lt;
  }
  // Rounding left a sliver of mass unaccounted for: everything up to here is kept.
  return std::max<size_t>(lo, 1);
}

size_t min_p_filter(std::span<Candidate> c, float min_p) {
  if (c.empty() || min_p <= 0.0f) return c.size();
  size_t best = 0;
  for (size_t i = 1; i < c.size(); ++i) {
    if (ranks_before(c[i], c[best])) best = i;
  }
  const float threshold = c[best].logit + std::log(min_p);
  size_t kept = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    if (i == best || c[i].logit >= threshold) c[kept++] = c[i];
  }
  return kept;
}

void softmax_with_temperature(std::span<Candidate> c, float temperature) {
  HANGAR_ASSERT(temperature > 0.0f);
  if (c.empty()) return;
  float max_logit = -std::numeric_limits<float>::infinity();
  for (const Candidate& x : c) max_logit = std::max(max_logit, x.logit);
  if (max_logit == -std::numeric_limits<float>::infinity()) {
    for (Candidate& x : c) x.p = 0.0f;
    c[0].p = 1.0f;
    return;
  }
  const float inv_t = 1.0f / temperature;
  double total = 0.0;
  for (Candidate& x : c) {
    x.p = std::exp((x.logit - max_logit) * inv_t);
    total += x.p;
  }
  const double inv_total = 1.0 / total;
  for (Candidate& x : c) x.p = static_cast<float>(x.p * inv_total);
}

TokenId draw(std::span<const Candidate> c, double u) {
  HANGAR_ASSERT(!c.empty());
  double cum = 0.0;
  size_t last_nonzero = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    if (c[i].p <= 0.0f) continue;
    cum += c[i].p;
    last_nonzero = i;
    if (cum > u) return c[i].id;
  }
  return c[last_nonzero].id;
}

}  // namespace hangar
