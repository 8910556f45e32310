// PrefixCache: longest-common-prefix lookup over retired and live sequences.
#include "engine/prefix_cache.h"

#include <algorithm>
#include <limits>

namespace hangar::engine {

void PrefixCache::put(Sequence&& seq, int64_t now_ms) {
  if (seq.n_past() == 0) return;
  int64_t reuses = 0;
  // An entry that is a prefix of the new one can serve nothing the new one cannot.
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (common_prefix(it->seq.tokens(), seq.tokens()) == it->seq.n_past()) {
      reuses += it->reuses;  // the longer one inherits the uses of the prefix it replaces
      it->seq.release(kv_);
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  entries_.push_front(Entry{std::move(seq), now_ms, reuses});
}

int32_t PrefixCache::reuse(const std::vector<TokenId>& prompt, int32_t max_len,
                           const std::vector<const Sequence*>& live, Sequence& out, int64_t now_ms) {
  int32_t best = 0;
  const Sequence* from = nullptr;
  auto best_entry = entries_.end();
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    int32_t n = std::min(common_prefix(it->seq.tokens(), prompt), max_len);
    if (n > best) best = n, from = &it->seq, best_entry = it;
  }
  for (const Sequence* s : live) {
    int32_t n = std::min(common_prefix(s->tokens(), prompt), max_len);
    if (n > best) best = n, from = s, best_entry = entries_.end();
  }
  if (best == 0) return 0;
  out.share_prefix(kv_, *from, best);
  if (best_entry != entries_.end()) {
    best_entry->last_used_ms = now_ms;
    ++best_entry->reuses;
    entries_.splice(entries_.begin(), entries_, best_entry);
  }
  return best;
}

std::vector<const Sequence*> PrefixCache::by_value() const { return unused_before(std::numeric_limits<int64_t>::max()); }

std::vector<const Sequence*> PrefixCache::unused_before(int64_t cutoff_ms) const {
  std::vector<const Entry*> order;
  for (const Entry& e : entries_)
    if (e.last_used_ms < cutoff_ms) order.push_back(&e);
  auto value = [](const Entry* e) { return static_cast<int64_t>(e->seq.n_past()) * (1 + e->reuses); };
  std::stable_sort(order.begin(), order.end(), [&](const Entry* a, const Entry* b) { return value(a) > value(b); });
  std::vector<const Sequence*> out;
  for (const Entry* e : order) out.push_back(&e->seq);
  return out;
}

bool PrefixCache::evict_one() {
  if (entries_.empty()) return false;
  entries_.back().seq.release(kv_);
  entries_.pop_back();
  return true;
}

int PrefixCache::trim_unused_before(int64_t cutoff_ms) {
  int n = 0;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (it->last_used_ms < cutoff_ms) {
      it->seq.release(kv_);
      it = entries_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

void PrefixCache::clear() {
  while (evict_one()) {
  }
}

}  // namespace hangar::engine
