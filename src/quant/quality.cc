// Perplexity and KL-divergence accumulation with llama-perplexity's standard errors.
#include "quant/quality.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "base/assert.h"

namespace hangar::quant {
namespace {

// Standard error of a mean from the sums of x and x^2 over n samples.
double stderr_of_mean(double sum, double sum2, int64_t n) {
  if (n < 2) return 0.0;
  double mean = sum / double(n);
  double var = sum2 / double(n) - mean * mean;
  return var > 0 ? std::sqrt(var / double(n - 1)) : 0.0;
}

double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0.0;
  double pos = q * double(sorted.size() - 1);
  size_t lo = static_cast<size_t>(pos);
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - double(lo)) * (sorted[hi] - sorted[lo]);
}

int64_t argmax(const float* x, int64_t n) { return std::max_element(x, x + n) - x; }

}  // namespace

void log_softmax_inplace(float* logits, int64_t n) {
  HANGAR_ASSERT(n > 0);
  float max = -std::numeric_limits<float>::infinity();
  for (int64_t i = 0; i < n; ++i) max = std::max(max, logits[i]);
  HANGAR_ASSERT(std::isfinite(max));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(logits[i]) - max);
  const double lse = double(max) + std::log(sum);
  for (int64_t i = 0; i < n; ++i) logits[i] = static_cast<float>(double(logits[i]) - lse);
}

void QualityAccumulator::add(const float* model_lp, const float* base_lp, int64_t n_vocab, int32_t target) {
  HANGAR_ASSERT(target >= 0 && target < n_vocab);
  if (n_ == 0) with_base_ = base_lp != nullptr;
  HANGAR_ASSERT(with_base_ == (base_lp != nullptr));
  const double nll = -double(model_lp[target]);
  nll_ += nll;
  nll2_ += nll * nll;
  ++n_;
  if (!base_lp) return;
  const double base_nll = -double(base_lp[target]);
  base_nll_ += base_nll;
  base_nll2_ += base_nll * base_nll;
  double kl = 0;
  for (int64_t i = 0; i < n_vocab; ++i) {
    const double lp = base_lp[i];
    if (lp == -std::numeric_limits<double>::infinity()) continue;  // p = 0 contributes nothing
    kl += std::exp(lp) * (lp - double(model_lp[i]));
  }
  kl_.push_back(kl);
  same_top_ += argmax(model_lp, n_vocab) == argmax(base_lp, n_vocab);
}

QualitySummary QualityAccumulator::summary() const {
  QualitySummary s;
  s.n_tokens = n_;
  if (n_ == 0) return s;
  const double n = double(n_);
  s.ppl = std::exp(nll_ / n);
  s.ppl_stderr = s.ppl * stderr_of_mean(nll_, nll2_, n_);
  if (kl_.empty()) return s;
  s.has_base = true;
  s.base_ppl = std::exp(base_nll_ / n);
  s.base_ppl_stderr = s.base_ppl * stderr_of_mean(base_nll_, base_nll2_, n_);
  double sum = 0, sum2 = 0;
  for (double k : kl_) {
    sum += k;
    sum2 += k * k;
  }
  s.kl_mean = sum / n;
  s.kl_stderr = stderr_of_mean(sum, sum2, n_);
  std::vector<double> sorted = kl_;
  std::sort(sorted.begin(), sorted.end());
  s.kl_median = percentile(sorted, 0.5);
  s.kl_p99 = percentile(sorted, 0.99);
  s.kl_max = sorted.back();
  s.top1_agreement = double(same_top_) / n;
  s.top1_stderr = n_ > 1 ? std::sqrt(s.top1_agreement * (1 - s.top1_agreement) / (n - 1)) : 0.0;
  return s;
}

}  // namespace hangar::quant
