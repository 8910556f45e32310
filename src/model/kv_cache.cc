// KvCache: block allocation with reference counts.
#include "model/kv_cache.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

namespace hangar::model {

KvCache::KvCache(const HParams& hp, int32_t n_blocks, int32_t block_tokens)
    : KvCache(hp, n_blocks, block_tokens, DeviceBlocks()) {
  const size_t bytes = static_cast<size_t>(n_layer_) * n_blocks_ * block_tokens_ * kv_dim_ * sizeof(uint16_t);
  for (Storage* s : {&k_mem_, &v_mem_}) {
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    HANGAR_ASSERT(p != MAP_FAILED);  // address space only: fails only when the process has none
    s->base = p;
    s->bytes = bytes;
  }
  k_ = static_cast<uint16_t*>(k_mem_.base);
  v_ = static_cast<uint16_t*>(v_mem_.base);
}

KvCache::KvCache(const HParams& hp, int32_t n_blocks, int32_t block_tokens, DeviceBlocks device)
    : n_layer_(hp.n_layer), kv_dim_(hp.kv_dim()), n_blocks_(n_blocks), block_tokens_(block_tokens),
      device_(std::move(device)) {
  HANGAR_ASSERT(n_blocks > 0 && block_tokens > 0);
  refs_.assign(n_blocks_, 0);
  dirty_.assign(n_blocks_, 0);
  free_.reserve(n_blocks_);
  // Hand out low block numbers first so that touched memory stays compact.
  for (int32_t b = n_blocks_ - 1; b >= 0; --b) free_.push_back(b);
}

KvCache::Storage::~Storage() {
  if (base) ::munmap(base, bytes);
}

uint64_t KvCache::bytes_of(int32_t n_layer, int32_t kv_dim, int64_t n_blocks, int32_t block_tokens) {
  // K and V, F16, every layer.
  return static_cast<uint64_t>(n_blocks) * block_tokens * n_layer * kv_dim * sizeof(uint16_t) * 2;
}

uint64_t KvCache::bytes_for(const HParams& hp, int64_t n_blocks, int32_t block_tokens) {
  return bytes_of(hp.n_layer, hp.kv_dim(), n_blocks, block_tokens);
}

size_t KvCache::block_bytes() const { return bytes_of(n_layer_, kv_dim_, 1, block_tokens_); }

int32_t KvCache::allocate() {
  if (free_.empty()) return -1;
  int32_t b = free_.back();
  free_.pop_back();
  refs_[b] = 1;
  dirty_[b] = 1;
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
  if (!has_host_storage()) return device_.copy(from, to, n_slots);
  size_t bytes = static_cast<size_t>(n_slots) * kv_dim_ * sizeof(uint16_t);
  for (int32_t l = 0; l < n_layer_; ++l) {
    std::memcpy(k(l, to, 0), k(l, from, 0), bytes);
    std::memcpy(v(l, to, 0), v(l, from, 0), bytes);
  }
}

uint64_t KvCache::discard_free_blocks() {
  if (!has_host_storage()) return 0;  // the device's memory, allocated once
  const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const size_t span = static_cast<size_t>(block_tokens_) * kv_dim_ * sizeof(uint16_t);  // one layer
  uint64_t freed = 0;
  for (int32_t b : free_) {
    if (!dirty_[b]) continue;
    dirty_[b] = 0;
    freed += block_bytes();
    for (int32_t l = 0; l < n_layer_; ++l) {
      for (uint16_t* base : {k_, v_}) {
        // Only the whole pages inside the block's span: a page shared with a neighbour stays.
        const auto start = reinterpret_cast<uintptr_t>(row(base, l, b, 0));
        const uintptr_t lo = (start + page - 1) / page * page, hi = (start + span) / page * page;
        if (hi > lo) ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
      }
    }
  }
  return freed;
}

uint64_t KvCache::committed_bytes() const {
  if (!has_host_storage()) return 0;
  uint64_t n = 0;
  for (uint8_t d : dirty_) n += d;
  return n * block_bytes();
}

size_t KvCache::block_image_bytes(int32_t n_slots) const {
  return static_cast<size_t>(n_layer_) * 2 * n_slots * kv_dim_ * sizeof(uint16_t);
}

void KvCache::read_block(int32_t block, int32_t n_slots, uint8_t* out) const {
  HANGAR_ASSERT(block >= 0 && block < n_blocks_ && n_slots > 0 && n_slots <= block_tokens_);
  if (!has_host_storage()) return device_.read(block, n_slots, out);
  const size_t bytes = static_cast<size_t>(n_slots) * kv_dim_ * sizeof(uint16_t);
  for (int32_t l = 0; l < n_layer_; ++l) {
    std::memcpy(out, k(l, block, 0), bytes);
    std::memcpy(out + bytes, v(l, block, 0), bytes);
    out += 2 * bytes;
  }
}

void KvCache::write_block(int32_t block, int32_t n_slots, const uint8_t* in) {
  HANGAR_ASSERT(block >= 0 && block < n_blocks_ && refs_[block] == 1 && n_slots > 0 && n_slots <= block_tokens_);
  if (!has_host_storage()) return device_.write(block, n_slots, in);
  const size_t bytes = static_cast<size_t>(n_slots) * kv_dim_ * sizeof(uint16_t);
  for (int32_t l = 0; l < n_layer_; ++l) {
    std::memcpy(k(l, block, 0), in, bytes);
    std::memcpy(v(l, block, 0), in + bytes, bytes);
    in += 2 * bytes;
  }
}

}  // namespace hangar::model
