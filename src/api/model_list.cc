// ModelList: GET /v1/models from kept per-model JSON, re-rendered only where it changed.
#include "api/model_list.h"

#include <map>

#include "api/context.h"
#include "api/routes.h"
#include "api/sse.h"

namespace hangar::api {
namespace {

// `{"a":1,"b":2}` -> `"a":1,"b":2`, to splice two objects with disjoint keys into one.
std::string_view inner(const std::string& object) {
  return object.size() >= 2 ? std::string_view(object).substr(1, object.size() - 2) : std::string_view();
}

}  // namespace

std::string ModelList::render(ServerContext& ctx) {
  // Every input is read before the lock: the registry's versions, the settings' version, and
  // the live state of the models the cache has an entry for (usually few).
  const std::vector<std::pair<std::string, uint64_t>> versions = ctx.manager.registry().versions();
  const int64_t settings_version = ctx.manager.settings().status().version;
  std::map<std::string, manager::ModelStatus> live;
  for (manager::ModelStatus& st : ctx.manager.cache().stats().models) live.emplace(st.id, std::move(st));
  const std::string idle = dump_json(model_live_json(nullptr));

  std::lock_guard lock(mu_);
  std::unordered_map<std::string, Kept> next;
  next.reserve(versions.size());
  std::string out = R"({"object":"list","data":[)";
  out.reserve(versions.size() * average_bytes_ + 64);
  int64_t rendered = 0;
  for (const auto& [id, version] : versions) {
    Kept kept;
    if (auto old = kept_.find(id); old != kept_.end()) kept = std::move(old->second);
    if (kept.record_version != version || kept.settings_version != settings_version) {
      // The record may have moved on since versions() was read: the text is keyed by the
      // version it was rendered from, so a later change renders it again.
      std::optional<manager::ModelRecord> rec = ctx.manager.registry().get(id);
      if (!rec || !rec->present) continue;  // gone meanwhile
      kept.record_version = rec->version;
      kept.settings_version = settings_version;
      kept.json = std::string(inner(dump_json(model_record_json(ctx, *rec))));
      ++rendered;
    }
    if (out.back() != '[') out += ',';
    // Record part first, then the live state: the key order of model_object().
    out += '{';
    out += kept.json;
    out += ',';
    auto it = live.find(id);
    out += inner(it == live.end() ? idle : dump_json(model_live_json(&it->second)));
    out += '}';
    next.emplace(id, std::move(kept));
  }
  out += "]}";
  if (!versions.empty()) average_bytes_ = out.size() / versions.size();
  kept_ = std::move(next);  // models gone from the list are forgotten
  last_rendered_ = rendered;
  return out;
}

int64_t ModelList::last_rendered() const {
  std::lock_guard lock(mu_);
  return last_rendered_;
}

}  // namespace hangar::api
