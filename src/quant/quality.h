// Quality of a (quantized) model on a text: perplexity, and KL divergence from a base model.
#pragma once

#include <cstdint>
#include <vector>

namespace hangar::quant {

// Rewrites n logits in place as natural-log probabilities (log-softmax, sums in double).
// At least one logit must be finite.
void log_softmax_inplace(float* logits, int64_t n);

struct QualitySummary {
  int64_t n_tokens = 0;
  double ppl = 0, ppl_stderr = 0;  // exp(mean NLL) and its standard error (delta method)
  bool has_base = false;
  double base_ppl = 0, base_ppl_stderr = 0;
  double kl_mean = 0, kl_stderr = 0;  // KL(base || model) per token, in nats
  double kl_median = 0, kl_p99 = 0, kl_max = 0;
  double top1_agreement = 0, top1_stderr = 0;  // fraction of tokens where both argmaxes agree
};

// Accumulates scored tokens the way llama-perplexity does: each token's negative log-likelihood
// under the model, and with a base model also KL(base || model) over the whole vocabulary and
// whether the most likely tokens agree. Not thread-safe.
class QualityAccumulator {
 public:
  // model_lp: the model's log-probabilities (n_vocab) before `target`; base_lp: the base model's
  // at the same position, or null. Either every call passes a base or none does.
  void add(const float* model_lp, const float* base_lp, int64_t n_vocab, int32_t target);
  int64_t n_tokens() const { return n_; }
  // Needs at least two tokens for the standard errors (they are 0 with fewer).
  QualitySummary summary() const;

 private:
  int64_t n_ = 0;
  bool with_base_ = false;
  double nll_ = 0, nll2_ = 0, base_nll_ = 0, base_nll2_ = 0;
  int64_t same_top_ = 0;
  std::vector<double> kl_;
};

}  // namespace hangar::quant
