// Per-model settings in the API: alias resolution, request defaults, settings JSON and PATCH.
#include "api/model_settings.h"

#include "api/json_fields.h"
#include "sampling/sampler.h"

namespace hangar::api {
namespace {

using manager::SettingKey;
using manager::SettingValue;

Json value_json(const SettingValue& v) {
  return std::visit([](const auto& x) { return Json(x); }, v.v);
}

// A JSON value as a SettingValue of the same shape, before the key's own check.
std::optional<SettingValue> from_json(const Json& j) {
  if (j.is_boolean()) return SettingValue{j.get<bool>(), {}};
  if (j.is_number_unsigned()) {
    if (j.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return SettingValue{static_cast<int64_t>(j.get<uint64_t>()), {}};
  }
  if (j.is_number_integer()) return SettingValue{j.get<int64_t>(), {}};
  if (j.is_number_float()) return SettingValue{j.get<double>(), {}};
  if (j.is_string()) return SettingValue{j.get<std::string>(), {}};
  if (j.is_array()) {
    std::vector<std::string> list;
    for (const Json& e : j) {
      if (!e.is_string()) return std::nullopt;
      list.push_back(e.get<std::string>());
    }
    return SettingValue{std::move(list), {}};
  }
  return std::nullopt;
}

bool given(const Json& body, const char* key) {
  auto it = body.find(key);
  return it != body.end() && !it->is_null();
}

}  // namespace

std::string resolve_model_name(ServerContext& ctx, const std::string& name) {
  return ctx.manager.settings().resolve_name(name);
}

void apply_model_settings(ServerContext& ctx, const Json& body, std::string* model, CommonParams* common) {
  *model = resolve_model_name(ctx, *model);
  const manager::ModelSettings s = ctx.manager.settings().model(*model);
  SamplingParams& sp = common->gen.sampling;
  if (s.temperature && !given(body, "temperature")) sp.temperature = static_cast<float>(*s.temperature);
  if (s.top_p && !given(body, "top_p")) sp.top_p = static_cast<float>(*s.top_p);
  if (s.top_k && !given(body, "top_k")) sp.top_k = *s.top_k;
  if (s.min_p && !given(body, "min_p")) sp.min_p = static_cast<float>(*s.min_p);
  if (s.repeat_penalty && !given(body, "repeat_penalty")) sp.repeat_penalty = static_cast<float>(*s.repeat_penalty);
  if (s.seed && !given(body, "seed")) sp.seed = *s.seed < 0 ? kRandomSeed : static_cast<uint64_t>(*s.seed);
  if (s.max_tokens && !given(body, "max_tokens") && !given(body, "max_completion_tokens"))
    common->gen.max_tokens = *s.max_tokens;
  if (s.stop && !given(body, "stop")) {
    common->gen.stop.clear();
    for (const std::string& stop : *s.stop)
      if (!stop.empty()) common->gen.stop.push_back(stop);
  }
}

Json with_system_prompt(const Json& messages, const std::string& system_prompt) {
  if (!messages.empty() && messages[0].is_object() && messages[0].value("role", "") == "system") return messages;
  Json out = Json::array();
  out.push_back({{"role", "system"}, {"content", system_prompt}});
  for (const Json& m : messages) out.push_back(m);
  return out;
}

Json settings_json(ServerContext& ctx, const std::string& id) {
  const manager::EffectiveSettings e = ctx.manager.settings().effective(id);
  Json out = Json::object();
  for (int i = 0; i < manager::kSettingCount; ++i) {
    const auto key = static_cast<SettingKey>(i);
    const manager::EffectiveSetting& s = e.get(key);
    Json item;
    item["value"] = s.value ? value_json(*s.value) : Json();
    item["source"] = s.source;
    if (manager::setting_needs_reload(key)) item["applies"] = "next load";
    out[manager::setting_name(key)] = std::move(item);
  }
  return out;
}

Json settings_status_json(ServerContext& ctx) {
  const manager::SettingsStatus st = ctx.manager.settings().status();
  Json j;
  j["file"] = st.path;
  j["file_present"] = st.file_present;
  j["version"] = st.version;
  j["reloads"] = st.reloads;
  j["failed_reloads"] = st.failed_reloads;
  j["last_reload_ms"] = st.last_reload_ms;
  if (st.last_error) {
    j["error"] = {{"message", st.last_error_message}, {"file", st.last_error->file}, {"line", st.last_error->line},
                  {"key", st.last_error->key}, {"expected", st.last_error->expected}};
  } else {
    j["error"] = nullptr;
  }
  return j;
}

MaybeError parse_settings_patch(const Json& body, manager::SettingsLayer* changes,
                                std::vector<SettingKey>* removals) {
  for (auto it = body.begin(); it != body.end(); ++it) {
    const std::string& name = it.key();
    std::optional<SettingKey> key = manager::find_setting(name);
    if (!key)
      return bad_request(name, "unknown setting '" + name + "'; expected one of: " + manager::setting_names());
    if (it.value().is_null()) {
      removals->push_back(*key);
      continue;
    }
    std::optional<SettingValue> raw = from_json(it.value());
    Result<SettingValue> checked = raw ? manager::check_setting(*key, std::move(*raw))
                                       : Result<SettingValue>(Error("got " + json_type_name(it.value())));
    if (!checked.ok()) return bad_request(name, "'" + name + "': " + checked.error().message());
    changes->set(*key, std::move(checked).value());
  }
  return std::nullopt;
}

}  // namespace hangar::api
