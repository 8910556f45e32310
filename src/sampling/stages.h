// The sampler chain's stages as pure functions over a candidate list, so each can be tested alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace hangar {

using TokenId = int32_t;

// One token still in the running. `p` is scratch: a weight or a normalised probability,
// depending on the stage that wrote it last.
struct Candidate {
  TokenId id;
  float logit;
  float p;
};

// Ranking used everywhere in this layer: higher logit first, ties broken by lower id, so
// results never depend on the standard library's sort or heap internals.
inline bool ranks_before(const Candidate& a, const Candidate& b) {
  return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
}

// Repetition, frequency and presence penalties for a token seen `count` times in the window
// (llama.cpp/OpenAI arithmetic): a positive logit is divided by `repeat`, a non-positive one
// multiplied, then `count * frequency + presence` is subtracted. count == 0 returns `logit`.
float penalized_logit(float logit, int32_t count, float repeat, float frequency, float presence);

// Returns the largest of n values (-inf when n == 0; NaN values are skipped).
float max_value(const float* v, int32_t n);

// Returns the id of the highest logit among n (ties: lowest id). n > 0.
TokenId argmax(const float* logits, int32_t n);

// Writes the min(k, n) best tokens of `logits` to `out` (which has room for them), best first;
// returns how many. O(n + k log k · hits) with a heap of size k. k > 0.
size_t select_top_k(const float* logits, int32_t n, int32_t k, Candidate* out);

// Top-p (nucleus) over candidates sorted by ranks_before: keeps the shortest prefix whose
// softmax mass (relative to the whole list) reaches top_p, at least one. Returns the new size;
// overwrites `p`.
size_t top_p_sorted(std::span<Candidate> c, float top_p);

// The same kept set as top_p_sorted, for an unsorted list, in O(n) instead of sorting 150k
// tokens: a histogram of the mass by distance below the best logit finds the bucket where
// the target is crossed, and a weighted quickselect settles that bucket alone. The kept set
// ends up at the front in no particular (but deterministic) order. Returns the new size;
// overwrites `p`.
size_t top_p_unsorted(std::span<Candidate> c, float top_p);

// Min-p: keeps tokens whose probability is at least min_p times the best one's, i.e. whose
// logit >= max_logit + ln(min_p); always keeps the best. Preserves order. Returns the new size.
size_t min_p_filter(std::span<Candidate> c, float min_p);

// Sets each `p` to softmax(logit / temperature) over the list (temperature > 0). When every
// logit is -inf the first candidate gets probability 1.
void softmax_with_temperature(std::span<Candidate> c, float temperature);

// Inverse-CDF draw over normalised `p` with u in [0, 1): returns the id of the first candidate
// whose cumulative probability exceeds u (the last one if rounding leaves u past the total).
TokenId draw(std::span<const Candidate> c, double u);

}  // namespace hangar
