// Sequence: one stream of tokens whose keys and values live in the model's KV cache blocks.
#pragma once

#include <algorithm>
#include <cstdint>
#include <span>
#include <vector>

#include "base/result.h"
#include "model/kv_cache.h"

namespace hangar::engine {

using TokenId = int32_t;

// How many leading tokens `a` and `b` share (prefix reuse in memory and on disk).
inline int32_t common_prefix(std::span<const TokenId> a, std::span<const TokenId> b) {
  size_t n = std::min(a.size(), b.size()), i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return static_cast<int32_t>(i);
}

// Owns references to KV blocks; release() (or the destructor of its owner) must return them.
// Not thread-safe: the engine thread owns sequences.
class Sequence {
 public:
  Sequence() = default;
  Sequence(const Sequence&) = delete;
  Sequence& operator=(const Sequence&) = delete;
  Sequence(Sequence&&) = default;
  Sequence& operator=(Sequence&&) = default;

  // Tokens whose keys and values are in the cache, in order (position = index).
  const std::vector<TokenId>& tokens() const { return tokens_; }
  int32_t n_past() const { return static_cast<int32_t>(tokens_.size()); }
  const std::vector<int32_t>& blocks() const { return blocks_; }

  // Makes the block table cover `n_tokens` positions, allocating blocks as needed. A shared
  // (ref_count > 1) last block about to be written is copied first. Error when the cache is full.
  Status reserve(model::KvCache& kv, int32_t n_tokens);
  // Blocks that reserve(kv, n_past() + n) would allocate: new blocks past the table's end, plus
  // one when the partly filled last block is shared and must be copied before it is written.
  int32_t blocks_to_append(const model::KvCache& kv, int32_t n) const;
  // Records that `t` was written at position n_past().
  void push(TokenId t) { tokens_.push_back(t); }
  // Drops positions >= n and releases blocks not needed for the first n (also those reserved
  // beyond n_past() by a reserve() whose evaluation did not happen).
  void truncate(model::KvCache& kv, int32_t n);
  // Starts this (empty) sequence from another's first `n` cached tokens, sharing whole blocks.
  void share_prefix(model::KvCache& kv, const Sequence& from, int32_t n);
  // Starts this (empty) sequence as `tokens` held in `blocks`, whose references pass to it
  // (keys and values restored from elsewhere, e.g. the disk store).
  void adopt(const model::KvCache& kv, std::vector<TokenId> tokens, std::vector<int32_t> blocks);
  void release(model::KvCache& kv);

 private:
  std::vector<TokenId> tokens_;
  std::vector<int32_t> blocks_;
};

}  // namespace hangar::engine
