// SettingsStore: file reloads applied whole, API overrides persisted, per-model resolution.
#include "manager/settings_store.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "base/log.h"
#include "sampling/sampler.h"

namespace hangar::manager {
namespace {

// The request defaults (llama.cpp's), shown as the "builtin" source of the sampling keys.
// Floats go through their printed form so that 0.8f shows as 0.8.
SettingsLayer sampling_defaults() {
  const SamplingParams sp;
  auto num = [](float f) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", static_cast<double>(f));
    return SettingValue{std::stod(buf), {}};
  };
  SettingsLayer l;
  l.set(SettingKey::kTemperature, num(sp.temperature));
  l.set(SettingKey::kTopP, num(sp.top_p));
  l.set(SettingKey::kTopK, SettingValue{int64_t{sp.top_k}, {}});
  l.set(SettingKey::kMinP, num(sp.min_p));
  l.set(SettingKey::kRepeatPenalty, num(sp.repeat_penalty));
  l.set(SettingKey::kSeed, SettingValue{int64_t{-1}, {}});
  l.set(SettingKey::kStop, SettingValue{std::vector<std::string>{}, {}});
  l.set(SettingKey::kAlias, SettingValue{std::vector<std::string>{}, {}});
  l.set(SettingKey::kPin, SettingValue{false, {}});
  l.set(SettingKey::kPreload, SettingValue{false, {}});
  l.set(SettingKey::kPriority, SettingValue{int64_t{0}, {}});
  l.set(SettingKey::kMemoryLimit, SettingValue{int64_t{0}, {}});
  return l;
}

}  // namespace

std::optional<FileStamp> stat_file_stamp(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  return FileStamp{int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec, static_cast<uint64_t>(st.st_size)};
}

SettingsStore::SettingsStore(SettingsOptions options, Registry& registry, const WallClock& wall)
    : options_(std::move(options)), registry_(registry), wall_(wall) {
  builtin_ = sampling_defaults();
  for (int i = 0; i < kSettingCount; ++i)
    if (options_.builtin.values[i]) builtin_.values[i] = options_.builtin.values[i];
  status_.path = options_.path;
}

Result<std::unique_ptr<SettingsStore>> SettingsStore::open(SettingsOptions options, Registry& registry,
                                                           const WallClock& wall_clock) {
  std::unique_ptr<SettingsStore> s(new SettingsStore(std::move(options), registry, wall_clock));
  for (const auto& [id, text] : registry.api_settings()) {
    Result<SettingsLayer> layer = decode_settings_layer(text, s->base_dir(), s->options_.check_template);
    if (!layer.ok()) {
      log_warn("ignoring the API settings of '" + id + "' stored in the registry: " + layer.error().message());
      continue;
    }
    s->api_[id] = std::move(layer).value();
  }
  SettingsFileError detail;
  std::optional<FileStamp> stamp;
  Result<Loaded> loaded = s->read(&detail, &stamp);
  if (!loaded.ok()) return loaded.error();
  s->file_ = std::move(loaded->file);
  s->last_stamp_ = loaded->stamp;
  s->status_.file_present = loaded->present;
  s->status_.reloads = loaded->present ? 1 : 0;
  s->status_.last_reload_ms = loaded->present ? wall_clock.now_unix_ms() : 0;
  if (loaded->present)
    log_info("settings: read " + std::to_string(s->file_.models.size()) + " model sections from '" +
             s->options_.path + "'");
  return s;
}

std::string SettingsStore::base_dir() const {
  return options_.path.empty() ? std::string() : std::filesystem::path(options_.path).parent_path().string();
}

