// Per-model settings: the keys, their values and checks, and the pure precedence resolver.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "base/result.h"

namespace hangar::manager {

// Every key a settings section may hold, in the order they are listed to users.
enum class SettingKey {
  kAlias, kCtx, kParallel, kThreads, kBatchTokens, kDevice, kKeepAlive, kPin, kPriority, kPreload,
  kMemoryLimit, kTemperature, kTopP, kTopK, kMinP, kRepeatPenalty, kMaxTokens, kSeed, kStop,
  kSystemPrompt, kChatTemplate,
};
constexpr int kSettingCount = static_cast<int>(SettingKey::kChatTemplate) + 1;

const char* setting_name(SettingKey key);
std::optional<SettingKey> find_setting(std::string_view name);
// "alias, ctx, parallel, ..." for error messages.
const std::string& setting_names();
// ctx, parallel, threads, batch_tokens and device shape the engine: a change applies at the
// next load.
bool setting_needs_reload(SettingKey key);

// A value as the user wrote it (TOML or JSON scalars, or an array of strings), checked against
// its key. Durations and byte sizes keep their written form ("10m") so that the user sees it
// back; the typed view (ModelSettings) converts them.
struct SettingValue {
  std::variant<bool, int64_t, double, std::string, std::vector<std::string>> v;
  // chat_template only: the template text (the file's contents when v names a file).
  std::string template_text;
  bool operator==(const SettingValue& o) const { return v == o.v && template_text == o.template_text; }
};

// Checks `value` for `key` and normalises it (an alias or stop given as one string becomes an
// array; an integer given for a number stays as written). Errors say what was expected, e.g.
// "expected a number from 0 to 2, got 3.5". chat_template is not resolved here (see
// resolve_chat_template).
Result<SettingValue> check_setting(SettingKey key, SettingValue value);
// chat_template: text holding "{{" or "{%" is the template itself; anything else names a
// file, read now (relative names from `base_dir`). Sets value->template_text.
Status resolve_chat_template(SettingValue* value, const std::string& base_dir);

// One layer of values (a file section, the API overrides, the flags), with the line each
// value came from when it came from a file (0 otherwise).
struct SettingsLayer {
  std::array<std::optional<SettingValue>, kSettingCount> values;
  std::array<int, kSettingCount> lines{};
  const std::optional<SettingValue>& get(SettingKey k) const { return values[static_cast<int>(k)]; }
  void set(SettingKey k, SettingValue v, int line = 0) {
    values[static_cast<int>(k)] = std::move(v);
    lines[static_cast<int>(k)] = line;
  }
  void clear(SettingKey k) { values[static_cast<int>(k)].reset(); }
  bool empty() const;
  bool operator==(const SettingsLayer& o) const { return values == o.values; }
};

// A [models.X] section: X is a model id, or a glob when it holds '*', '?' or '['.
struct SettingsSection {
  std::string pattern;
  bool is_glob = false;
  int line = 0;
  SettingsLayer layer;
};

// A parsed settings file. Sections keep their order in the file.
struct SettingsFile {
  std::string path;  // empty: no file
  SettingsLayer defaults;
  std::vector<SettingsSection> models;  // exact ids and globs, in file order
};

// Where an effective value came from: "api", "models.ID", "models.\"GLOB\"", "defaults",
// "flag" or "builtin".
struct EffectiveSetting {
  std::optional<SettingValue> value;  // nullopt: no value anywhere (e.g. no system prompt)
  std::string source = "builtin";
};

struct EffectiveSettings {
  std::array<EffectiveSetting, kSettingCount> items;
  const EffectiveSetting& get(SettingKey k) const { return items[static_cast<int>(k)]; }
  bool operator==(const EffectiveSettings& o) const;
};

// The layers of one resolution, lowest precedence first: builtin < flags < [defaults] <
// matching globs (in file order, a later glob over an earlier one) < [models.ID] < api.
// A request's own fields come on top of all of these (applied by the API).
struct SettingsInputs {
  const SettingsLayer* builtin = nullptr;
  const SettingsLayer* flags = nullptr;
  const SettingsFile* file = nullptr;
  const SettingsLayer* api = nullptr;  // this model's overrides; may be null
};

// Pure: the effective value and source of every key for model `id`.
EffectiveSettings resolve_settings(const std::string& id, const SettingsInputs& in);

// The section label of a model id as a source: models.ID, quoted when the id is not a bare
// TOML key (models."qwen2.5").
std::string model_source(const std::string& id, bool is_glob);
// fnmatch(3) glob match of a model id.
bool glob_matches(const std::string& pattern, const std::string& id);

// The typed view the manager, loader and API use. Engine sizes are 0 when no layer set
// them (the loader's own options then apply); optional fields are set only when a settings
// file section or the API set them, so requests otherwise keep their own defaults.
struct ModelSettings {
  std::vector<std::string> alias;
  int32_t ctx = 0, parallel = 0, threads = 0, batch_tokens = 0;
  std::string device;  // "auto", "cpu" or "cuda"; empty: the server's --device
  std::optional<int64_t> keep_alive_ms;  // -1: never unload
  bool pin = false, preload = false;
  int32_t priority = 0;
  uint64_t memory_limit = 0;  // 0: none
  std::optional<double> temperature, top_p, min_p, repeat_penalty;
  std::optional<int32_t> top_k, max_tokens;
  std::optional<int64_t> seed;  // -1: random
  std::optional<std::vector<std::string>> stop;
  std::optional<std::string> system_prompt;
  std::optional<std::string> chat_template;  // the template text
};
ModelSettings typed_settings(const EffectiveSettings& e);

}  // namespace hangar::manager
