// Byte-level BPE merge loop over a linked list of symbols with a rank-ordered heap.
#include "tokenizer/bpe.h"

#include <algorithm>
#include <random>

#include "tokenizer/unicode.h"

namespace hangar::tok {
namespace {

using Symbol = BpeScratch::Symbol;
using Bigram = BpeScratch::Bigram;

// Lowest rank first, then leftmost: the order in which llama.cpp applies merges.
struct BigramAfter {
  bool operator()(const Bigram& a, const Bigram& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.left > b.left);
  }
};

}  // namespace

void PairRanks::reserve(size_t n) {
  size_t capacity = 16;
  int bits = 4;
  while (capacity * 2 < n * 3) {  // load <= 2/3, as insert_if_absent asserts (n + n / 2 rounds down)
    capacity <<= 1;
    ++bits;
  }
  slots_.assign(capacity, Slot{kEmpty, -1});
  mask_ = capacity - 1;
  shift_ = 64 - bits;
  size_ = 0;
  std::random_device rd;
  seed_ = (uint64_t{rd()} << 32) ^ rd();
}

void PairRanks::insert_if_absent(uint64_t key, int32_t rank) {
  HANGAR_ASSERT(key != kEmpty && (size_ + 1) * 3 <= slots_.size() * 2);
  for (size_t i = slot(key);; i = (i + 1) & mask_) {
    if (slots_[i].key == key) return;
    if (slots_[i].key == kEmpty) {
      slots_[i] = Slot{key, rank};
      ++size_;
      return;
    }
  }
}

BpeModel BpeModel::build(const TokenIndex& index, int32_t n_vocab,
                         const std::vector<const std::string*>& merges) {
  BpeModel m;
  m.n_vocab_ = n_vocab;
  m.ranks_.reserve(merges.size());
  auto id_or_extra = [&](std::string_view part) {
    TokenId id = index.find(part);
    if (id != kNoToken) return id;
    auto it = m.extra_ids_.find(part);
    if (it != m.extra_ids_.end()) return it->second;
    const int32_t extra = n_vocab + static_cast<int32_t>(m.extra_ids_.size());
    m.extra_ids_.emplace(std::string(part), extra);
    return extra;
  };
  // Batches of merges: look all parts up at once, then insert, so that the cache misses of
  // a batch overlap (loading is otherwise bound by them).
  constexpr size_t kBatch = 256;
  std::string_view parts[2 * kBatch];
  TokenId ids[2 * kBatch];
  uint64_t keys[kBatch];
  for (size_t base = 0; base < merges.size(); base += kBatch) {
    const size_t n = std::min(kBatch, merges.size() - base);
    for (size_t i = 0; i < n; ++i) {
      std::string_view merge = *merges[base + i];
      // The separator is searched from position 1 so that a part may itself be a space.
      const size_t space = merge.find(' ', 1);
      parts[2 * i] = space == std::string_view::npos ? std::string_view() : merge.substr(0, space);
      parts[2 * i + 1] =
          space == std::string_view::npos ? std::string_view() : merge.substr(space + 1);
    }
    index.find_batch(parts, 2 * n, ids);
    for (size_t i = 0; i < n; ++i) {
      keys[i] = ~uint64_t{0};
      if (parts[2 * i].empty()) continue;  // no separator: this merge can never apply
      const int32_t left = ids[2 * i] != kNoToken ? ids[2 * i] : id_or_extra(parts[2 * i]);
      const int32_t right =
          ids[2 * i + 1] != kNoToken ? ids[2 * i + 1] : id_or_extra(parts[2 * i + 1]);
      keys[i] = PairRanks::key(left, right);
      m.ranks_.prefetch(keys[i]);
    }
    for (size_t i = 0; i < n; ++i) {
      if (keys[i] != ~uint64_t{0})
        m.ranks_.insert_if_absent(keys[i], static_cast<int32_t>(base + i));
    }
  }
  for (int b = 0; b < 256; ++b) {
    m.byte_symbol_[b] = m.symbol_id(byte_to_unicode_utf8(static_cast<uint8_t>(b)), index);
    const char c = static_cast<char>(b);
    m.single_char_token_[b] = index.find(std::string_view(&c, 1));
  }
  return m;
}

int32_t BpeModel::symbol_id(std::string_view text, const TokenIndex& index) const {
  TokenId id = index.find(text);
  if (id != kNoToken || extra_ids_.empty()) return id;
  auto it = extra_ids_.find(text);
  return it == extra_ids_.end() ? kNoToken : it->second;
}

void BpeModel::encode_word(std::string_view word, const TokenIndex& index, bool ignore_merges,
                           BpeScratch& scratch, std::vector<TokenId>& out) const {
  if (word.empty()) return;
  // Byte-level BPE works on GPT-2's printable stand-ins: one symbol per raw byte.
  std::string& encoded = scratch.encoded;
  std::vector<Symbol>& symbols = scratch.symbols;
  encoded.clear();
  symbols.clear();
  for (size_t i = 0; i < word.size(); ++i) {
    const auto b = static_cast<uint8_t>(word[i]);
    const int32_t n = static_cast<int32_t>(symbols.size());
    const std::string_view stand_in = byte_to_unicode_utf8(b);
    symbols.push_back({static_cast<uint32_t>(encoded.size()),
                       static_cast<uint32_t>(stand_in.size()), byte_symbol_[b], n - 1,
                       i + 1 < word.size() ? n + 1 : -1});
    encoded.append(stand_in);
  }

  if (ignore_merges) {
    const TokenId whole = index.find(encoded);
    if (whole != kNoToken) {
      out.push_back(whole);
      return;
    }
  }

  std::vector<Bigram>& heap = scratch.heap;  // a max-heap under BigramAfter: next merge on top
  heap.clear();
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const int32_t lid = symbols[left].id, rid = symbols[right].id;
    if (lid == kNoToken || rid == kNoToken) return;
    const int32_t rank = ranks_.find(PairRanks::key(lid, rid));
    if (rank < 0) return;
    heap.push_back({rank, left, right, lid, rid});
    std::push_heap(heap.begin(), heap.end(), BigramAfter());
  };
  for (int32_t i = 1; i < static_cast<int32_t>(symbols.size()); ++i) try_add(i - 1, i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), BigramAfter());
    const Bigram bg = heap.back();
    heap.pop_back();
    Symbol& left = symbols[bg.left];
    Symbol& right = symbols[bg.right];
    // Stale when either side was merged away or has grown since the pair was queued.
    if (left.length == 0 || right.length == 0 || left.id != bg.left_id || right.id != bg.right_id)
      continue;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = bg.left;
    left.id = symbol_id(std::string_view(encoded).substr(left.start, left.length), index);
    try_add(left.prev, bg.left);
    try_add(bg.left, left.next);
  }

  for (int32_t i = 0; i >= 0; i = symbols[i].next) {
    const Symbol& s = symbols[i];
    if (s.id != kNoToken && s.id < n_vocab_) {
      out.push_back(s.id);
      continue;
    }
    // Not a token: fall back to tokens for the single chars of its encoded text (llama.cpp
    // drops the chars that have none).
    for (uint32_t k = 0; k < s.length; ++k) {
      const TokenId t = single_char_token_[static_cast<uint8_t>(encoded[s.start + k])];
      if (t != kNoToken) out.push_back(t);
    }
  }
}

}  // namespace hangar::tok
