// Sampler: the per-sequence chain from logits to a token, with history for penalties and a seeded RNG.
#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "base/assert.h"

namespace hangar {
namespace {

uint64_t random_seed() {
  std::random_device device;
  uint64_t seed = (static_cast<uint64_t>(device()) << 32) ^ device();
  // Never hand out the sentinel itself, so seed() always names a repeatable run.
  return seed == kRandomSeed ? seed + 1 : seed;
}

Error field_error(const char* field, const std::string& expected) {
  return Error(std::string("sampling parameter ") + field + ": expected " + expected);
}

}  // namespace

Status validate_sampling_params(const SamplingParams& p, int32_t n_vocab) {
  if (std::isnan(p.temperature)) return field_error("temperature", "a number");
  if (std::isnan(p.top_p)) return field_error("top_p", "a number");
  if (std::isnan(p.min_p)) return field_error("min_p", "a number");
  if (!(p.repeat_penalty > 0.0f) || !std::isfinite(p.repeat_penalty)) {
    return field_error("repeat_penalty", "a finite number > 0");
  }
  if (p.repeat_last_n < -1) return field_error("repeat_last_n", "-1 (whole history) or >= 0");
  if (!std::isfinite(p.presence_penalty)) return field_error("presence_penalty", "a finite number");
  if (!std::isfinite(p.frequency_penalty)) {
    return field_error("frequency_penalty", "a finite number");
  }
  for (const auto& [id, bias] : p.logit_bias) {
    if (id < 0 || id >= n_vocab) {
      return field_error("logit_bias", "token ids in [0, " + std::to_string(n_vocab) +
                                           "), got " + std::to_string(id));
    }
    if (std::isnan(bias) || bias == std::numeric_limits<float>::infinity()) {
      return field_error("logit_bias", "a finite bias or -inf for token " + std::to_string(id));
    }
  }
  return Status::Ok();
}

Sampler::Sampler(const SamplingParams& params, int32_t n_vocab)
    : params_(params), n_vocab_(n_vocab), work_(n_vocab), candidates_(n_vocab) {
  HANGAR_ASSERT(n_vocab > 0);
  HANGAR_ASSERT_MSG(validate_sampling_params(params, n_vocab).ok(),
                    "Sampler built from unvalidated SamplingParams");
  seed_ = params_.seed == kRandomSeed ? random_seed() : params_.seed;
  rng_.seed(seed_);
}

void Sampler::reset() {
  window_.clear();
  counts_.clear();
  if (params_.seed == kRandomSeed) seed_ = random_seed();
  rng_.seed(seed_);
}

bool Sampler::penalties_active() const {
  return params_.repeat_last_n != 0 &&
         (params_.repeat_penalty != 1.0f || params_.frequency_penalty != 0.0f ||
          params_.presence_penalty != 0.0f);
}

void Sampler::accept(TokenId id) {
  HANGAR_ASSERT(id >= 0 && id < n_vocab_);
  if (!penalties_active()) return;
  ++counts_[id];
  if (params_.repeat_last_n < 0) return;  // whole history: counts only, nothing expires
  window_.push_back(id);
  if (window_.size() > static_cast<size_t>(params_.repeat_last_n)) {
    auto it = counts_.find(window_.front());
    if (--it->second == 0) counts_.erase(it);
    window_.pop_front();
  }
}

void Sampler::apply_bias_and_penalties(const float* logits, float* out) const {
  std::memcpy(out, logits, sizeof(float) * static_cast<size_t>(n_vocab_));
  for (const auto& [id, bias] : params_.logit_bias) out[id] += bias;
  for (const auto& [id, count] : counts_) {
    out[id] = penalized_logit(out[id], count, params_.repeat_penalty,
                              params_.frequency_penalty, params_.presence_penalty);
  }
}

double Sampler::next_uniform() {
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

TokenId Sampler::sample(const float* logits) {
  // Copying 600 KB of logits costs as much as greedy itself, so skip it when nothing changes.
  const float* adjusted = logits;
  if (!params_.logit_bias.empty() || !counts_.empty()) {
    apply_bias_and_penalties(logits, work_.data());
    adjusted = work_.data();
  }
  return sample_adjusted(adjusted);
}

TokenId Sampler::sample_adjusted(const float* adjusted) {
  if (params_.temperature <= 0.0f) return argmax(adjusted, n_vocab_);

  Candidate* c = candidates_.data();
  size_t n = 0;
  bool sorted = false;
  if (params_.top_k > 0 && params_.top_k < n_vocab_) {
    n = select_top_k(adjusted, n_vocab_, params_.top_k, c);
    sorted = true;
  } else {
    for (int32_t i = 0; i < n_vocab_; ++i) c[i] = Candidate{i, adjusted[i], 0.0f};
    n = static_cast<size_t>(n_vocab_);
  }
  if (params_.top_p < 1.0f) {
    n = sorted ? top_p_sorted({c, n}, params_.top_p) : top_p_unsorted({c, n}, params_.top_p);
  }
  if (params_.min_p > 0.0f) n = min_p_filter({c, n}, params_.min_p);
  softmax_with_temperature({c, n}, params_.temperature);
  return draw({c, n}, next_uniform());
}

TokenId Sampler::sample(const float* logits, const uint64_t* allowed) {
  if (allowed == nullptr) return sample(logits);
  const size_t words = (static_cast<size_t>(n_vocab_) + 63) / 64;
  size_t n_allowed = 0;
  for (size_t w = 0; w < words; ++w) n_allowed += static_cast<size_t>(__builtin_popcountll(allowed[w]));
  HANGAR_ASSERT_MSG(n_allowed > 0, "Sampler::sample with a mask that allows no token");
  // A dense mask (inside a JSON string most tokens are allowed) costs least as -inf logits
  // through the usual chain; -inf never survives top-k, top-p or min-p ahead of a finite
  // logit, so the draw is the restricted one. Should only masked tokens be left (every
  // allowed logit -inf too), the exact path below decides.
  if (n_allowed * 8 > static_cast<size_t>(n_vocab_)) {
    apply_bias_and_penalties(logits, work_.data());
    constexpr float kNeg = -std::numeric_limits<float>::infinity();
    for (size_t w = 0; w < words; ++w) {
      const uint64_t banned = ~allowed[w];
      if (banned == 0) continue;
      for (uint64_t bits = banned; bits; bits &= bits - 1) {
        const size_t id = w * 64 + static_cast<size_t>(__builtin_ctzll(bits));
        if (id < static_cast<size_t>(n_vocab_)) work_[id] = kNeg;
      }
    }
    const TokenId id = sample_adjusted(work_.data());
    if ((allowed[id >> 6] >> (id & 63)) & 1) return id;
  }
  return sample_allowed(logits, allowed);
}

TokenId Sampler::sample_allowed(const float* logits, const uint64_t* allowed) {
  const float* adjusted = logits;
  if (!params_.logit_bias.empty() || !counts_.empty()) {
    apply_bias_and_penalties(logits, work_.data());
    adjusted = work_.data();
  }
  // Candidates are the allowed tokens alone, in id order, so the chain below sees exactly
  // the distribution restricted to them.
  Candidate* c = candidates_.data();
  size_t n = 0;
  const size_t words = (static_cast<size_t>(n_vocab_) + 63) / 64;
  for (size_t w = 0; w < words; ++w) {
    for (uint64_t bits = allowed[w]; bits; bits &= bits - 1) {
      const auto id = static_cast<TokenId>(w * 64 + static_cast<size_t>(__builtin_ctzll(bits)));
      if (id < n_vocab_) c[n++] = Candidate{id, adjusted[id], 0.0f};
    }
  }
  if (params_.temperature <= 0.0f) {
    size_t best = 0;
    for (size_t i = 1; i < n; ++i)
      if (ranks_before(c[i], c[best])) best = i;
    return c[best].id;
  }
  bool sorted = false;
  if (params_.top_k > 0 && static_cast<size_t>(params_.top_k) < n) {
    std::partial_sort(c, c + params_.top_k, c + n, ranks_before);
    n = static_cast<size_t>(params_.top_k);
    sorted = true;
  }
  if (params_.top_p < 1.0f) {
    n = sorted ? top_p_sorted({c, n}, params_.top_p) : top_p_unsorted({c, n}, params_.top_p);
  }
  if (params_.min_p > 0.0f) n = min_p_filter({c, n}, params_.min_p);
  softmax_with_temperature({c, n}, params_.temperature);
  return draw({c, n}, next_uniform());
}

}  // namespace hangar
