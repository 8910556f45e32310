// GET /v1/models and GET /v1/models/{id}: the registry joined with the cache's live state.
#include "api/model_settings.h"
#include "api/routes.h"

namespace hangar::api {

Json model_live_json(const manager::ModelStatus* st) {
  Json m;
  m["state"] = manager::model_state_name(st ? st->state : manager::ModelState::kUnloaded);
  m["memory_bytes"] = st && st->state != manager::ModelState::kUnloaded ? st->bytes : 0;
  // Where its weights are: gpu, host (a CPU model, or a GPU model demoted to host memory), disk.
  m["tier"] = manager::model_tier_name(st ? st->tier : manager::ModelTier::kDisk);
  m["gpu_bytes"] = st && st->state != manager::ModelState::kUnloaded ? st->gpu_bytes : 0;
  m["pinned"] = st ? st->pinned : false;
  m["in_flight"] = st ? st->in_flight : 0;
  m["waiting"] = st ? st->waiting : 0;
  m["draining"] = st ? st->draining : false;
  m["reload_pending"] = st ? st->reload_pending : false;
  m["last_eviction"] = st && !st->last_eviction.empty() ? Json(st->last_eviction) : Json();
  m["expires_in_ms"] = st && st->expires_in_ms >= 0 ? Json(st->expires_in_ms) : Json();
  if (st && !st->last_error.empty()) m["last_error"] = st->last_error;
  return m;
}

Json model_record_json(ServerContext& ctx, const manager::ModelRecord& rec) {
  Json m;
  m["id"] = rec.id;
  m["object"] = "model";
  m["created"] = rec.added_ms / 1000;
  m["owned_by"] = "hangar";
  // A header not read yet gives no estimate (the list must not read a thousand files).
  const bool pending = rec.header_pending();
  Result<manager::AdmissionFigure> fig = rec.present && !pending ? ctx.manager.cache().admission(rec)
                                                                 : Result<manager::AdmissionFigure>(Error("absent"));
  m["estimated_bytes"] = fig.ok() ? Json(fig->plan.estimate_bytes) : Json();
  if (fig.ok()) {
    // What admission counts, and how far the estimate was from the last measurement.
    Json f;
    f["admission_bytes"] = fig->bytes;
    f["source"] = fig->measured ? "measured" : "estimate";
    f["estimated_bytes"] = fig->plan.estimate_bytes;
    f["settings"] = fig->plan.settings;
    if (fig->measured) {
      const double measured = static_cast<double>(fig->measured->measured_bytes);
      f["measured_bytes"] = fig->measured->measured_bytes;
      f["measured_at_ms"] = fig->measured->measured_at_ms;
      f["estimate_error"] = measured > 0 ? (static_cast<double>(fig->measured->estimated_bytes) - measured) / measured : 0.0;
    } else {
      f["measured_bytes"] = nullptr;
      f["estimate_error"] = nullptr;
    }
    m["footprint"] = std::move(f);
  }
  Json meta;
  meta["architecture"] = rec.architecture;
  meta["parameters"] = rec.n_params;
  meta["context_length"] = rec.context_length;
  meta["file_bytes"] = rec.file_size;
  meta["tensor_bytes"] = rec.tensor_bytes;
  meta["has_chat_template"] = rec.has_chat_template;
  Json types = Json::object();
  for (const auto& [type, count] : rec.tensor_types) types[type] = count;
  meta["tensor_types"] = std::move(types);
  if (!rec.scan_error.empty()) meta["error"] = rec.scan_error;
  meta["header_pending"] = pending;
  m["meta"] = std::move(meta);
  Json r;
  r["path"] = rec.path;
  r["sha256"] = rec.sha256.empty() ? Json() : Json(rec.sha256);
  r["access_count"] = rec.access_count;
  r["last_access_ms"] = rec.last_access_ms;
  r["loads"] = rec.load_count;
  r["last_load_ms"] = rec.last_load_ms;
  r["added_ms"] = rec.added_ms;
  m["registry"] = std::move(r);
  m["settings"] = settings_json(ctx, rec.id);
  return m;
}

Json model_object(ServerContext& ctx, const manager::ModelRecord& rec) {
  std::optional<manager::ModelStatus> st = ctx.manager.cache().status(rec.id);
  Json m = model_record_json(ctx, rec);
  m.update(model_live_json(st ? &*st : nullptr));
  return m;
}

void add_model_routes(httplib::Server& http, ServerContext& ctx) {
  auto list = [&ctx](const httplib::Request&, httplib::Response& res) {
    res.status = 200;
    res.set_content(ctx.model_list.render(ctx), "application/json; charset=utf-8");
  };
  http.Get("/v1/models", list);
  http.Get("/models", list);
  // Registered after /v1/models/stats (management.cc), which would otherwise match as an id.
  http.Get(R"(/v1/models/([^/]+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    const std::string id = resolve_model_name(ctx, req.matches[1]);  // an alias shows its model
    std::optional<manager::ModelRecord> rec = ctx.manager.registry().get_with_header(id);
    if (!rec || !rec->present) return send_error(res, not_found("The model '" + id + "' does not exist", "model_not_found"));
    send_json(res, 200, model_object(ctx, *rec));
  });
}

}  // namespace hangar::api
