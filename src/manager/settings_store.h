// SettingsStore: the settings in force (file + API overrides + flags), hot reload and aliases.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "manager/registry.h"
#include "manager/settings.h"
#include "manager/settings_file.h"

namespace hangar::manager {

// What the mtime poll compares; a change of either means the file was written.
struct FileStamp {
  int64_t mtime_ns = 0;
  uint64_t size = 0;
  bool operator==(const FileStamp&) const = default;
};
// nullopt: there is no such file. Injected so that tests change the stamp without sleeping.
using StatFn = std::function<std::optional<FileStamp>(const std::string& path)>;
std::optional<FileStamp> stat_file_stamp(const std::string& path);

struct SettingsOptions {
  std::string path;       // the settings file; empty: none
  bool required = false;  // --presets FILE: a missing file is an error, not "no settings"
  SettingsLayer flags;    // the command-line flags the user gave (source "flag")
  SettingsLayer builtin;  // the defaults of those flags; the sampling defaults are added
  StatFn stat;            // null: stat_file_stamp
  TemplateCheck check_template;  // parses chat_template values (file and PATCH); may be null
};

struct SettingsStatus {
  std::string path;
  bool file_present = false;
  int64_t version = 0;          // +1 for every change in force (file or API)
  int64_t reloads = 0;          // successful reads of the file
  int64_t failed_reloads = 0;   // refused files (the previous settings stayed in force)
  int64_t last_reload_ms = 0;   // wall clock of the last successful read; 0: never
  std::optional<SettingsFileError> last_error;  // of the latest read; cleared by a good one
  std::string last_error_message;
};

// Which models' effective settings changed, and why ("file" or "api").
struct SettingsChange {
  std::vector<std::string> ids;
  std::vector<std::string> reload_ids;  // those of `ids` whose engine sizes (ctx, parallel, ...) changed
  std::string cause;
};

// Holds the last good settings file, the API overrides (persisted in the registry) and the
// flag layers, and resolves them per model (settings.h). A file is applied whole or not at
// all: a refused file leaves the previous settings in force and is reported in status().
// Thread-safe; the listener runs on the thread that made the change, outside the lock.
// The registry and clock must outlive the store.
class SettingsStore {
 public:
  // Reads the file (an error names file, line, key and what was expected) and the stored
  // API overrides (a row that no longer checks is dropped with a warning).
  static Result<std::unique_ptr<SettingsStore>> open(SettingsOptions options, Registry& registry,
                                                     const WallClock& wall_clock);

  // Reads the file now (POST /v1/models/refresh). On error the previous settings stay.
  Status reload();
  // Reads the file again when its stamp changed since the last read (good or bad); returns
  // true when it read it. Cheap otherwise: one stat.
  bool poll();

  EffectiveSettings effective(const std::string& id) const;
  // effective(id) typed. Asked several times per request (priority, engine sizes, keep-alive,
  // sampling defaults): resolved once per id and kept until the file or the API changes them.
  ModelSettings model(const std::string& id) const;
  int32_t priority(const std::string& id) const { return model(id).priority; }
  // The model id `name` stands for: itself when it is a model id of the registry or of no
  // alias, else the model whose alias it is.
  std::string resolve_name(const std::string& name) const;

  // PATCH: sets `changes` (checked values, see check_setting) and removes `removals` from the
  // API overrides of `id`, persisted before it returns. An alias clash is refused.
  Status patch(const std::string& id, const SettingsLayer& changes, const std::vector<SettingKey>& removals);
  // DELETE: drops every API override of `id` (back to the file's settings).
  Status clear(const std::string& id);
  // The API overrides of `id` (empty when none).
  SettingsLayer api_layer(const std::string& id) const;

  SettingsStatus status() const;
  void set_listener(std::function<void(const SettingsChange&)> listener);

 private:
  SettingsStore(SettingsOptions options, Registry& registry, const WallClock& wall);
  struct Loaded {
    SettingsFile file;
    bool present = false;
    std::optional<FileStamp> stamp;
  };
  // Reads and checks the file without applying it; `detail` gets a refusal, `stamp` the
  // file's stamp as it was read (also on a refusal).
  Result<Loaded> read(SettingsFileError* detail, std::optional<FileStamp>* stamp) const;
  SettingsInputs inputs_locked(const std::string& id) const;
  // Ids the settings may concern: the registry's and those named by sections or the API.
  std::set<std::string> known_ids_locked() const;
  std::map<std::string, EffectiveSettings> snapshot_locked(const std::set<std::string>& ids) const;
  // The ids of `before` whose settings now differ; bumps the version when any did.
  SettingsChange diff_locked(const std::map<std::string, EffectiveSettings>& before, const char* cause);
  void notify(const SettingsChange& change);
  std::string base_dir() const;

  const SettingsOptions options_;
  Registry& registry_;
  const WallClock& wall_;
  SettingsLayer builtin_;
  std::mutex reload_mu_;  // serialises reload(), patch() and clear()
  mutable std::mutex mu_;
  SettingsFile file_;
  std::map<std::string, SettingsLayer> api_;
  // model()'s answers; cleared whenever file_ or api_ change (and when it grows past
  // kModelCacheMax ids, which only names never seen as models would make it).
  static constexpr size_t kModelCacheMax = 4096;
  mutable std::unordered_map<std::string, ModelSettings> models_;
  std::optional<FileStamp> last_stamp_;  // of the latest read attempt
  SettingsStatus status_;
  std::function<void(const SettingsChange&)> listener_;
};

}  // namespace hangar::manager
