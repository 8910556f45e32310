// KvStore: saved prompt prefixes (KV blocks) on disk, so they outlive an unload or a restart.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "engine/kv_file.h"
#include "engine/sequence.h"
#include "model/kv_cache.h"

namespace hangar::engine {

struct KvStoreOptions {
  std::string dir;                     // created if missing; holds only this store's files
  uint64_t budget_bytes = 4ull << 30;  // most bytes of files kept; least recently used go first
  int32_t min_tokens = 32;             // shorter prefixes are not worth a file
};

struct KvStoreStats {
  int64_t files = 0;
  uint64_t bytes = 0;
  int64_t saves = 0, save_failures = 0;
  uint64_t saved_bytes = 0;
  int64_t restores = 0, restored_tokens = 0;
  int64_t rejected = 0;  // files found truncated, corrupt, foreign or stale: deleted, never used
  int64_t evicted = 0;   // files deleted to stay within the budget
};

// The longest saved prefix that serves a prompt: its first n_tokens tokens of `file`.
struct KvMatch {
  std::string file;  // name within the store's directory; empty: none
  int32_t n_tokens = 0;
};

// One directory of prefix files (kv_file.h), named by a checksum of (model path, KV layout,
// tokens). The index (headers: identity, layout, tokens) is read at open; block contents are
// checked when restored. Thread-safe: every model's scheduler thread calls it; file reads and
// writes happen outside the index's lock.
class KvStore {
 public:
  // Opens (creating) the directory and indexes its files: leftover temporary files are deleted,
  // and so is any *.kv file that is not a valid file of this format and version or whose
  // contents do not match its name (a warning for each). Errors: the directory cannot be
  // created or read.
  static Result<std::unique_ptr<KvStore>> open(KvStoreOptions options);

  // The longest prefix of `prompt` (at most max_len tokens) saved for this model and layout;
  // n_tokens 0 when none reaches min_tokens. Deletes the files of this model's path that a
  // changed model file made stale.
  KvMatch find(const KvModelIdentity& model, const std::string& layout, std::span<const TokenId> prompt,
               int32_t max_len);

  // Reads the match's blocks into newly allocated blocks of `kv` and starts `out` (empty) from
  // them. Error, with no block held and `out` unchanged, when the cache has too few free
  // blocks, the file went (evicted meanwhile) or it is bad (then it is deleted).
  Status restore(const KvMatch& match, const KvModelIdentity& model, const std::string& layout,
                 model::KvCache& kv, Sequence& out);

  // Saves `seqs` (most valuable first) while their files fit the budget together; a sequence
  // already saved (or a prefix of a saved one) is only marked used, and saved prefixes of a new
  // file are dropped. Older files are evicted to make room. Returns how many files it wrote.
  // Call on the thread that owns `kv`.
  int save(const KvModelIdentity& model, const std::string& layout, std::span<const Sequence* const> seqs,
           const model::KvCache& kv);

  KvStoreStats stats() const;
  const KvStoreOptions& options() const { return options_; }
  // The file name a prefix is saved under (tests).
  static std::string file_name(const KvModelIdentity& model, const std::string& layout,
                               std::span<const TokenId> tokens);

 private:
  struct Entry {
    KvFileHeader header;
    uint64_t bytes = 0;
    uint64_t last_used = 0;  // store-wide use counter; files found at open are ordered by mtime
  };
  explicit KvStore(KvStoreOptions options) : options_(std::move(options)) {}
  std::string path_of(const std::string& name) const { return options_.dir + "/" + name; }
  void scan();
  // Why a file goes: bad (a warning with `why`, counted as rejected), the budget, or a longer
  // file of the same conversation replaced it.
  enum class Drop { kRejected, kEvicted, kSuperseded };
  void drop_locked(const std::string& name, const std::string& why, Drop kind);
  void touch_locked(const std::string& name);
  void enforce_budget_locked();

  const KvStoreOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> entries_;  // by file name
  uint64_t total_bytes_ = 0;
  uint64_t use_counter_ = 0;
  int64_t last_stamp_ns_ = 0;  // the latest mtime given to a file
  KvStoreStats stats_;
};

}  // namespace hangar::engine
