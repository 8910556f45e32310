// Per-model settings: the key table, value checks and the precedence resolver.
#include "manager/settings.h"

#include <fnmatch.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "manager/units.h"

namespace hangar::manager {
namespace {

enum class Kind { kStringList, kInt, kNumber, kBool, kDuration, kBytes, kString };

struct KeySpec {
  const char* name;
  Kind kind;
  double min = 0, max = 0;  // kInt / kNumber
  bool min_exclusive = false;
  bool needs_reload = false;
};

constexpr double kIntMax = std::numeric_limits<int32_t>::max();
constexpr double kInt64Max = 9.2e18;
constexpr size_t kMaxStops = 16;  // as requests allow

// Ranges match the command-line flags and the request fields of the same names.
const KeySpec kSpecs[kSettingCount] = {
    {"alias", Kind::kStringList},
    {"ctx", Kind::kInt, 16, 1 << 20, false, true},
    {"parallel", Kind::kInt, 1, 256, false, true},
    {"threads", Kind::kInt, 0, 1024, false, true},
    {"batch_tokens", Kind::kInt, 1, 1 << 16, false, true},
    {"device", Kind::kString, 0, 0, false, true},
    {"keep_alive", Kind::kDuration},
    {"pin", Kind::kBool},
    {"priority", Kind::kInt, -1000, 1000},
    {"preload", Kind::kBool},
    {"memory_limit", Kind::kBytes},
    {"temperature", Kind::kNumber, 0, 2},
    {"top_p", Kind::kNumber, 0, 1},
    {"top_k", Kind::kInt, 0, kIntMax},
    {"min_p", Kind::kNumber, 0, 1},
    {"repeat_penalty", Kind::kNumber, 0, 100, true},
    {"max_tokens", Kind::kInt, 1, 1 << 30},
    {"seed", Kind::kInt, -1, kInt64Max},
    {"stop", Kind::kStringList},
    {"system_prompt", Kind::kString},
    {"chat_template", Kind::kString},
};

const KeySpec& spec(SettingKey k) { return kSpecs[static_cast<int>(k)]; }

std::string type_of(const SettingValue& v) {
  switch (v.v.index()) {
    case 0: return "a boolean";
    case 1: return "an integer";
    case 2: return "a float";
    case 3: return "a string";
    default: return "an array";
  }
}

std::string show(double d) {
  char buf[32];
  const bool whole = std::floor(d) == d && std::fabs(d) < 1e15;
  std::snprintf(buf, sizeof buf, whole ? "%.0f" : "%g", d);
  return buf;
}

std::string range_text(const KeySpec& s) {
  if (s.min_exclusive) return "greater than " + show(s.min) + " and at most " + show(s.max);
  if (s.max >= kInt64Max) return show(s.min) + " or more";
  return "from " + show(s.min) + " to " + show(s.max);
}

Result<std::vector<std::string>> string_list(const SettingValue& value, const char* what, size_t max) {
  std::vector<std::string> out;
  if (const auto* s = std::get_if<std::string>(&value.v)) {
    out.push_back(*s);
  } else if (const auto* a = std::get_if<std::vector<std::string>>(&value.v)) {
    out = *a;
  } else {
    return Error(std::string("expected ") + what + " or an array of them, got " + type_of(value));
  }
  if (out.size() > max) return Error("expected at most " + std::to_string(max) + " entries, got " + std::to_string(out.size()));
  return out;
}

Status check_alias(const std::string& a) {
  if (a.empty()) return Error("expected non-empty alias names, got \"\"");
  for (char c : a)
    if (c == '/' || std::isspace(static_cast<unsigned char>(c)))
      return Error("expected alias names without '/' or spaces, got \"" + a + "\"");
  return Status::Ok();
}

double as_number(const SettingValue& v) {
  if (const auto* i = std::get_if<int64_t>(&v.v)) return static_cast<double>(*i);
  return std::get<double>(v.v);
}

}  // namespace

const char* setting_name(SettingKey key) { return spec(key).name; }

std::optional<SettingKey> find_setting(std::string_view name) {
  for (int i = 0; i < kSettingCount; ++i)
    if (name == kSpecs[i].name) return static_cast<SettingKey>(i);
  return std::nullopt;
}

const std::string& setting_names() {
  static const std::string names = [] {
    std::string s;
    for (const KeySpec& k : kSpecs) s += (s.empty() ? "" : ", ") + std::string(k.name);
    return s;
  }();
  return names;
}

bool setting_needs_reload(SettingKey key) { return spec(key).needs_reload; }

Result<SettingValue> check_setting(SettingKey key, SettingValue value) {
  const KeySpec& s = spec(key);
  switch (s.kind) {
    case Kind::kStringList: {
      const bool alias = key == SettingKey::kAlias;
      HANGAR_ASSIGN(std::vector<std::string> list,
                    string_list(value, "a string", alias ? 64 : kMaxStops));
      if (alias)
        for (const std::string& a : list) HANGAR_TRY(check_alias(a));
      return SettingValue{std::move(list), {}};
    }
    case Kind::kInt: {
      if (!std::holds_alternative<int64_t>(value.v))
        return Error("expected an integer " + range_text(s) + ", got " + type_of(value));
      const int64_t i = std::get<int64_t>(value.v);
      if (static_cast<double>(i) < s.min || static_cast<double>(i) > s.max)
        return Error("expected an integer " + range_text(s) + ", got " + std::to_string(i));
      return value;
    }
    case Kind::kNumber: {
      if (!std::holds_alternative<int64_t>(value.v) && !std::holds_alternative<double>(value.v))
        return Error("expected a number " + range_text(s) + ", got " + type_of(value));
      const double d = as_number(value);
      const bool low = s.min_exclusive ? !(d > s.min) : !(d >= s.min);
      if (low || !(d <= s.max)) return Error("expected a number " + range_text(s) + ", got " + show(d));
      return value;
    }
    case Kind::kBool:
      if (!std::holds_alternative<bool>(value.v)) return Error("expected true or false, got " + type_of(value));
      return value;
    case Kind::kDuration: {
      if (const auto* str = std::get_if<std::string>(&value.v)) {
        HANGAR_TRY(parse_duration_ms(*str, s.name));
        return value;
      }
      if (std::holds_alternative<int64_t>(value.v) || std::holds_alternative<double>(value.v)) {
        const double d = as_number(value);
        if (std::isfinite(d) && std::fabs(d) <= 1e12) return value;
      }
      return Error("expected a duration (\"30s\", \"10m\", \"1h\", \"-1\" for never) or a number of seconds, got " +
                   type_of(value));
    }
    case Kind::kBytes: {
      if (const auto* str = std::get_if<std::string>(&value.v)) {
        HANGAR_TRY(parse_bytes(*str, s.name));
        return value;
      }
      if (const auto* i = std::get_if<int64_t>(&value.v); i && *i >= 0) return value;
      return Error("expected a size (\"2G\", \"512Mi\") or a number of bytes >= 0, got " +
                   (std::holds_alternative<int64_t>(value.v) ? std::to_string(std::get<int64_t>(value.v))
                                                             : type_of(value)));
    }
    case Kind::kString:
      if (!std::holds_alternative<std::string>(value.v)) return Error("expected a string, got " + type_of(value));
      if (key == SettingKey::kChatTemplate && std::get<std::string>(value.v).empty())
        return Error("expected a chat template (a file name or the template text), got \"\"");
      if (key == SettingKey::kDevice) {
        const std::string& d = std::get<std::string>(value.v);
        if (d != "auto" && d != "cpu" && d != "cuda") return Error("expected auto, cpu or cuda, got \"" + d + "\"");
      }
      return value;
  }
  return value;
}

Status resolve_chat_template(SettingValue* value, const std::string& base_dir) {
  const std::string& given = std::get<std::string>(value->v);
  if (given.find("{{") != std::string::npos || given.find("{%") != std::string::npos) {
    value->template_text = given;
    return Status::Ok();
  }
  std::filesystem::path p(given);
  if (p.is_relative() && !base_dir.empty()) p = std::filesystem::path(base_dir) / p;
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    return Error("expected the template text (with {{ or {%) or a readable template file, but '" + p.string() +
                 "' cannot be read");
  }
  std::ostringstream text;
  text << in.rdbuf();
  value->template_text = text.str();
  if (value->template_text.empty()) return Error("the template file '" + p.string() + "' is empty");
  return Status::Ok();
}

