// The sampler chain's stages: penalties, top-k, top-p, min-p, temperature and the draw.
#include "sampling/stages.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "base/assert.h"

namespace hangar {
namespace {

// Four running maxima: a single one serialises every element on the previous comparison.
float max_logit_of(std::span<const Candidate> c) {
  float m[4];
  for (float& x : m) x = -std::numeric_limits<float>::infinity();
  size_t i = 0;
  for (; i + 4 <= c.size(); i += 4) {
    for (size_t j = 0; j < 4; ++j) m[j] = c[i + j].logit > m[j] ? c[i + j].logit : m[j];
  }
  for (; i < c.size(); ++i) m[0] = c[i].logit > m[0] ? c[i].logit : m[0];
  return std::max(std::max(m[0], m[1]), std::max(m[2], m[3]));
}

// Writes exp(logit - max) into p for every candidate and returns their sum. The sum is kept in
// double because 150k small terms in float lose the tail that top-p cares about.
double fill_weights(std::span<Candidate> c, float max_logit) {
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

// top_p_unsorted first buckets tokens by their distance below the best logit, so that only
// the bucket where the cumulative mass crosses the target needs an exact selection. Tokens
// more than kBucketRange nats down (weight < 1e-13) share the last bucket.
constexpr int kBuckets = 1024;
constexpr float kBucketRange = 30.0f;
constexpr float kBucketScale = kBuckets / kBucketRange;

inline int bucket_of(float logit, float max_logit) {
  const float d = (max_logit - logit) * kBucketScale;  // NaN or +inf for banned tokens
  return d < static_cast<float>(kBuckets - 1) ? static_cast<int>(d) : kBuckets - 1;
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

// Moves the shortest best-ranked prefix of c whose weight `p` reaches need (> 0) to the
// front and returns its length: a quickselect weighted by p, expected O(n).
size_t select_mass_prefix(std::span<Candidate> c, double need) {
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

}  // namespace

float penalized_logit(float logit, int32_t count, float repeat, float frequency, float presence) {
  if (count <= 0) return logit;
  float out = logit <= 0.0f ? logit * repeat : logit / repeat;
  return out - static_cast<float>(count) * frequency - presence;
}

float max_value(const float* v, int32_t n) {
  // Eight running maxima keep the loop throughput-bound rather than latency-bound.
  float m[8];
  for (float& x : m) x = -std::numeric_limits<float>::infinity();
  int32_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; ++j) m[j] = v[i + j] > m[j] ? v[i + j] : m[j];
  }
  for (; i < n; ++i) m[0] = v[i] > m[0] ? v[i] : m[0];
  float best = m[0];
  for (int j = 1; j < 8; ++j) best = m[j] > best ? m[j] : best;
  return best;
}

TokenId argmax(const float* logits, int32_t n) {
  HANGAR_ASSERT(n > 0);
  // The first index holding the maximum is the lowest-id tie-break.
  const float best = max_value(logits, n);
  for (int32_t i = 0; i < n; ++i) {
    if (logits[i] == best) return i;
  }
  return 0;  // every logit is NaN
}

size_t select_top_k(const float* logits, int32_t n, int32_t k, Candidate* out) {
  HANGAR_ASSERT(k > 0 && n > 0);
  const int32_t size = std::min(k, n);
  // A heap whose front is the worst kept token; a later token (higher id) replaces it only
  // with a strictly higher logit, which keeps the lowest-id tie-break.
  for (int32_t i = 0; i < size; ++i) out[i] = Candidate{i, logits[i], 0.0f};
  Candidate* const end = out + size;
  std::make_heap(out, end, ranks_before);
  float worst = out[0].logit;
  for (int32_t i = size; i < n; ++i) {
    if (logits[i] > worst) {
      std::pop_heap(out, end, ranks_before);
      end[-1] = Candidate{i, logits[i], 0.0f};
      std::push_heap(out, end, ranks_before);
      worst = out[0].logit;
    }
  }
  std::sort_heap(out, end, ranks_before);
  return static_cast<size_t>(size);
}

size_t top_p_sorted(std::span<Candidate> c, float top_p) {
  if (c.empty()) return 0;
  const double target = static_cast<double>(top_p) * fill_weights(c, max_logit_of(c));
  double cum = 0.0;
  for (size_t i = 0; i < c.size(); ++i) {
    cum += c[i].p;
    if (cum >= target) return i + 1;
  }
  return c.size();
}

size_t top_p_unsorted(std::span<Candidate> c, float top_p) {
  if (c.empty()) return 0;
  const float max_logit = max_logit_of(c);
  if (max_logit == -std::numeric_limits<float>::infinity() || !(top_p > 0.0f)) {
    fill_weights(c, max_logit);
    std::iter_swap(c.begin(), std::min_element(c.begin(), c.end(), ranks_before));
    return 1;
  }
  // Four interleaved histograms: consecutive tokens often share a bucket, and one histogram
  // would serialise on the store-to-load latency of that bucket.
  std::vector<double> hist(4 * kBuckets, 0.0);
  for (size_t i = 0; i < c.size(); ++i) {
    Candidate& x = c[i];
    x.p = std::exp(x.logit - max_logit);
    hist[(i & 3) * kBuckets + bucket_of(x.logit, max_logit)] += x.p;
  }
  double total = 0.0;
  std::vector<double> mass(kBuckets);
  for (int b = 0; b < kBuckets; ++b) {
    mass[b] = hist[b] + hist[kBuckets + b] + hist[2 * kBuckets + b] + hist[3 * kBuckets + b];
    total += mass[b];
  }
  double need = static_cast<double>(top_p) * total;
  int cut = 0;
  while (cut < kBuckets && mass[cut] < need) need -= mass[cut++];
  if (cut == kBuckets) return c.size();  // rounding: the whole mass barely misses the target
  // Buckets above the cut are kept whole; the cut bucket goes behind them for the selection.
  size_t kept = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    if (bucket_of(c[i].logit, max_logit) < cut) std::swap(c[kept++], c[i]);
  }
  size_t cut_end = kept;
  for (size_t i = kept; i < c.size(); ++i) {
    if (bucket_of(c[i].logit, max_logit) == cut) std::swap(c[cut_end++], c[i]);
  }
  return kept + select_mass_prefix(c.subspan(kept, cut_end - kept), need);
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
  const float max_logit = max_logit_of(c);
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
