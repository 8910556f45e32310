// PrefixCache: finished sequences kept in the KV cache so later prompts can reuse their prefix.
#pragma once

#include <cstdint>
#include <list>
#include <vector>

#include "engine/sequence.h"
#include "model/kv_cache.h"

namespace hangar::engine {

// Holds retired sequences (their blocks stay referenced) in least-recently-used order. A new
// prompt starts from the longest common prefix with any of them; blocks are shared, not copied.
// Not thread-safe: the scheduler thread owns it.
class PrefixCache {
 public:
  explicit PrefixCache(model::KvCache& kv) : kv_(kv) {}
  ~PrefixCache() { clear(); }

  // Keeps `seq` (moved in) for reuse.
  void put(Sequence&& seq);
  // Length of the longest prefix of `prompt` held by a retired or given live sequence, and starts
  // `out` (empty) from it, sharing blocks. At most max_len tokens are reused.
  int32_t reuse(const std::vector<TokenId>& prompt, int32_t max_len, const std::vector<const Sequence*>& live,
                Sequence& out);
  // Drops the least recently used entry; false when empty.
  bool evict_one();
  void clear();
  size_t size() const { return entries_.size(); }

 private:
  model::KvCache& kv_;
  std::list<Sequence> entries_;  // front = most recently used
};

}  // namespace hangar::engine
