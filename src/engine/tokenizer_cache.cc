// TokenizerCache: a small LRU of tokenizers keyed by model file identity.
#include "engine/tokenizer_cache.h"

#include <sys/stat.h>

namespace hangar::engine {

std::optional<FileIdentity> file_identity(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileIdentity{static_cast<uint64_t>(st.st_dev), static_cast<uint64_t>(st.st_ino),
                      static_cast<uint64_t>(st.st_size),
                      int64_t{st.st_mtim.tv_sec} * 1'000'000'000 + st.st_mtim.tv_nsec};
}

std::optional<Tokenizer> TokenizerCache::find(const FileIdentity& id) {
  std::lock_guard lock(mu_);
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (!(it->first == id)) continue;
    entries_.splice(entries_.begin(), entries_, it);
    stats_.hits += 1;
    return entries_.front().second;
  }
  stats_.misses += 1;
  return std::nullopt;
}

void TokenizerCache::put(const FileIdentity& id, const Tokenizer& tokenizer) {
  if (capacity_ == 0) return;
  std::lock_guard lock(mu_);
  std::erase_if(entries_, [&](const auto& e) { return e.first == id; });
  entries_.emplace_front(id, tokenizer);
  while (entries_.size() > capacity_) entries_.pop_back();
}

TokenizerCache::Stats TokenizerCache::stats() const {
  std::lock_guard lock(mu_);
  Stats s = stats_;
  s.entries = entries_.size();
  return s;
}

}  // namespace hangar::engine
