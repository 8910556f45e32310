// Log-probabilities over the full vocabulary for the API's logprobs / top_logprobs fields.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "sampling/stages.h"

namespace hangar {

// Logits must hold at least one finite value (an all -inf vector has no distribution).

// Returns log(sum(exp(logits))) computed stably (max-shifted, summed in double), so that
// logits[i] - log_sum_exp(...) is token i's natural-log probability. n > 0.
double log_sum_exp(const float* logits, int32_t n_vocab);

// Natural-log softmax over the whole vocabulary; the min(k, n_vocab) best (id, logprob), best
// first, ties by lower id. k <= 0 returns an empty list. O(n_vocab) plus O(k log k).
std::vector<std::pair<TokenId, float>> top_logprobs(const float* logits, int32_t n_vocab,
                                                     int32_t k);

// Natural-log probability of token `id` (0 <= id < n_vocab) under softmax(logits). O(n_vocab).
float token_logprob(const float* logits, int32_t n_vocab, TokenId id);

}  // namespace hangar
