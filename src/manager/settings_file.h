// The settings file (hangar.toml, TOML through toml++): parsing with located errors, alias
// checks, and the TOML text the registry stores API overrides as.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "manager/settings.h"

namespace hangar::manager {

// Where a settings file went wrong, for /v1/models/stats; message() is the full error text,
// "FILE:LINE: KEY: what was expected" (syntax errors: "FILE:LINE:COL: syntax error: ...").
struct SettingsFileError {
  std::string file;
  int line = 0, column = 0;
  std::string key;       // e.g. "models.qwen.temperature"; empty for a syntax error
  std::string expected;  // what the key wanted, or the parser's description
  std::string message() const;
};

// Checks a chat template's text (the API layer's parser, injected: the manager cannot use it).
using TemplateCheck = std::function<Status(const std::string& text)>;

// Parses a whole settings file: [defaults] and [models.ID] / [models."GLOB"] sections of
// known keys, each value checked (settings.h), chat_template files read from `base_dir`,
// aliases only in exact model sections and never twice. On error nothing is returned but
// the first problem; `detail` (optional) gets it in parts. Each chat_template is given to
// `check_template` when set. Never throws.
Result<SettingsFile> parse_settings_file(std::string_view text, const std::string& path,
                                         const std::string& base_dir,
                                         SettingsFileError* detail = nullptr,
                                         const TemplateCheck& check_template = nullptr);

// Checks the aliases of the file and of the API overrides (by model id) together: an alias
// must name one model and must not be the id of a model (`model_ids`) or of a section. A
// clash is reported at the API list of `patched_id` (a PATCH), or with an empty one at the
// file's line (a reload).
Status check_aliases(const SettingsFile& file, const std::map<std::string, SettingsLayer>& api,
                     const std::vector<std::string>& model_ids, const std::string& patched_id,
                     SettingsFileError* detail = nullptr);

// The API overrides of one model as TOML ("temperature = 0.2\nstop = [\"x\"]\n"), and back;
// decoding checks every value again (a row from an older hangar may no longer be valid).
std::string encode_settings_layer(const SettingsLayer& layer);
Result<SettingsLayer> decode_settings_layer(std::string_view text, const std::string& base_dir,
                                            const TemplateCheck& check_template = nullptr);

}  // namespace hangar::manager
