// Mutator: seeded, deterministic byte mutations for the fuzz runner (no extra toolchain):
// bit flips, interesting integers, inserted dictionary words, cut, repeated and spliced ranges.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace hangar::fuzz {

class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}

  // Words worth inserting for this target (template keywords, JSON fragments, GGUF keys).
  void set_dictionary(std::vector<std::string> words) { dictionary_ = std::move(words); }

  // Applies 1..max_ops random mutations to `data`; `other` is spliced from now and then.
  void mutate(std::string& data, const std::string& other, int max_ops = 4);

  uint64_t next() { return rng_(); }
  // Uniform in [0, n); n must be > 0.
  size_t below(size_t n) { return static_cast<size_t>(rng_() % n); }
  bool one_in(size_t n) { return below(n) == 0; }
  // An integer a parser is likely to mishandle: 0, 1, -1, powers of two and their
  // neighbours, sizes near the limits of 32 and 64 bits.
  uint64_t interesting();
  const std::string& word() { return dictionary_[below(dictionary_.size())]; }
  bool has_words() const { return !dictionary_.empty(); }

 private:
  std::mt19937_64 rng_;
  std::vector<std::string> dictionary_;
};

}  // namespace hangar::fuzz
