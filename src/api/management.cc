// Model management: stats, refresh, load, preload, hint, unload, pin and verify.
#include "api/routes.h"

#include <map>

#include "api/json_fields.h"
#include "api/model_settings.h"

namespace hangar::api {
namespace {

Json status_json(const manager::ModelStatus& s) {
  Json j;
  j["id"] = s.id;
  j["state"] = manager::model_state_name(s.state);
  j["bytes"] = s.bytes;
  j["tier"] = manager::model_tier_name(s.tier);
  j["gpu_bytes"] = s.gpu_bytes;
  j["pinned"] = s.pinned;
  j["in_flight"] = s.in_flight;
  j["waiting"] = s.waiting;
  j["draining"] = s.draining;
  j["reload_pending"] = s.reload_pending;
  j["priority"] = s.priority;
  j["loaded_at_ms"] = s.loaded_at_ms;
  j["last_used_ms"] = s.last_used_ms;
  j["expires_in_ms"] = s.expires_in_ms >= 0 ? Json(s.expires_in_ms) : Json();
  j["last_load_ms"] = s.last_load_ms;
  j["last_error"] = s.last_error.empty() ? Json() : Json(s.last_error);
  j["last_eviction"] = s.last_eviction.empty() ? Json() : Json(s.last_eviction);
  j["hits"] = s.hits;
  j["misses"] = s.misses;
  return j;
}

Json prediction_json(const manager::Prediction& p) {
  return {{"probability", p.probability}, {"why", p.why},           {"share", p.share},
          {"follow", p.follow},           {"transition", p.transition}, {"calendar", p.calendar},
          {"recency", p.recency},         {"hinted", p.hinted}};
}

Json stats_json(ServerContext& ctx) {
  manager::Manager& m = ctx.manager;
  const manager::CacheStats c = m.cache().stats();
  const manager::CacheOptions& o = m.cache().options();
  using manager::EvictionReason;
  Json j;
  j["hits"] = c.hits;
  j["misses"] = c.misses;
  j["hit_rate"] = c.hit_rate();
  j["evictions"] = c.unloads_for(EvictionReason::kPolicy);
  j["expirations"] = c.unloads_for(EvictionReason::kKeepAlive);
  j["pressure_unloads"] = c.unloads_for(EvictionReason::kPressure);
  j["manual_unloads"] = c.unloads_for(EvictionReason::kManual);
  Json by_reason = Json::object();
  for (int r = 0; r < manager::kEvictionReasonCount; ++r) {
    const auto reason = static_cast<EvictionReason>(r);
    by_reason[manager::eviction_reason_name(reason)] = c.unloads_for(reason);
  }
  j["unloads"] = std::move(by_reason);
  Json recent = Json::array();
  for (const manager::EvictionRecord& e : c.recent_evictions) {
    recent.push_back({{"id", e.id}, {"reason", manager::eviction_reason_name(e.reason)}, {"bytes", e.bytes},
                      {"at_ms", e.at_ms}, {"detail", e.detail}});
  }
  j["recent_evictions"] = std::move(recent);
  j["loads"] = c.loads;
  j["load_failures"] = c.load_failures;
  j["avg_load_ms"] = c.avg_load_ms();
  j["last_load_ms"] = c.last_load_ms;
  j["total_load_ms"] = c.total_load_ms;
  j["bytes_used"] = c.bytes_used;
  j["bytes_budget"] = c.bytes_budget;
  j["budget"] = {{"effective_bytes", c.bytes_budget},
                 {"configured", m.monitor().options().auto_budget ? Json("auto") : Json(o.budget_bytes)},
                 {"reason", c.budget_reason}};
  // The GPU tier (budget 0: none): copies between GPU and host memory, not loads.
  j["gpu"] = {{"budget_bytes", c.gpu_bytes_budget}, {"used_bytes", c.gpu_bytes_used},
              {"reason", c.gpu_budget_reason},      {"promotions", c.promotions},
              {"demotions", c.demotions},           {"promotion_failures", c.promotion_failures},
              {"total_promote_ms", c.total_promote_ms}};
  j["loaded"] = c.loaded;
  j["max_loaded"] = c.max_loaded;
  j["policy"] = manager::eviction_policy_name(o.policy);
  j["keep_alive_ms"] = o.keep_alive_ms;
  j["queue"] = {{"waiting", c.waiting},          {"queued", c.queued},
                {"wait_ms", c.queue_wait_ms},     {"full", c.queue_full},
                {"timeouts", c.queue_timeouts},   {"max_per_model", o.max_queue},
                {"timeout_ms", o.queue_timeout_ms}, {"swap_window_ms", o.swap_window_ms}};
  // The learned preloader's view: each model's chance of a request within the next minute.
  std::map<std::string, manager::Prediction> predicted;
  for (manager::Prediction& p : m.learned().predictions()) predicted[p.id] = std::move(p);
  j["models"] = Json::array();
  for (const auto& s : c.models) {
    Json mj = status_json(s);
    auto it = predicted.find(s.id);
    if (it != predicted.end()) mj["prediction"] = prediction_json(it->second);
    j["models"].push_back(std::move(mj));
  }
  Json predictions = Json::array();
  for (const auto& [id, p] : predicted) {
    Json pj = prediction_json(p);
    pj["id"] = id;
    predictions.push_back(std::move(pj));
  }
  j["predictions"] = std::move(predictions);
  const manager::LearnedStats ls = m.learned().stats();
  j["preload_hits"] = ls.hits;
  j["preload_wasted"] = ls.wasted;

  const manager::PreloadStats p = m.preloader().stats();
  Json pj;
  pj["queued"] = p.queued;
  pj["in_progress"] = p.in_progress;
  pj["waiting_for_memory"] = p.waiting_for_memory;
  pj["loaded"] = p.loaded;
  pj["failed"] = p.failed;
  pj["skipped"] = p.skipped;
  pj["success_rate"] = p.success_rate();
  pj["strategy"] = manager::preload_strategy_name(m.preloader().options().strategy);
  pj["batch"] = m.preloader().options().batch;
  pj["delay_ms"] = m.preloader().options().delay_ms;
  pj["list"] = m.registry().preload_list();
  pj["order"] = m.preloader().order();
  pj["learned"] = {{"predicting", m.learned().options().predict}, {"preloads", ls.preloads},
                   {"hits", ls.hits},       {"wasted", ls.wasted},     {"failed", ls.failed},
                   {"history", ls.history}, {"history_keep", m.learned().options().history_keep}};
  j["preload"] = std::move(pj);

  const manager::MonitorStats ms = m.monitor().stats();
  Json mj;
  mj["process_rss"] = ms.last.process_rss;
  mj["system_total"] = ms.last.system_total;
  mj["system_available"] = ms.last.system_available;
  mj["cgroup_limit"] = ms.last.cgroup_limit ? Json(*ms.last.cgroup_limit) : Json();
  mj["cgroup_current"] = ms.last.cgroup_current ? Json(*ms.last.cgroup_current) : Json();
  mj["checks"] = ms.checks;
  mj["pressure_events"] = ms.pressure_events;
  mj["models_unloaded"] = ms.models_unloaded;
  mj["bytes_freed"] = ms.bytes_freed;
  mj["last_reason"] = ms.last_reason;
  mj["effective_budget"] = ms.effective_budget;
  mj["budget_reason"] = ms.budget_reason;
  j["memory"] = std::move(mj);

  const manager::HashProgress h = m.hasher().progress();
  j["settings"] = settings_status_json(ctx);
  j["hashing"] = {{"running", h.running},         {"current_id", h.current_id}, {"current_done", h.current_done},
                  {"current_total", h.current_total}, {"hashed", h.hashed},     {"failed", h.failed},
                  {"pending", h.pending}};

  // The background worker's periodic jobs: when each last ran and what it freed.
  Json jobs = Json::object();
  for (const manager::JobStats& js : m.worker().stats()) {
    Json jj;
    jj["interval_ms"] = js.interval_ms;
    jj["runs"] = js.runs;
    jj["failures"] = js.failures;
    jj["last_run_ms"] = js.last_run_ms >= 0 ? Json(js.last_run_ms) : Json();
    jj["last_duration_ms"] = js.last_duration_ms;
    jj["last_freed_bytes"] = js.last.freed_bytes;
    jj["last_freed_items"] = js.last.freed_items;
    jj["last_result"] = js.last.detail;
    jj["last_error"] = js.last_error.empty() ? Json() : Json(js.last_error);
    jj["freed_bytes_total"] = js.freed_bytes_total;
    jj["freed_items_total"] = js.freed_items_total;
    jobs[js.name] = std::move(jj);
  }
  j["background"] = {{"models_dir_scanned", m.scanned()},
                     {"headers_pending", m.registry().pending_headers()},
                     {"jobs", std::move(jobs)}};
  return j;
}

// Sends a 404 and returns false when `id` is not a model in the models dir.
bool require_model(ServerContext& ctx, const std::string& id, httplib::Response& res) {
  std::optional<manager::ModelRecord> rec = ctx.manager.registry().get(id);
  if (rec && rec->present) return true;
  send_error(res, not_found("The model '" + id + "' does not exist", "model_not_found"));
  return false;
}

// The model object after a state change.
void send_model(ServerContext& ctx, const std::string& id, httplib::Response& res) {
  std::optional<manager::ModelRecord> rec = ctx.manager.registry().get_with_header(id);
  send_json(res, 200, rec ? model_object(ctx, *rec) : Json{{"id", id}});
}

void handle_load(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const std::string id = req.matches[1];
  manager::AcquireOptions opts;
  if (!req.body.empty()) {
    Json body;
    if (!read_json_body(req, res, &body)) return;
    if (MaybeError e = parse_keep_alive(body, &opts.keep_alive_ms)) return send_error(res, *e);
  }
  if (!require_model(ctx, id, res)) return;
  manager::AcquireFailure failure;
  Status st = ctx.manager.cache().load(id, opts, &failure);
  if (!st.ok()) return send_error(res, acquire_error(st.error().message(), failure));
  send_model(ctx, id, res);
}

// Runs a cache or preloader change for a known model: 409 when the change is refused.
template <typename Fn>
void change(ServerContext& ctx, const httplib::Request& req, httplib::Response& res, Fn fn) {
  const std::string id = req.matches[1];
  if (!require_model(ctx, id, res)) return;
  Status st = fn(id);
  if (!st.ok()) return send_error(res, api_error(409, st.error().message()));
  send_model(ctx, id, res);
}

}  // namespace

void add_management_routes(httplib::Server& http, ServerContext& ctx) {
  add_event_routes(http, ctx);  // /v1/models/events: before the /v1/models/{id} patterns
  http.Get("/v1/models/stats", [&ctx](const httplib::Request&, httplib::Response& res) {
    send_json(res, 200, stats_json(ctx));
  });
  http.Post("/v1/models/refresh", [&ctx](const httplib::Request&, httplib::Response& res) {
    Result<manager::ScanReport> r = ctx.manager.refresh();
    if (!r.ok()) return send_error(res, server_error(r.error().message()));
    // The settings file is read again too; a bad one is reported here and in stats, and the
    // previous settings stay in force.
    Status settings = ctx.manager.reload_settings();
    send_json(res, 200, {{"added", r->added}, {"updated", r->updated}, {"removed", r->removed},
                         {"unchanged", r->unchanged},
                         // Read in the background (or at a model's first use); an unreadable
                         // file then shows its error in meta.error.
                         {"headers_pending", ctx.manager.registry().pending_headers()},
                         {"settings", {{"ok", settings.ok()},
                                       {"error", settings.ok() ? Json() : Json(settings.error().message())}}}});
  });
  http.Get(R"(/v1/models/([^/]+)/fit)", [&ctx](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    if (!require_model(ctx, id, res)) return;
    Result<manager::FitReport> r = ctx.manager.cache().fit(id);
    if (!r.ok()) return send_error(res, server_error(r.error().message()));
    Json j;
    j["fits"] = r->fits;
    j["evict"] = r->evict;
    j["needed_bytes"] = r->needed_bytes;
    j["free_bytes"] = r->free_bytes;
    j["budget_bytes"] = r->budget_bytes;
    j["loaded"] = r->loaded;
    j["wait_for"] = r->drain;
    j["demote"] = r->demote;  // GPU tier: idle GPU models that would move to host memory for it
    j["gpu_needed_bytes"] = r->gpu_needed_bytes;
    j["measured"] = r->measured;
    j["reason"] = r->reason.empty() ? Json() : Json(r->reason);
    send_json(res, 200, j);
  });
  // Forgets what the learned preloader learned (the request history and its counts).
  http.Post("/v1/models/learned/reset", [&ctx](const httplib::Request&, httplib::Response& res) {
    Status st = ctx.manager.learned().reset();
    if (!st.ok()) return send_error(res, server_error(st.error().message()));
    send_json(res, 200, {{"reset", true}});
  });
  // A request for the model is likely soon (a user is typing): preloaded when the rule allows.
  http.Post(R"(/v1/models/([^/]+)/hint)", [&ctx](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    if (!require_model(ctx, id, res)) return;
    Result<manager::PreloadDecision> d = ctx.manager.hint(id);
    if (!d.ok()) return send_error(res, server_error(d.error().message()));
    send_json(res, d->preload ? 202 : 200,
              {{"id", id}, {"preloading", d->preload}, {"reason", d->reason}, {"probability", d->probability},
               {"value_ms", d->value}, {"evicted_value_ms", d->evicted_value}, {"evict", d->evict}});
  });
  http.Post(R"(/v1/models/([^/]+)/load)", [&ctx](const httplib::Request& req, httplib::Response& res) {
    handle_load(ctx, req, res);
  });
  http.Post(R"(/v1/models/([^/]+)/preload)", [&ctx](const httplib::Request& req, httplib::Response& res) {
    change(ctx, req, res, [&](const std::string& id) { return ctx.manager.preloader().add_to_list(id); });
  });
  http.Delete(R"(/v1/models/([^/]+)/preload)", [&ctx](const httplib::Request& req, httplib::Response& res) {
    change(ctx, req, res, [&](const std::string& id) { return ctx.manager.preloader().remove_from_list(id); });
  });
  http.Post(R"(/v1/models/([^/]+)/pin)", [&ctx](const httplib::Request& req, httplib::Response& res) {
    change(ctx, req, res, [&](const std::string& id) { return ctx.manager.cache().pin(id); });
  });
  http.Delete(R"(/v1/models/([^/]+)/pin)", [&ctx](const httplib::Request& req, httplib::Response& res) {
    change(ctx, req, res, [&](const std::string& id) { return ctx.manager.cache().unpin(id); });
  });
  http.Delete(R"(/v1/models/([^/]+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    change(ctx, req, res, [&](const std::string& id) { return ctx.manager.cache().unload(id); });
  });
  // {"accept": true} takes the file as it is now as the expected one (it was replaced on
  // purpose); without it a file that differs from its recorded digest is a 409.
  http.Post(R"(/v1/models/([^/]+)/verify)", [&ctx](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    bool accept = false;
    if (!req.body.empty()) {
      Json body;
      if (!read_json_body(req, res, &body)) return;
      if (!body.is_object()) return send_error(res, bad_request("", "the body must be a JSON object"));
      if (MaybeError e = FieldReader(body).boolean("accept", &accept)) return send_error(res, *e);
    }
    if (!require_model(ctx, id, res)) return;
    Result<std::string> digest = accept ? ctx.manager.accept(id) : ctx.manager.verify(id);
    if (!digest.ok()) return send_error(res, api_error(409, digest.error().message(), "integrity_mismatch"));
    send_json(res, 200, {{"id", id}, {"sha256", *digest}, {"ok", true}, {"accepted", accept}});
  });
}

}  // namespace hangar::api
