// Sequence: block-table bookkeeping over the shared KV cache.
#include "engine/sequence.h"

#include <algorithm>

namespace hangar::engine {

Status Sequence::reserve(model::KvCache& kv, int32_t n_tokens) {
  const int32_t bt = kv.block_tokens();
  // The block that will receive the next position must be exclusively ours.
  if (!blocks_.empty() && n_past() % bt != 0 && n_tokens > n_past()) {
    int32_t& last = blocks_[n_past() / bt];
    if (kv.ref_count(last) > 1) {
      int32_t copy = kv.allocate();
      if (copy < 0) return Error("KV cache is full (" + std::to_string(kv.n_blocks()) + " blocks of " +
                                 std::to_string(bt) + " tokens in use)");
      kv.copy_block(last, copy, n_past() % bt);
      kv.release(last);
      last = copy;
    }
  }
  const int32_t need = (n_tokens + bt - 1) / bt;
  while (static_cast<int32_t>(blocks_.size()) < need) {
    int32_t b = kv.allocate();
    if (b < 0)
      return Error("KV cache is full (" + std::to_string(kv.n_blocks()) + " blocks of " +
                   std::to_string(bt) + " tokens in use)");
    blocks_.push_back(b);
  }
  return Status::Ok();
}

int32_t Sequence::blocks_to_append(const model::KvCache& kv, int32_t n) const {
  if (n <= 0) return 0;
  const int32_t bt = kv.block_tokens();
  const int32_t need = (n_past() + n + bt - 1) / bt;
  const int32_t fresh = std::max(need - static_cast<int32_t>(blocks_.size()), 0);
  const bool copy = !blocks_.empty() && n_past() % bt != 0 && kv.ref_count(blocks_[n_past() / bt]) > 1;
  return fresh + (copy ? 1 : 0);
}

void Sequence::truncate(model::KvCache& kv, int32_t n) {
  if (n > n_past()) return;
  tokens_.resize(n);
  const int32_t keep = (n + kv.block_tokens() - 1) / kv.block_tokens();
  while (static_cast<int32_t>(blocks_.size()) > keep) {
    kv.release(blocks_.back());
    blocks_.pop_back();
  }
}

void Sequence::share_prefix(model::KvCache& kv, const Sequence& from, int32_t n) {
  HANGAR_ASSERT(blocks_.empty() && n <= from.n_past());
  const int32_t nb = (n + kv.block_tokens() - 1) / kv.block_tokens();
  for (int32_t i = 0; i < nb; ++i) {
    kv.retain(from.blocks_[i]);
    blocks_.push_back(from.blocks_[i]);
  }
  tokens_.assign(from.tokens_.begin(), from.tokens_.begin() + n);
}

void Sequence::adopt(const model::KvCache& kv, std::vector<TokenId> tokens, std::vector<int32_t> blocks) {
  const size_t bt = static_cast<size_t>(kv.block_tokens());
  HANGAR_ASSERT(blocks_.empty() && blocks.size() == (tokens.size() + bt - 1) / bt);
  tokens_ = std::move(tokens);
  blocks_ = std::move(blocks);
}

void Sequence::release(model::KvCache& kv) {
  for (int32_t b : blocks_) kv.release(b);
  blocks_.clear();
  tokens_.clear();
}

}  // namespace hangar::engine