Result<SettingsStore::Loaded> SettingsStore::read(SettingsFileError* detail, std::optional<FileStamp>* stamp) const {
  Loaded out;
  if (options_.path.empty()) return out;
  // Taken before reading: a write during the read moves the stamp again, so the poll reads
  // the file once more.
  out.stamp = options_.stat ? options_.stat(options_.path) : stat_file_stamp(options_.path);
  *stamp = out.stamp;
  std::ifstream in(options_.path, std::ios::binary);
  if (!out.stamp || !in) {
    if (!options_.required && !out.stamp) return out;  // no file beside the models: no settings
    *detail = SettingsFileError{options_.path, 0, 0, "", ""};
    return Error("settings file '" + options_.path + "' cannot be read (--presets names a file that must exist)");
  }
  std::ostringstream text;
  text << in.rdbuf();
  HANGAR_ASSIGN(out.file, parse_settings_file(text.str(), options_.path, base_dir(), detail, options_.check_template));
  out.present = true;
  std::vector<std::string> ids;
  for (const ModelRecord& r : registry_.list()) ids.push_back(r.id);
  std::map<std::string, SettingsLayer> api;
  {
    std::lock_guard lock(mu_);
    api = api_;
  }
  HANGAR_TRY(check_aliases(out.file, api, ids, /*patched_id=*/"", detail));
  return out;
}

Status SettingsStore::reload() {
  std::lock_guard serial(reload_mu_);
  SettingsFileError detail;
  std::optional<FileStamp> stamp;
  Result<Loaded> loaded = read(&detail, &stamp);
  SettingsChange change;
  {
    std::lock_guard lock(mu_);
    if (!loaded.ok()) {
      // The attempt's stamp is kept so that the poll does not report the same file every tick.
      last_stamp_ = stamp;
      status_.failed_reloads += 1;
      status_.last_error = detail;
      status_.last_error_message = loaded.error().message();
    } else {
      std::set<std::string> ids = known_ids_locked();
      for (const SettingsSection& s : loaded->file.models)
        if (!s.is_glob) ids.insert(s.pattern);
      const auto before = snapshot_locked(ids);
      file_ = std::move(loaded->file);
      models_.clear();
      last_stamp_ = loaded->stamp;
      status_.file_present = loaded->present;
      status_.reloads += 1;
      status_.last_reload_ms = wall_.now_unix_ms();
      status_.last_error.reset();
      status_.last_error_message.clear();
      change = diff_locked(before, "file");
    }
  }
  if (!loaded.ok()) {
    log_warn("settings file refused, the previous settings stay in force: " + loaded.error().message());
    return loaded.error();
  }
  log_info("settings: read '" + options_.path + "'" +
           (change.ids.empty() ? std::string(", nothing changed")
                               : ", changed for " + std::to_string(change.ids.size()) + " model(s)"));
  notify(change);
  return Status::Ok();
}

bool SettingsStore::poll() {
  if (options_.path.empty()) return false;
  std::optional<FileStamp> now = options_.stat ? options_.stat(options_.path) : stat_file_stamp(options_.path);
  {
    std::lock_guard lock(mu_);
    if (now == last_stamp_) return false;
  }
  (void)reload();  // errors are logged and kept in status()
  return true;
}

SettingsInputs SettingsStore::inputs_locked(const std::string& id) const {
  auto it = api_.find(id);
  return SettingsInputs{&builtin_, &options_.flags, &file_, it == api_.end() ? nullptr : &it->second};
}

EffectiveSettings SettingsStore::effective(const std::string& id) const {
  std::lock_guard lock(mu_);
  return resolve_settings(id, inputs_locked(id));
}

ModelSettings SettingsStore::model(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = models_.find(id);
  if (it != models_.end()) return it->second;
  if (models_.size() >= kModelCacheMax) models_.clear();
  return models_.emplace(id, typed_settings(resolve_settings(id, inputs_locked(id)))).first->second;
}

std::string SettingsStore::resolve_name(const std::string& name) const {
  std::optional<ModelRecord> rec = registry_.get(name);
  if (rec && rec->present) return name;
  std::lock_guard lock(mu_);
  const int alias = static_cast<int>(SettingKey::kAlias);
  auto has = [&](const std::optional<SettingValue>& v) {
    if (!v) return false;
    const auto& list = std::get<std::vector<std::string>>(v->v);
    return std::find(list.begin(), list.end(), name) != list.end();
  };
  for (const auto& [id, layer] : api_)
    if (has(layer.values[alias])) return id;
  for (const SettingsSection& s : file_.models)
    if (!s.is_glob && !(api_.count(s.pattern) && api_.at(s.pattern).values[alias]) && has(s.layer.values[alias]))
      return s.pattern;
  return name;
}

