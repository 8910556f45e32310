// hangar.toml: TOML (toml++) to checked settings sections, with file:line errors.
#include "manager/settings_file.h"

#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <set>
#include <sstream>

namespace hangar::manager {
namespace {

// Thrown only inside this file, to leave a nested walk at the first problem.
struct Located {
  SettingsFileError e;
};

[[noreturn]] void fail(const std::string& file, const toml::source_region& at, std::string key,
                       std::string expected) {
  throw Located{{file, static_cast<int>(at.begin.line), static_cast<int>(at.begin.column), std::move(key),
                 std::move(expected)}};
}

std::string toml_type(const toml::node& n) {
  if (n.is_table()) return "a table";
  if (n.is_array()) return "an array";
  if (n.is_string()) return "a string";
  if (n.is_integer()) return "an integer";
  if (n.is_floating_point()) return "a float";
  if (n.is_boolean()) return "a boolean";
  return "a date or time";
}

// A TOML value as a SettingValue of the same shape; nullopt for shapes no key takes.
std::optional<SettingValue> to_value(const toml::node& n) {
  if (const auto* b = n.as_boolean()) return SettingValue{b->get(), {}};
  if (const auto* i = n.as_integer()) return SettingValue{i->get(), {}};
  if (const auto* d = n.as_floating_point()) return SettingValue{d->get(), {}};
  if (const auto* s = n.as_string()) return SettingValue{s->get(), {}};
  if (const auto* a = n.as_array()) {
    std::vector<std::string> list;
    for (const toml::node& e : *a) {
      const auto* s = e.as_string();
      if (s == nullptr) return std::nullopt;
      list.push_back(s->get());
    }
    return SettingValue{std::move(list), {}};
  }
  return std::nullopt;
}

// What every section of one file is read with.
struct Context {
  const std::string& file;
  const std::string& base_dir;
  const TemplateCheck& check_template;
};

// Reads the keys of one section into `layer`. `label` is the section as a source
// ("defaults", "models.qwen") and prefixes keys in errors.
void read_section(const toml::table& t, const std::string& label, bool allow_alias, const Context& cx,
                  SettingsLayer* layer) {
  const std::string& file = cx.file;
  for (const auto& [k, node] : t) {
    const std::string name(k.str());
    const std::string key = label + "." + name;
    std::optional<SettingKey> sk = find_setting(name);
    if (!sk) {
      std::string hint;
      if (node.is_table() && label.rfind("models.", 0) == 0) {
        // [models.qwen2.5-0.5b] nests tables at each dot: follow them to rebuild the id.
        std::string id = label.substr(7) + "." + name;
        for (const toml::table* sub = node.as_table(); sub->size() == 1 && sub->begin()->second.is_table();
             sub = sub->begin()->second.as_table())
          id += "." + std::string(sub->begin()->first.str());
        hint = " (a model id with dots must be quoted: [models.\"" + id + "\"])";
      }
      fail(file, k.source(), key, "unknown key; expected one of: " + setting_names() + hint);
    }
    if (*sk == SettingKey::kAlias && !allow_alias)
      fail(file, k.source(), key, "alias is allowed only in a section of one model id ([models.ID]), not in [" +
                                      label + "]");
    std::optional<SettingValue> raw = to_value(node);
    Result<SettingValue> checked =
        raw ? check_setting(*sk, std::move(*raw)) : Result<SettingValue>(Error("got " + toml_type(node)));
    if (!checked.ok()) {
      std::string msg = checked.error().message();
      if (!raw) msg = "expected a value of the key's type, " + msg;
      fail(file, node.source(), key, msg);
    }
    if (*sk == SettingKey::kChatTemplate) {
      Status st = resolve_chat_template(&*checked, cx.base_dir);
      if (st.ok() && cx.check_template) {
        st = cx.check_template(checked->template_text);
        if (!st.ok()) st = Error("expected a chat template that parses: " + st.error().message());
      }
      if (!st.ok()) fail(file, node.source(), key, st.error().message());
    }
    layer->set(*sk, std::move(checked).value(), static_cast<int>(node.source().begin.line));
  }
}

bool is_glob(const std::string& s) { return s.find_first_of("*?[") != std::string::npos; }

SettingsFile read_file(const toml::table& root, const Context& cx) {
  const std::string& file = cx.file;
  SettingsFile out;
  out.path = file;
  for (const auto& [k, node] : root) {
    const std::string name(k.str());
    if (name == "defaults") {
      if (!node.is_table()) fail(file, node.source(), name, "expected a table [defaults], got " + toml_type(node));
      read_section(*node.as_table(), "defaults", false, cx, &out.defaults);
    } else if (name == "models") {
      if (!node.is_table()) fail(file, node.source(), name, "expected tables [models.ID], got " + toml_type(node));
      for (const auto& [mk, mnode] : *node.as_table()) {
        SettingsSection s;
        s.pattern = std::string(mk.str());
        s.is_glob = is_glob(s.pattern);
        s.line = static_cast<int>(mk.source().begin.line);
        const std::string label = model_source(s.pattern, s.is_glob);
        if (!mnode.is_table())
          fail(file, mnode.source(), label, "expected a table [" + label + "] of settings, got " + toml_type(mnode));
        read_section(*mnode.as_table(), label, !s.is_glob, cx, &s.layer);
        out.models.push_back(std::move(s));
      }
    } else {
      const bool is_setting = find_setting(name).has_value();
      fail(file, k.source(), name,
           is_setting ? "settings go in a section: put it under [defaults] or [models.ID]"
                      : "unknown key; expected [defaults] or [models.ID] / [models.\"GLOB\"] sections");
    }
  }
  // toml++ keeps tables sorted by key; later globs win over earlier ones, so keep file order.
  std::stable_sort(out.models.begin(), out.models.end(),
                   [](const SettingsSection& a, const SettingsSection& b) { return a.line < b.line; });
  return out;
}

std::string format_double(double d) {
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);  // shortest text that reads back the same
  std::string s(buf, end);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // TOML needs a '.' for a float
  return s;
}

// A TOML basic string. (toml++'s own printer picks multi-line literals, whose first newline
// TOML drops on reading.)
std::string quote(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04X", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

}  // namespace

std::string SettingsFileError::message() const {
  std::string where = file + ":" + std::to_string(line);
  if (key.empty()) return where + ":" + std::to_string(column) + ": syntax error: " + expected;
  return where + ": " + key + ": " + expected;
}

Result<SettingsFile> parse_settings_file(std::string_view text, const std::string& path,
                                         const std::string& base_dir, SettingsFileError* detail,
                                         const TemplateCheck& check_template) {
  SettingsFileError e;
  try {
    toml::table root = toml::parse(text, path);
    SettingsFile file = read_file(root, Context{path, base_dir, check_template});
    Status aliases = check_aliases(file, {}, {}, "", &e);
    if (aliases.ok()) return file;
  } catch (const toml::parse_error& err) {
    e = {path, static_cast<int>(err.source().begin.line), static_cast<int>(err.source().begin.column), "",
         std::string(err.description())};
  } catch (const Located& located) {
    e = located.e;
  }
  if (detail != nullptr) *detail = e;
  return Error(e.message());
}

Status check_aliases(const SettingsFile& file, const std::map<std::string, SettingsLayer>& api,
                     const std::vector<std::string>& model_ids, const std::string& patched_id,
                     SettingsFileError* detail) {
  std::set<std::string> ids(model_ids.begin(), model_ids.end());
  for (const SettingsSection& s : file.models)
    if (!s.is_glob) ids.insert(s.pattern);
  // The alias list in force per model: the API's replaces the file's.
  struct List {
    std::string owner;
    int line = 0;  // 0: from the API
    std::vector<std::string> aliases;
  };
  const int alias = static_cast<int>(SettingKey::kAlias);
  std::vector<List> from_file, from_api;
  for (const SettingsSection& s : file.models) {
    if (s.is_glob || !s.layer.values[alias]) continue;
    auto over = api.find(s.pattern);
    if (over != api.end() && over->second.values[alias]) continue;
    from_file.push_back({s.pattern, s.layer.lines[alias], std::get<std::vector<std::string>>(s.layer.values[alias]->v)});
  }
  for (const auto& [id, layer] : api)
    if (layer.values[alias]) from_api.push_back({id, 0, std::get<std::vector<std::string>>(layer.values[alias]->v)});
  // A clash is reported where the change being checked put it, so that list goes last: the
  // patched model's after a PATCH, the file's lines after a reload.
  std::vector<List> lists;
  if (patched_id.empty()) {
    lists = std::move(from_api);
    for (List& l : from_file) lists.push_back(std::move(l));
  } else {
    lists = std::move(from_file);
    std::stable_partition(from_api.begin(), from_api.end(), [&](const List& l) { return l.owner != patched_id; });
    for (List& l : from_api) lists.push_back(std::move(l));
  }
  std::map<std::string, const List*> seen;
  for (const List& l : lists) {
    const std::string key = l.line ? model_source(l.owner, false) + ".alias" : "api settings of '" + l.owner + "': alias";
    auto clash = [&](const std::string& why) -> Status {
      SettingsFileError e{l.line ? file.path : "", l.line, 0, key, why};
      if (detail != nullptr) *detail = e;
      return Error(l.line ? e.message() : key + ": " + why);
    };
    for (const std::string& a : l.aliases) {
      if (a == l.owner) continue;  // a model's own id as its alias changes nothing
      if (ids.count(a)) return clash("expected an alias that is not a model id, got \"" + a + "\" (a model has that id)");
      auto [it, fresh] = seen.emplace(a, &l);
      if (!fresh && it->second->owner != l.owner) {
        const List& o = *it->second;
        return clash("expected an alias of one model, but \"" + a + "\" is also an alias of '" + o.owner + "'" +
                     (o.line ? " (line " + std::to_string(o.line) + ")" : " (set through the API)"));
      }
    }
  }
  return Status::Ok();
}

std::string encode_settings_layer(const SettingsLayer& layer) {
  std::ostringstream out;
  for (int i = 0; i < kSettingCount; ++i) {
    if (!layer.values[i]) continue;
    out << setting_name(static_cast<SettingKey>(i)) << " = ";
    const auto& v = layer.values[i]->v;
    if (const auto* b = std::get_if<bool>(&v)) out << (*b ? "true" : "false");
    else if (const auto* n = std::get_if<int64_t>(&v)) out << *n;
    else if (const auto* d = std::get_if<double>(&v)) out << format_double(*d);
    else if (const auto* s = std::get_if<std::string>(&v)) out << quote(*s);
    else {
      const auto& list = std::get<std::vector<std::string>>(v);
      out << "[";
      for (size_t j = 0; j < list.size(); ++j) out << (j ? ", " : "") << quote(list[j]);
      out << "]";
    }
    out << "\n";
  }
  return out.str();
}

Result<SettingsLayer> decode_settings_layer(std::string_view text, const std::string& base_dir,
                                            const TemplateCheck& check_template) {
  try {
    toml::table t = toml::parse(text, std::string_view("registry"));
    SettingsLayer layer;
    const std::string file = "registry";
    read_section(t, "api", true, Context{file, base_dir, check_template}, &layer);
    return layer;
  } catch (const toml::parse_error& err) {
    return Error("stored API settings are not TOML: " + std::string(err.description()));
  } catch (const Located& located) {
    return Error("stored API settings: " + located.e.key + ": " + located.e.expected);
  }
}

}  // namespace hangar::manager
