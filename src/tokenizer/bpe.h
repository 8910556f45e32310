// Byte-level BPE: merges applied by rank to one pre-tokenized word, as llama.cpp does.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/result.h"
#include "tokenizer/token_index.h"

namespace hangar::tok {

// Open-addressing map from a (left, right) symbol-id pair to its merge rank; flat arrays
// keep the 100k-300k merges of a vocabulary cheap to build and to probe. The slot hash is
// seeded at random per table: the pairs come from the model file, and with a fixed
// multiplicative hash a file could pick pairs that land in one run of slots.
class PairRanks {
 public:
  static uint64_t key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
  }
  // Sizes the table for `n` entries; must precede the inserts.
  void reserve(size_t n);
  // Keeps the existing rank when `key` is already present (the first rank wins).
  void insert_if_absent(uint64_t key, int32_t rank);
  void prefetch(uint64_t key) const { __builtin_prefetch(&slots_[slot(key)], 1); }
  // The rank of `key`, or -1.
  int32_t find(uint64_t key) const {
    for (size_t i = slot(key);; i = (i + 1) & mask_) {
      if (slots_[i].key == key) return slots_[i].rank;
      if (slots_[i].key == kEmpty) return -1;
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};  // ids are non-negative, so never a key
  struct Slot {
    uint64_t key;
    int32_t rank;
  };
  size_t slot(uint64_t key) const { return ((key ^ seed_) * 0x9E3779B97F4A7C15ull) >> shift_; }
  std::vector<Slot> slots_{{kEmpty, -1}, {kEmpty, -1}};  // a valid empty table before reserve()
  size_t mask_ = 1;
  int shift_ = 63;
  size_t size_ = 0;
  uint64_t seed_ = 0;
};

// Buffers that encode_word reuses from word to word; one per encode call (not shared
// between threads).
struct BpeScratch {
  struct Symbol {
    uint32_t start;   // byte offset in the encoded word
    uint32_t length;  // 0 once merged into its left neighbour
    int32_t id;       // symbol id of the text, or kNoToken
    int32_t prev, next;
  };
  struct Bigram {
    int32_t rank;
    int32_t left, right;        // symbol indices
    int32_t left_id, right_id;  // their ids when queued, to recognise stale entries
  };
  std::string encoded;
  std::vector<Symbol> symbols;
  std::vector<Bigram> heap;
};

// The merge table keyed by symbol ids rather than strings, so that a merge step costs one
// integer hash lookup. Every string that appears as a merge part has a symbol id: its token
// id, or an id past the vocabulary for the rare part that is not itself a token.
// Immutable after build(); encode_word() is thread-safe.
class BpeModel {
 public:
  // `merges` are "left right" strings in rank order (tokenizer.ggml.merges); a string
  // without a separating space is skipped (it can never apply). The first rank of a
  // duplicated pair wins.
  static BpeModel build(const TokenIndex& index, int32_t n_vocab,
                        const std::vector<const std::string*>& merges);

  // Tokenizes one word (raw UTF-8 bytes, before GPT-2 byte encoding) and appends the ids.
  // ignore_merges: if the whole encoded word is a token, emit it directly (llama3).
  void encode_word(std::string_view word, const TokenIndex& index, bool ignore_merges,
                   BpeScratch& scratch, std::vector<TokenId>& out) const;

  size_t n_merges() const { return ranks_.size(); }

 private:
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // Symbol id of `text` (token id, extra id) or kNoToken when no merge can involve it.
  int32_t symbol_id(std::string_view text, const TokenIndex& index) const;

  int32_t n_vocab_ = 0;
  PairRanks ranks_;                               // (left, right) symbol ids -> rank
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> extra_ids_;
  std::array<int32_t, 256> byte_symbol_{};        // symbol id of each byte's stand-in char
  std::array<TokenId, 256> single_char_token_{};  // token whose text is that one raw char
};

}  // namespace hangar::tok