Status SettingsStore::patch(const std::string& id, const SettingsLayer& changes,
                            const std::vector<SettingKey>& removals) {
  std::lock_guard serial(reload_mu_);
  SettingsLayer next = api_layer(id);
  for (int i = 0; i < kSettingCount; ++i) {
    if (!changes.values[i]) continue;
    SettingValue v = *changes.values[i];
    if (static_cast<SettingKey>(i) == SettingKey::kChatTemplate) {
      HANGAR_TRY(resolve_chat_template(&v, base_dir()));
      if (options_.check_template) {
        Status st = options_.check_template(v.template_text);
        if (!st.ok()) return Error("chat_template: expected a chat template that parses: " + st.error().message());
      }
    }
    next.values[i] = std::move(v);
  }
  for (SettingKey k : removals) next.clear(k);
  std::vector<std::string> ids;
  for (const ModelRecord& r : registry_.list()) ids.push_back(r.id);
  std::map<std::string, SettingsLayer> api;
  SettingsFile file;
  {
    std::lock_guard lock(mu_);
    api = api_;
    file = file_;
  }
  if (next.empty()) api.erase(id);
  else api[id] = next;
  HANGAR_TRY(check_aliases(file, api, ids, id));
  HANGAR_TRY(registry_.set_api_settings(id, next.empty() ? std::string() : encode_settings_layer(next)));
  SettingsChange change;
  {
    std::lock_guard lock(mu_);
    std::set<std::string> ids = known_ids_locked();
    ids.insert(id);
    const auto before = snapshot_locked(ids);
    api_ = std::move(api);
    models_.clear();
    change = diff_locked(before, "api");
  }
  notify(change);
  return Status::Ok();
}

Status SettingsStore::clear(const std::string& id) {
  std::vector<SettingKey> all;
  for (int i = 0; i < kSettingCount; ++i) all.push_back(static_cast<SettingKey>(i));
  return patch(id, SettingsLayer{}, all);
}

SettingsLayer SettingsStore::api_layer(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = api_.find(id);
  return it == api_.end() ? SettingsLayer{} : it->second;
}

SettingsStatus SettingsStore::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

void SettingsStore::set_listener(std::function<void(const SettingsChange&)> listener) {
  std::lock_guard lock(mu_);
  listener_ = std::move(listener);
}

std::set<std::string> SettingsStore::known_ids_locked() const {
  std::set<std::string> ids;
  for (const ModelRecord& r : registry_.list()) ids.insert(r.id);
  for (const SettingsSection& s : file_.models)
    if (!s.is_glob) ids.insert(s.pattern);
  for (const auto& [id, layer] : api_) ids.insert(id);
  return ids;
}

std::map<std::string, EffectiveSettings> SettingsStore::snapshot_locked(const std::set<std::string>& ids) const {
  std::map<std::string, EffectiveSettings> out;
  for (const std::string& id : ids) out[id] = resolve_settings(id, inputs_locked(id));
  return out;
}

SettingsChange SettingsStore::diff_locked(const std::map<std::string, EffectiveSettings>& before,
                                          const char* cause) {
  SettingsChange change;
  change.cause = cause;
  for (const auto& [id, old] : before) {
    const EffectiveSettings now = resolve_settings(id, inputs_locked(id));
    if (now == old) continue;
    change.ids.push_back(id);
    for (int i = 0; i < kSettingCount; ++i) {
      if (setting_needs_reload(static_cast<SettingKey>(i)) && now.items[i].value != old.items[i].value) {
        change.reload_ids.push_back(id);
        break;
      }
    }
  }
  if (!change.ids.empty()) status_.version += 1;
  return change;
}

void SettingsStore::notify(const SettingsChange& change) {
  if (change.ids.empty()) return;
  std::function<void(const SettingsChange&)> listener;
  {
    std::lock_guard lock(mu_);
    listener = listener_;
  }
  if (listener) listener(change);
}

}  // namespace hangar::manager
