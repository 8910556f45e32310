// TokenizerCache: the tokenizers of recently loaded model files, kept by file identity so that
// loading an unchanged file again skips decoding its vocabulary and building its tables.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "tokenizer/tokenizer.h"

namespace hangar::engine {

// What names one version of a file: a file replaced (new inode) or rewritten in place (new
// size or mtime) is another.
struct FileIdentity {
  uint64_t dev = 0, ino = 0, size = 0;
  int64_t mtime_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};
// stat() of `path`; nullopt when it cannot be read.
std::optional<FileIdentity> file_identity(const std::string& path);

// Least recently used entries go first once `capacity` is reached. A Tokenizer is a shared
// handle, so an entry whose model is loaded costs no memory of its own; one of an unloaded
// model keeps its vocabulary (a few MB to a few tens of MB). Thread-safe.
class TokenizerCache {
 public:
  explicit TokenizerCache(size_t capacity = 4) : capacity_(capacity) {}

  std::optional<Tokenizer> find(const FileIdentity& id);
  void put(const FileIdentity& id, const Tokenizer& tokenizer);

  struct Stats {
    int64_t hits = 0, misses = 0;
    size_t entries = 0;
  };
  Stats stats() const;

 private:
  const size_t capacity_;
  mutable std::mutex mu_;
  std::list<std::pair<FileIdentity, Tokenizer>> entries_;  // most recently used first
  Stats stats_;
};

}  // namespace hangar::engine
