// TokenId and TokenIndex: the text -> id lookup every tokenizer algorithm shares.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace hangar {

using TokenId = int32_t;
constexpr TokenId kNoToken = -1;

namespace tok {

// An open-addressing hash table from token text to id. Slots hold only a hash tag and the
// id; the text is compared against the vocabulary's own strings, which keeps the table
// small (8 bytes a slot) so that loading 150k tokens and the lookups of the merge loops
// stay in cache. Built once; lookups are read-only and thread-safe. The hash is seeded per index
// at random: the texts come from the model file, and with a fixed hash a file could choose
// texts that all probe the same slots, making the load and every lookup quadratic.
class TokenIndex {
 public:
  // Indexes texts[0..n). `texts` must outlive the index and not change. Returns the id of
  // the first text that repeats an earlier one (which keeps the earlier id), or kNoToken.
  TokenId build(const std::vector<std::string>& texts) {
    std::random_device rd;
    seed_ = (uint64_t{rd()} << 32) ^ rd();
    return build(texts, seed_);
  }
  // build() with a given seed (tests: the seed an attacker would have to guess).
  TokenId build(const std::vector<std::string>& texts, uint64_t seed) {
    seed_ = seed;
    max_probe_ = 0;
    texts_ = &texts;
    size_t capacity = 16;
    while (capacity < texts.size() + texts.size() / 2) capacity <<= 1;  // load <= 2/3
    slots_.assign(capacity, Slot{0, kNoToken});
    mask_ = capacity - 1;
    TokenId duplicate = kNoToken;
    constexpr size_t kBatch = 64;  // prefetch a batch of slots, then insert (see find_batch)
    uint64_t h[kBatch];
    for (size_t base = 0; base < texts.size(); base += kBatch) {
      const size_t m = texts.size() - base < kBatch ? texts.size() - base : kBatch;
      for (size_t i = 0; i < m; ++i) {
        h[i] = hash(texts[base + i]);
        __builtin_prefetch(&slots_[h[i] & mask_], 1);
      }
      for (size_t i = 0; i < m; ++i) {
        const auto id = static_cast<TokenId>(base + i);
        if (!insert(texts[id], id, h[i]) && duplicate == kNoToken) duplicate = id;
      }
    }
    return duplicate;
  }

  // The longest run of slots an insert walked (a measure of clustering).
  size_t max_probe() const { return max_probe_; }

  // The id of `text`, or kNoToken.
  TokenId find(std::string_view text) const {
    if (slots_.empty()) return kNoToken;
    return find_hashed(text, hash(text));
  }

  // find() for n texts at once. Lookups are bound by cache misses; issuing the loads of a
  // whole batch before using them overlaps the misses (used for the merge table at load).
  void find_batch(const std::string_view* texts, size_t n, TokenId* ids) const {
    constexpr size_t kMaxBatch = 64;
    uint64_t h[kMaxBatch];
    for (size_t base = 0; base < n; base += kMaxBatch) {
      const size_t m = n - base < kMaxBatch ? n - base : kMaxBatch;
      for (size_t i = 0; i < m; ++i) {
        h[i] = hash(texts[base + i]);
        __builtin_prefetch(&slots_[h[i] & mask_]);
      }
      for (size_t i = 0; i < m; ++i) {
        const Slot& s = slots_[h[i] & mask_];
        if (s.id != kNoToken) __builtin_prefetch(&(*texts_)[s.id]);
      }
      for (size_t i = 0; i < m; ++i) ids[base + i] = find_hashed(texts[base + i], h[i]);
    }
  }

 private:
  struct Slot {
    uint32_t tag;
    TokenId id;
  };
  // A small multiply-xorshift hash over 8-byte words: token texts are short, and this is
  // several times cheaper than std::hash on them. Both halves are well mixed (the low bits
  // pick the slot, the high bits are the tag).
  uint64_t hash(std::string_view s) const {
    const char* p = s.data();
    size_t n = s.size();
    uint64_t h = seed_ ^ 0x9E3779B97F4A7C15ull ^ (n * 0xC2B2AE3D27D4EB4Full);
    for (; n >= 8; p += 8, n -= 8) {
      uint64_t w;
      std::memcpy(&w, p, 8);
      h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
      h ^= h >> 31;
    }
    if (n > 0) {
      uint64_t w = 0;
      std::memcpy(&w, p, n);
      h = (h ^ w) * 0x94D049BB133111EBull;
      h ^= h >> 29;
    }
    h *= 0xBF58476D1CE4E5B9ull;
    return h ^ (h >> 32);
  }

  TokenId find_hashed(std::string_view text, uint64_t h) const {
    const uint32_t tag = static_cast<uint32_t>(h >> 32);
    for (size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.id == kNoToken) return kNoToken;
      if (s.tag == tag && (*texts_)[s.id] == text) return s.id;
    }
  }

  bool insert(std::string_view text, TokenId id, uint64_t h) {
    const uint32_t tag = static_cast<uint32_t>(h >> 32);
    for (size_t i = h & mask_, probe = 1;; i = (i + 1) & mask_, ++probe) {
      Slot& s = slots_[i];
      if (probe > max_probe_) max_probe_ = probe;
      if (s.id == kNoToken) {
        s = Slot{tag, id};
        return true;
      }
      if (s.tag == tag && (*texts_)[s.id] == text) return false;
    }
  }

  const std::vector<std::string>* texts_ = nullptr;
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  uint64_t seed_ = 0;
  size_t max_probe_ = 0;
};

}  // namespace tok
}  // namespace hangar
