// Registry: the persistent catalogue of model files (SQLite in the state dir).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "manager/model_record.h"

namespace hangar::manager {

class Db;
class Stmt;

// A model's footprint as measured after a load, with what it was measured under. From the
// second load on, admission counts this figure instead of the estimate.
struct Footprint {
  std::string settings;   // the LoadPlan::settings of that load
  uint64_t file_size = 0;  // the file version it was measured on
  int64_t mtime_ns = 0;
  uint64_t measured_bytes = 0;
  uint64_t estimated_bytes = 0;  // the estimate for the same load, to report its error
  int64_t measured_at_ms = 0;    // wall clock
};

struct ScanReport {
  std::vector<std::string> added;    // new files
  std::vector<std::string> updated;  // size or mtime changed: header to be read again
  std::vector<std::string> removed;  // known ids whose file is gone (record kept, present=false)
  int unchanged = 0;
};

struct HeaderReport {
  std::vector<std::string> read;  // headers read and stored
  std::vector<std::pair<std::string, std::string>> failed;  // id, why the header is unreadable
  int64_t pending = 0;  // present records whose header is still to be read, after this call
};

// One registry per state dir: the state dir is locked (flock) while it is open, so a second
// process (or a second Registry in this one) gets a clear error instead of sharing the file.
// All methods are thread-safe; reads come from an in-memory copy, every change is written
// through to SQLite (WAL, so a write costs no fsync) before the method returns, except the
// request history's rows, which are written in batches (record_request).
class Registry {
 public:
  struct Options {
    std::string state_dir;   // created if missing; holds hangar.db and hangar.lock
    std::string models_dir;  // created if missing; scanned for *.gguf (not recursive)
    const WallClock* wall_clock = nullptr;  // must outlive the registry
    // Reads a file's header into a record (default: inspect_model_file). Called by scan() from
    // several threads at once, without the registry's locks; tests pass one that waits.
    std::function<Status(const std::string& path, ModelRecord* rec)> inspect;
  };
  static constexpr const char* kDbFileName = "hangar.db";

  // Opens or creates the state. A corrupt file, a SQLite file of another program, or one
  // from a newer hangar returns an error naming the file and what to do; nothing is changed.
  static Result<std::unique_ptr<Registry>> open(const Options& options);
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Reconciles the records with the models dir from stat() alone: a new or changed file
  // (size, mtime or path) is registered with its header pending, all changes in one
  // transaction; no model file is opened. A changed file keeps its stored sha256 (the expected
  // digest), so a load can detect that the contents changed. Scans are serialised; the
  // registry's lock is held only to compare and write (no file is read under it).
  Result<ScanReport> scan();

  // Reads the headers of up to `max_files` present records whose header is pending, in
  // parallel and without the registry's lock, and stores them in one transaction (a file that
  // changed meanwhile is left pending for the next call). Unreadable files get a scan_error.
  // Calls are serialised with each other, not with lookups.
  Result<HeaderReport> read_headers(size_t max_files = SIZE_MAX);
  // Present records whose header is still to be read.
  int64_t pending_headers() const;

  // Records of present models (or all known ones), ordered by id.
  std::vector<ModelRecord> list(bool include_absent = false) const;
  // The record for `id`, present or not; nullopt when never seen. Never opens the file: the
  // header facts of a new file may still be pending (ModelRecord::header_pending()).
  std::optional<ModelRecord> get(const std::string& id) const;
  // get(), with a pending header read first (a few milliseconds, outside the lock) and stored:
  // for what needs the facts of one model (an estimate, a load, its details).
  std::optional<ModelRecord> get_with_header(const std::string& id);
  // Changes whenever a record changes (see ModelRecord::version); starts at 1.
  uint64_t version() const;
  // The id and version of each present record, ordered by id: a reader that keeps copies (the
  // rendered model list) fetches only the records whose version moved.
  std::vector<std::pair<std::string, uint64_t>> versions() const;

  // Usage counters. Each returns an error for an unknown id or when the write fails.
  Status record_access(const std::string& id);
  Status record_load(const std::string& id, int64_t load_ms);
  // Stores `sha256` as the expected digest of the file with that size and mtime.
  Status set_digest(const std::string& id, const std::string& sha256, uint64_t size,
                    int64_t mtime_ns);
  // Forgets the expected digest (the user accepts a replaced file); it is hashed again.
  Status clear_digest(const std::string& id);

  // Forgets the records of files absent since before `absent_before_ms` (wall clock): their
  // rows, usage counters and digests, and their place on the preload list. Returns the ids.
  Result<std::vector<std::string>> prune_absent(int64_t absent_before_ms);

