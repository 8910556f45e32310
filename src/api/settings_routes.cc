// PATCH and DELETE /v1/models/{id}/settings: run-time settings, persisted in the registry.
#include "api/model_settings.h"
#include "api/routes.h"

namespace hangar::api {
namespace {

// The real id of the model the path names (by id or alias); a 404 is sent when there is none.
bool model_of_path(ServerContext& ctx, const httplib::Request& req, httplib::Response& res, std::string* id) {
  *id = resolve_model_name(ctx, req.matches[1]);
  std::optional<manager::ModelRecord> rec = ctx.manager.registry().get(*id);
  if (rec && rec->present) return true;
  send_error(res, not_found("The model '" + std::string(req.matches[1]) + "' does not exist", "model_not_found"));
  return false;
}

void send_model_settings(ServerContext& ctx, const std::string& id, httplib::Response& res) {
  std::optional<manager::ModelRecord> rec = ctx.manager.registry().get_with_header(id);
  send_json(res, 200, rec ? model_object(ctx, *rec) : Json{{"id", id}});
}

}  // namespace

void add_settings_routes(httplib::Server& http, ServerContext& ctx) {
  http.Patch(R"(/v1/models/([^/]+)/settings)", [&ctx](const httplib::Request& req, httplib::Response& res) {
    Json body;
    if (!read_json_body(req, res, &body)) return;
    std::string id;
    if (!model_of_path(ctx, req, res, &id)) return;
    manager::SettingsLayer changes;
    std::vector<manager::SettingKey> removals;
    if (MaybeError e = parse_settings_patch(body, &changes, &removals)) return send_error(res, *e);
    Status st = ctx.manager.settings().patch(id, changes, removals);
    if (!st.ok()) return send_error(res, bad_request("", st.error().message()));
    send_model_settings(ctx, id, res);
  });
  http.Delete(R"(/v1/models/([^/]+)/settings)", [&ctx](const httplib::Request& req, httplib::Response& res) {
    std::string id;
    if (!model_of_path(ctx, req, res, &id)) return;
    Status st = ctx.manager.settings().clear(id);
    if (!st.ok()) return send_error(res, server_error(st.error().message()));
    send_model_settings(ctx, id, res);
  });
}

}  // namespace hangar::api
