// KvCache: the keys and values of every layer in fixed-size token blocks shared by sequences.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "base/result.h"
#include "model/hparams.h"

namespace hangar::model {

// Storage is F16 (as llama.cpp's default cache), laid out per layer as
// [block][slot][kv_dim] for K and for V, so one position's key of one kv-head is contiguous.
// Blocks are handed out by a free list with reference counts: a block that holds a shared prefix
// is retained by every sequence that uses it and freed when the last one releases it.
// A backend whose keys and values live in device memory builds the cache with DeviceBlocks:
// then this object only keeps the block table (no host storage; k() and v() must not be called)
// and copy_block, read_block and write_block ask the device. Not thread-safe: the engine thread
// owns it.
class KvCache {
 public:
  static constexpr int32_t kDefaultBlockTokens = 32;
  // A device's side of the blocks: `copy` copies the first n_slots positions of block `from`
  // into block `to` (all layers); `read` / `write` move one block's host image (as
  // read_block / write_block lay it out) out of and into device memory.
  struct DeviceBlocks {
    std::function<void(int32_t from, int32_t to, int32_t n_slots)> copy;
    std::function<void(int32_t block, int32_t n_slots, uint8_t* out)> read;
    std::function<void(int32_t block, int32_t n_slots, const uint8_t* in)> write;
  };

  KvCache(const HParams& hp, int32_t n_blocks, int32_t block_tokens = kDefaultBlockTokens);
  // Block table only; the storage is the device's (see above).
  KvCache(const HParams& hp, int32_t n_blocks, int32_t block_tokens, DeviceBlocks device);
  bool has_host_storage() const { return k_ != nullptr; }

  int32_t block_tokens() const { return block_tokens_; }
  int32_t n_blocks() const { return n_blocks_; }
  int32_t n_free_blocks() const { return static_cast<int32_t>(free_.size()); }
  int32_t n_used_blocks() const { return n_blocks_ - n_free_blocks(); }
  int32_t kv_dim() const { return kv_dim_; }
  int32_t n_layer() const { return n_layer_; }

  // Bytes a cache of `n_blocks` blocks takes for `hp`: the one home of the KV size formula
  // (estimates before a load use it too).
  static uint64_t bytes_for(const HParams& hp, int64_t n_blocks, int32_t block_tokens = kDefaultBlockTokens);
  // Bytes of one block across all layers, K and V.
  size_t block_bytes() const;
  // Bytes reserved for the whole cache, and bytes of the blocks in use.
  size_t capacity_bytes() const { return block_bytes() * n_blocks_; }
  size_t used_bytes() const { return block_bytes() * n_used_blocks(); }

  // Takes a free block with reference count 1; -1 when none is free.
  int32_t allocate();
  void retain(int32_t block);
  void release(int32_t block);
  int32_t ref_count(int32_t block) const { return refs_[block]; }

  uint16_t* k(int32_t layer, int32_t block, int32_t slot) { return row(k_, layer, block, slot); }
  uint16_t* v(int32_t layer, int32_t block, int32_t slot) { return row(v_, layer, block, slot); }
  const uint16_t* k(int32_t layer, int32_t block, int32_t slot) const {
    return row(k_, layer, block, slot);
  }
  const uint16_t* v(int32_t layer, int32_t block, int32_t slot) const {
    return row(v_, layer, block, slot);
  }
  // Copies all layers of block `from` into block `to` (copy-on-write of a partially shared block).
  void copy_block(int32_t from, int32_t to, int32_t n_slots);
  // Returns the memory of free blocks written since they were last discarded to the system
  // (their contents are lost; a block reads zero until written again); returns the bytes.
  // O(free blocks); for periodic clean-up, not the request path.
  uint64_t discard_free_blocks();
  // Bytes of blocks that hold host memory now: written since their last discard, used or free
  // (0 when the storage is a device's).
  uint64_t committed_bytes() const;

  // Saving and restoring blocks (the engine's disk store reaches the keys and values only
  // through these two, so a backend whose cache lives in device memory serves them by copying
  // to and from the host). The host image of positions [0, n_slots) of one block is, per layer,
  // its K rows then its V rows, each n_slots * kv_dim F16 values: block_image_bytes(n_slots).
  size_t block_image_bytes(int32_t n_slots) const;
  void read_block(int32_t block, int32_t n_slots, uint8_t* out) const;
  // `block` must be allocated (and not shared: its contents change for every holder).
  void write_block(int32_t block, int32_t n_slots, const uint8_t* in);

 private:
  static uint64_t bytes_of(int32_t n_layer, int32_t kv_dim, int64_t n_blocks, int32_t block_tokens);
  uint16_t* row(uint16_t* base, int32_t layer, int32_t block, int32_t slot) const {
    size_t idx = ((static_cast<size_t>(layer) * n_blocks_ + block) * block_tokens_ + slot) * kv_dim_;
    return base + idx;
  }

  // Anonymous memory that reads as zero, so the cache is neither cleared nor committed at load:
  // a page takes memory when a block on it is first written.
  struct Storage {
    void* base = nullptr;
    size_t bytes = 0;
    Storage() = default;
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;
    ~Storage();
  };
  int32_t n_layer_, kv_dim_, n_blocks_, block_tokens_;
  Storage k_mem_, v_mem_;  // empty with a device copier
  uint16_t* k_ = nullptr;
  uint16_t* v_ = nullptr;
  DeviceBlocks device_;
  std::vector<int32_t> refs_;
  std::vector<int32_t> free_;
  std::vector<uint8_t> dirty_;  // per block: allocated since its memory was last discarded
};

}  // namespace hangar::model
