// PrefixCache: finished sequences kept in the KV cache so later prompts can reuse their prefix.
#pragma once

#include <cstdint>
#include <cstddef>
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

  // Keeps `seq` (moved in) for reuse; `now_ms` (any monotonic scale) starts its idle time.
  void put(Sequence&& seq, int64_t now_ms = 0);
  // Length of the longest prefix of `prompt` held by a retired or given live sequence, and starts
  // `out` (empty) from it, sharing blocks. At most max_len tokens are reused. A retired entry
  // that serves the prompt counts as used at now_ms.
  int32_t reuse(const std::vector<TokenId>& prompt, int32_t max_len, const std::vector<const Sequence*>& live,
                Sequence& out, int64_t now_ms = 0);
  // The retired sequences, most worth keeping first: longest and most reused (tokens times
  // one plus the times it served a prompt). Valid until the cache changes.
  std::vector<const Sequence*> by_value() const;
  // The retired sequences trim_unused_before(cutoff_ms) would drop, most worth keeping first.
  std::vector<const Sequence*> unused_before(int64_t cutoff_ms) const;
  // Drops the least recently used entry; false when empty.
  bool evict_one();
  // Drops the entries last used before `cutoff_ms`; returns how many.
  int trim_unused_before(int64_t cutoff_ms);
  void clear();
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Sequence seq;
    int64_t last_used_ms = 0;
    int64_t reuses = 0;
  };
  model::KvCache& kv_;
  std::list<Entry> entries_;  // front = most recently used
};

}  // namespace hangar::engine
