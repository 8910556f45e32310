// Log-probabilities over the full vocabulary: a stable log-sum-exp and a top-k selection.
#include "sampling/logprobs.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/assert.h"

namespace hangar {

double log_sum_exp(const float* logits, int32_t n_vocab) {
  HANGAR_ASSERT(n_vocab > 0);
  const float max_logit = max_value(logits, n_vocab);
  if (max_logit == -std::numeric_limits<float>::infinity()) return max_logit;
  double total = 0.0;
  for (int32_t i = 0; i < n_vocab; ++i) total += std::exp(logits[i] - max_logit);
  return static_cast<double>(max_logit) + std::log(total);
}

std::vector<std::pair<TokenId, float>> top_logprobs(const float* logits, int32_t n_vocab,
                                                     int32_t k) {
  std::vector<std::pair<TokenId, float>> out;
  if (k <= 0) return out;
  std::vector<Candidate> best(static_cast<size_t>(std::min(k, n_vocab)));
  const size_t n = select_top_k(logits, n_vocab, k, best.data());
  const double norm = log_sum_exp(logits, n_vocab);
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    out.emplace_back(best[i].id, static_cast<float>(best[i].logit - norm));
  }
  return out;
}

float token_logprob(const float* logits, int32_t n_vocab, TokenId id) {
  HANGAR_ASSERT(id >= 0 && id < n_vocab);
  return static_cast<float>(logits[id] - log_sum_exp(logits, n_vocab));
}

}  // namespace hangar
