// KvCache: block allocation with reference counts.
#include "model/kv_cache.h"

#include <cstring>

namespace hangar::model {

KvCache::KvCache(const HParams& hp, int32_t n_blocks, int32_t block_tokens)
    : n_layer_(hp.n_layer), kv_dim_(hp.kv_dim()), n_blocks_(n_blocks), block_tokens_(block_tokens) {
  HANGAR_ASSERT(n_blocks > 0 && block_tokens > 0);
  size_t n = static_cast<size_t>(n_layer_) * n_blocks_ * block_tokens_ * kv_dim_;
  k_.reset(new uint16_t[n]);
  v_.reset(new uint16_t[n]);
  refs_.assign(n_blocks_, 0);
  free_.reserve(n_blocks_);
  // Hand out low block numbers first so that touched memory stays compact.
  for (int32_t b = n_blocks_ - 1; b >= 0; --b) free_.push_back(b);
}

size_t KvCache::block_bytes() const {
  return static_cast<size_t>(n_layer_) * block_tokens_ * kv_dim_ * sizeof(uint16_t) * 2;
}

int32_t KvCache::allocate() {
  if (free_.empty()) return -1;
  int32_t b = free_.back();
  free_.pop_back();
  refs_[b] = 1;
  return b;
}

void KvCache::retain(int32_t block) {
  HANGAR_ASSERT(block >= 0 && block < n_blocks_ && refs_[block] > 0);
  ++refs_[block];
}

void KvCache::release(int32_t block) {
  HANGAR_ASSERT(block >= 0 && block < n_blocks_ && refs_[block] > 0);
  if (--refs_[block] == 0) free_.push_back(block);
}

void KvCache::copy_block(int32_t from, int32_t to, int32_t n_slots) {
  size_t bytes = static_cast<size_t>(n_slots) * kv_dim_ * sizeof(uint16_t);
  for (int32_t l = 0; l < n_layer_; ++l) {
    std::memcpy(k(l, to, 0), k(l, from, 0), bytes);
    std::memcpy(v(l, to, 0), v(l, from, 0), bytes);
  }
}

}  // namespace hangar::model