  struct Maintenance {
    int64_t pages_freed = 0;   // free pages handed back by incremental vacuum
    int64_t page_size = 0;
    int64_t wal_bytes_before = 0, wal_bytes_after = 0;  // the write-ahead log, checkpointed
  };
  // SQLite upkeep: PRAGMA optimize, incremental vacuum, a truncating WAL checkpoint. Takes the
  // registry's lock for its length (milliseconds for a registry of thousands of models).
  Result<Maintenance> maintain();
  // Stores (replaces) the footprint of `id` under f.settings, stamped with the wall clock now.
  // Error for an unknown id or a failed write.
  Status record_footprint(const std::string& id, const Footprint& f);
  // The footprint of `id` under `settings` for the file as it is now (same size and mtime);
  // nullopt when none was measured.
  std::optional<Footprint> footprint(const std::string& id, const std::string& settings) const;
  // Every stored footprint of `id` for the file as it is now, newest first.
  std::vector<Footprint> footprints(const std::string& id) const;

  // The preload list, in order; it survives restarts. add/set require known, present ids.
  std::vector<std::string> preload_list() const;
  Status set_preload_list(const std::vector<std::string>& ids);
  Status add_preload(const std::string& id);
  Status remove_preload(const std::string& id);

  // The request history the learned preloader learns from (registry_history.cc): one row per
  // request (model id, wall-clock ms), oldest first. It survives restarts.
  struct RequestEvent {
    std::string id;
    int64_t at_ms = 0;
  };
  // Rows wait in memory and are written kHistoryBatch at a time in one transaction (this runs
  // at every request), or by flush_history(), prune_history() and the destructor; a crash
  // loses at most the unwritten rows. An error means the buffered rows could not be written
  // (they are dropped).
  static constexpr size_t kHistoryBatch = 64;
  Status record_request(const std::string& id, int64_t at_ms);
  Status flush_history();
  // The stored rows and the buffered ones.
  Result<std::vector<RequestEvent>> request_history() const;
  // Deletes all but the newest `keep` rows; returns how many went.
  Result<int64_t> prune_history(int64_t keep);
  Status clear_history();
  int64_t history_size() const;  // rows stored and buffered

  // Per-model settings changed through the API (PATCH /v1/models/{id}/settings), as the TOML
  // text settings_file.h encodes; they survive restarts. Ids need not be present models.
  std::map<std::string, std::string> api_settings() const;
  // Stores `toml` for `id`; an empty text deletes the row.
  Status set_api_settings(const std::string& id, const std::string& toml);
  // Pinned models (ModelCache::pin), sorted; they survive restarts like the preload list.
  // set_pinned(id, true) requires a known id; unpinning an id that is not pinned is a no-op.
  std::vector<std::string> pinned() const;
  Status set_pinned(const std::string& id, bool pinned);

  const std::string& models_dir() const { return models_dir_; }
  const std::string& db_path() const { return db_path_; }

 private:
  Registry() = default;
  Status init_schema();
  Status load_all();
  // Writes one record (caller holds mu_) and gives it the next version. `insert` is a prepared
  // insert_sql() statement to reuse in a batch; null prepares one.
  Status write_record(ModelRecord& rec, Stmt* insert = nullptr);
  // Stores a header read of `rec`'s file if the record still names that file unread.
  bool store_header_locked(const ModelRecord& read, std::vector<ModelRecord>* writes);
  void read_in_parallel(std::vector<ModelRecord>& recs, std::vector<std::string>& errors, size_t threads);
  Status write_preload();                       // caller holds mu_
  Status init_footprints();                     // registry_footprints.cc; at open
  Status init_history();                        // registry_history.cc; at open
  Status flush_history_locked();
  Result<ModelRecord*> find_locked(const std::string& id);

  std::string models_dir_, db_path_;
  const WallClock* wall_ = nullptr;
  std::function<Status(const std::string&, ModelRecord*)> inspect_;
  int lock_fd_ = -1;
  std::unique_ptr<Db> db_;
  mutable std::mutex mu_;
  std::mutex scan_mu_, headers_mu_;
  uint64_t version_ = 1;  // guarded by mu_
  std::map<std::string, ModelRecord> records_;
  std::vector<std::string> preload_;
  std::map<std::string, std::string> api_settings_;
  std::map<std::string, std::vector<Footprint>> footprints_;  // by model id
  int64_t history_rows_ = 0;                 // stored and buffered
  std::vector<RequestEvent> history_buffer_;  // not yet written, oldest first
  std::vector<std::string> pins_;  // sorted
};

}  // namespace hangar::manager
