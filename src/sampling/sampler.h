// Sampler: turns one step's logits into the next token (bias, penalties, top-k/p, min-p, temperature).
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/result.h"
#include "sampling/stages.h"

namespace hangar {

// llama.cpp's LLAMA_DEFAULT_SEED: asks for a fresh random seed.
inline constexpr uint64_t kRandomSeed = 0xFFFFFFFF;

struct SamplingParams {
  float temperature = 0.8f;       // <= 0 means greedy (argmax, ties -> lowest id)
  int32_t top_k = 40;             // <= 0 or >= n_vocab: off
  float top_p = 0.95f;            // >= 1: off
  float min_p = 0.05f;            // <= 0: off
  float repeat_penalty = 1.0f;    // 1: off; divides positive logits, multiplies the others
  int32_t repeat_last_n = 64;     // window for all penalties; -1 = whole history, 0 = off
  float presence_penalty = 0.0f;  // OpenAI semantics: subtracted once from any seen token
  float frequency_penalty = 0.0f; // subtracted once per occurrence
  uint64_t seed = kRandomSeed;    // kRandomSeed means random; any other value repeats
  std::vector<std::pair<TokenId, float>> logit_bias;  // added to the raw logits; -inf bans
};

// Returns an Error naming the first field that is out of range for a vocabulary of n_vocab
// tokens (NaN anywhere, repeat_penalty <= 0, repeat_last_n < -1, a bias id outside the
// vocabulary or a bias of +inf/NaN). Callers validate requests with this before building a
// Sampler, whose constructor treats invalid params as a bug.
Status validate_sampling_params(const SamplingParams& params, int32_t n_vocab);

// The chain, in llama.cpp's default order: logit bias, penalties, top-k, top-p, min-p,
// temperature, then a draw. top-p and min-p see the untempered distribution of the tokens
// that survived the previous stage. Greedy (temperature <= 0) still applies bias and
// penalties; the filters cannot change an argmax so it skips them.
//
// The draw uses std::mt19937_64 seeded with the seed; each draw consumes one 64-bit output
// and uses its top 53 bits as u in [0, 1). The same seed and the same logits give the same
// tokens on any platform with the same libm.
//
// Holds per-sequence state (history, RNG) and O(n_vocab) scratch; thread-compatible: use one
// Sampler per sequence or guard it.
class Sampler {
 public:
  // params must pass validate_sampling_params(params, n_vocab); n_vocab > 0.
  Sampler(const SamplingParams& params, int32_t n_vocab);

  // Returns the next token from raw logits (n_vocab floats, not modified, not NaN; -inf
  // allowed). Does not add the token to the history: call accept().
  TokenId sample(const float* logits);
  // The same chain over the tokens whose bit is set in `allowed` (n_vocab bits in 64-bit
  // words; at least one set): the others are never drawn and take no part in top-k, top-p or
  // min-p. Null `allowed`: sample(logits).
  TokenId sample(const float* logits, const uint64_t* allowed);

  // Adds a token to the penalty history (prompt tokens too, if the caller wants them to count).
  void accept(TokenId id);

  // Forgets the history and restarts the RNG: from the same seed when the seed was given
  // (so a run repeats), from a fresh random seed when it was kRandomSeed.
  void reset();

  // Writes the logits as the filters see them (bias and penalties applied) to out[n_vocab].
  // Useful for post-sampling log-probabilities.
  void apply_bias_and_penalties(const float* logits, float* out) const;

  // The seed in use: params.seed, or the random one drawn for kRandomSeed.
  uint64_t seed() const { return seed_; }
  const SamplingParams& params() const { return params_; }
  int32_t n_vocab() const { return n_vocab_; }

 private:
  double next_uniform();
  // The chain from adjusted logits (bias and penalties applied) to a token.
  TokenId sample_adjusted(const float* adjusted);
  // The chain over the allowed tokens alone, as candidates.
  TokenId sample_allowed(const float* logits, const uint64_t* allowed);
  bool penalties_active() const;

  SamplingParams params_;
  int32_t n_vocab_;
  uint64_t seed_;
  std::mt19937_64 rng_;
  std::deque<TokenId> window_;                  // last repeat_last_n accepted tokens
  std::unordered_map<TokenId, int32_t> counts_; // occurrences within the window
  std::vector<float> work_;                     // adjusted logits, n_vocab
  std::vector<Candidate> candidates_;           // n_vocab
};

}  // namespace hangar