bool SettingsLayer::empty() const {
  for (const auto& v : values)
    if (v) return false;
  return true;
}

bool EffectiveSettings::operator==(const EffectiveSettings& o) const {
  for (int i = 0; i < kSettingCount; ++i)
    if (items[i].value != o.items[i].value || items[i].source != o.items[i].source) return false;
  return true;
}

std::string model_source(const std::string& id, bool is_glob) {
  bool bare = !id.empty() && !is_glob;
  for (char c : id)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) bare = false;
  return bare ? "models." + id : "models.\"" + id + "\"";
}

bool glob_matches(const std::string& pattern, const std::string& id) {
  return ::fnmatch(pattern.c_str(), id.c_str(), 0) == 0;
}

EffectiveSettings resolve_settings(const std::string& id, const SettingsInputs& in) {
  EffectiveSettings out;
  auto apply = [&](const SettingsLayer* layer, const std::string& source) {
    if (layer == nullptr) return;
    for (int i = 0; i < kSettingCount; ++i) {
      if (!layer->values[i]) continue;
      out.items[i].value = layer->values[i];
      out.items[i].source = source;
    }
  };
  apply(in.builtin, "builtin");
  apply(in.flags, "flag");
  if (in.file != nullptr) {
    apply(&in.file->defaults, "defaults");
    for (const SettingsSection& s : in.file->models)
      if (s.is_glob && glob_matches(s.pattern, id)) apply(&s.layer, model_source(s.pattern, true));
    for (const SettingsSection& s : in.file->models)
      if (!s.is_glob && s.pattern == id) apply(&s.layer, model_source(s.pattern, false));
  }
  apply(in.api, "api");
  return out;
}

