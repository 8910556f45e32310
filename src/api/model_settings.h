// Per-model settings in the API: aliases, request defaults, and their JSON (GET, PATCH, stats).
#pragma once

#include <string>
#include <vector>

#include "api/context.h"
#include "manager/settings.h"

namespace hangar::api {

// The model id a request's "model" names: the name itself, or the model whose alias it is.
std::string resolve_model_name(ServerContext& ctx, const std::string& name);

// Resolves `*model` (an alias becomes the real id, which the response then shows) and fills
// the sampling fields the request left out (absent or null) from the model's settings:
// temperature, top_p, top_k, min_p, repeat_penalty, max_tokens, seed, stop. A request's own
// field always wins.
void apply_model_settings(ServerContext& ctx, const Json& body, std::string* model, CommonParams* common);

// The messages with the model's system_prompt put first, unless they start with a system
// message of their own.
Json with_system_prompt(const Json& messages, const std::string& system_prompt);

// {"ctx": {"value": 1024, "source": "models.qwen"}, ...}: every key's effective value (null
// when none) and where it came from; the keys that size the engine (ctx, parallel, threads,
// batch_tokens) carry "applies": "next load".
Json settings_json(ServerContext& ctx, const std::string& id);
// The settings file's state for /v1/models/stats: path, version, reloads, the last error.
Json settings_status_json(ServerContext& ctx);

// A PATCH body: an object of known keys; null removes the key's API override. A 400 names the
// key and what was expected.
MaybeError parse_settings_patch(const Json& body, manager::SettingsLayer* changes,
                                std::vector<manager::SettingKey>* removals);

}  // namespace hangar::api