ModelSettings typed_settings(const EffectiveSettings& e) {
  ModelSettings m;
  auto val = [&](SettingKey k) -> const SettingValue* {
    const auto& v = e.get(k).value;
    return v ? &*v : nullptr;
  };
  // Sampling and prompt fields count only when a settings section or the API set them.
  auto chosen = [&](SettingKey k) -> const SettingValue* {
    const EffectiveSetting& s = e.get(k);
    return s.value && s.source != "builtin" && s.source != "flag" ? &*s.value : nullptr;
  };
  auto int_of = [](const SettingValue* v) { return std::get<int64_t>(v->v); };
  if (const auto* v = val(SettingKey::kAlias)) m.alias = std::get<std::vector<std::string>>(v->v);
  if (const auto* v = val(SettingKey::kCtx)) m.ctx = static_cast<int32_t>(int_of(v));
  if (const auto* v = val(SettingKey::kParallel)) m.parallel = static_cast<int32_t>(int_of(v));
  if (const auto* v = val(SettingKey::kThreads)) m.threads = static_cast<int32_t>(int_of(v));
  if (const auto* v = val(SettingKey::kBatchTokens)) m.batch_tokens = static_cast<int32_t>(int_of(v));
  if (const auto* v = val(SettingKey::kDevice)) m.device = std::get<std::string>(v->v);
  if (const auto* v = val(SettingKey::kKeepAlive)) {
    if (const auto* s = std::get_if<std::string>(&v->v)) {
      Result<int64_t> ms = parse_duration_ms(*s, "keep_alive");
      if (ms.ok()) m.keep_alive_ms = *ms;
    } else {
      const double secs = as_number(*v);
      m.keep_alive_ms = secs < 0 ? -1 : static_cast<int64_t>(std::llround(secs * 1000.0));  // Ollama's rule
    }
  }
  if (const auto* v = val(SettingKey::kPin)) m.pin = std::get<bool>(v->v);
  if (const auto* v = val(SettingKey::kPreload)) m.preload = std::get<bool>(v->v);
  if (const auto* v = val(SettingKey::kPriority)) m.priority = static_cast<int32_t>(int_of(v));
  if (const auto* v = val(SettingKey::kMemoryLimit)) {
    if (const auto* s = std::get_if<std::string>(&v->v)) {
      Result<uint64_t> b = parse_bytes(*s, "memory_limit");
      if (b.ok()) m.memory_limit = *b;
    } else {
      m.memory_limit = static_cast<uint64_t>(int_of(v));
    }
  }
  if (const auto* v = chosen(SettingKey::kTemperature)) m.temperature = as_number(*v);
  if (const auto* v = chosen(SettingKey::kTopP)) m.top_p = as_number(*v);
  if (const auto* v = chosen(SettingKey::kMinP)) m.min_p = as_number(*v);
  if (const auto* v = chosen(SettingKey::kRepeatPenalty)) m.repeat_penalty = as_number(*v);
  if (const auto* v = chosen(SettingKey::kTopK)) m.top_k = static_cast<int32_t>(int_of(v));
  if (const auto* v = chosen(SettingKey::kMaxTokens)) m.max_tokens = static_cast<int32_t>(int_of(v));
  if (const auto* v = chosen(SettingKey::kSeed)) m.seed = int_of(v);
  if (const auto* v = chosen(SettingKey::kStop)) m.stop = std::get<std::vector<std::string>>(v->v);
  if (const auto* v = chosen(SettingKey::kSystemPrompt)) m.system_prompt = std::get<std::string>(v->v);
  if (const auto* v = chosen(SettingKey::kChatTemplate)) m.chat_template = v->template_text;
  return m;
}

}  // namespace hangar::manager
