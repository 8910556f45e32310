// /health, /health/ready (for load balancers), /tokenize, /detokenize and /apply-template (llama.cpp's server routes, per model).
#include "api/routes.h"

#include "api/chat_tools.h"
#include "api/json_fields.h"
#include "api/model_settings.h"

namespace hangar::api {
namespace {

// Reads "model" and "keep_alive" and acquires the model; on failure the error is sent.
bool hold_model(ServerContext& ctx, const Json& body, httplib::Response& res, ModelHold* hold) {
  std::string model;
  std::optional<int64_t> keep_alive;
  MaybeError e = FieldReader(body).required_string("model", &model);
  if (!e) e = parse_keep_alive(body, &keep_alive);
  if (!e) e = acquire_model(ctx, model, keep_alive, hold);
  if (e) send_error(res, *e);
  return !e;
}

void handle_tokenize(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body;
  if (!read_json_body(req, res, &body)) return;
  FieldReader f(body);
  std::string content;
  bool add_special = false, parse_special = true, with_pieces = false;  // llama.cpp's defaults
  if (!f.has("content")) return send_error(res, bad_request("content", "'content' is required (a string)"));
  for (MaybeError e : {f.string("content", &content), f.boolean("add_special", &add_special),
                       f.boolean("parse_special", &parse_special), f.boolean("with_pieces", &with_pieces)})
    if (e) return send_error(res, *e);
  ModelHold hold;
  if (!hold_model(ctx, body, res, &hold)) return;
  const Tokenizer& tok = hold.model->tokenizer();
  Json tokens = Json::array();
  for (int32_t id : tok.encode(content, add_special, parse_special)) {
    if (with_pieces) tokens.push_back({{"id", id}, {"piece", tok.token_to_piece(id, true)}});
    else tokens.push_back(id);
  }
  send_json(res, 200, {{"tokens", std::move(tokens)}});
}

void handle_detokenize(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body;
  if (!read_json_body(req, res, &body)) return;
  if (!body.contains("tokens") || !body["tokens"].is_array())
    return send_error(res, bad_request("tokens", "'tokens' is required (an array of token ids)"));
  ModelHold hold;
  if (!hold_model(ctx, body, res, &hold)) return;
  std::vector<int32_t> ids;
  const Json& arr = body["tokens"];
  for (size_t i = 0; i < arr.size(); ++i) {
    const Json& t = arr[i];
    if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= hold.model->n_vocab())
      return send_error(res, bad_request("tokens", "'tokens[" + std::to_string(i) + "]' must be a token id in [0, " +
                                                       std::to_string(hold.model->n_vocab()) + ")"));
    ids.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  send_json(res, 200, {{"content", hold.model->tokenizer().decode(ids, /*special=*/true)}});
}

void handle_apply_template(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  Json body;
  if (!read_json_body(req, res, &body)) return;
  // The same parsing as a chat request, so the render is exactly what chat would use.
  ChatRequest cr;
  if (MaybeError e = parse_chat_request(body, &cr)) return send_error(res, *e);
  ModelHold hold;
  if (MaybeError e = acquire_model(ctx, cr.model, cr.common.keep_alive_ms, &hold)) return send_error(res, *e);
  std::string prompt;
  if (MaybeError e = render_chat_request(ctx, cr, *hold.model, /*tools=*/nullptr, &prompt)) return send_error(res, *e);
  send_json(res, 200, {{"prompt", prompt}});
}

const char* failure_name(manager::FailureKind k) {
  switch (k) {
    case manager::FailureKind::kUnknownModel: return "unknown_model";
    case manager::FailureKind::kInsufficientMemory: return "insufficient_memory";
    case manager::FailureKind::kQueueFull: return "queue_full";
    case manager::FailureKind::kQueueTimeout: return "queue_timeout";
    case manager::FailureKind::kIntegrity: return "integrity";
    case manager::FailureKind::kLoadFailed: return "load_failed";
    case manager::FailureKind::kNone: break;
  }
  return "none";
}

// 200 when this replica takes requests now (for `name`, when given: a model id or alias that is
// known, not refused by memory limits or a full queue), else 503 saying why. A dry run: it is no
// use of any model. The answer names the model's id, as generation responses do.
void handle_ready(ServerContext& ctx, const std::string& name, httplib::Response& res) {
  const std::string model = name.empty() ? name : resolve_model_name(ctx, name);
  Json j;
  if (ctx.stopping || ctx.draining) {
    j = {{"status", "not_ready"}, {"reason", "the server is stopping"}, {"draining", true}};
    if (!model.empty()) j["model"] = model;
    return send_json(res, 503, j);
  }
  if (model.empty()) return send_json(res, 200, {{"status", "ready"}, {"draining", false}});
  const manager::Readiness r = ctx.manager.cache().readiness(model);
  j = {{"status", r.ready ? "ready" : "not_ready"}, {"draining", false}, {"model", model},
       {"state", manager::model_state_name(r.state)}, {"in_flight", r.in_flight}, {"waiting", r.waiting}};
  if (!r.ready) {
    j["reason"] = r.reason;
    j["code"] = failure_name(r.kind);
  }
  send_json(res, r.ready ? 200 : 503, j);
}

}  // namespace

void add_utility_routes(httplib::Server& http, ServerContext& ctx) {
  auto health = [&ctx](const httplib::Request&, httplib::Response& res) {
    const manager::CacheStats c = ctx.manager.cache().stats();
    send_json(res, 200, {{"status", "ok"},
                         // Probes call this often: the ids, not copies of every record.
                         {"models", ctx.manager.registry().versions().size()},
                         {"loaded", c.loaded}});
  };
  http.Get("/health/ready", [&ctx](const httplib::Request& req, httplib::Response& res) {
    handle_ready(ctx, req.get_param_value("model"), res);
  });
  http.Get(R"(/health/ready/(.+))", [&ctx](const httplib::Request& req, httplib::Response& res) {
    handle_ready(ctx, req.matches[1], res);
  });
  http.Get("/health", health);
  http.Get("/v1/health", health);
  http.Post("/tokenize", [&ctx](const httplib::Request& req, httplib::Response& res) { handle_tokenize(ctx, req, res); });
  http.Post("/detokenize",
            [&ctx](const httplib::Request& req, httplib::Response& res) { handle_detokenize(ctx, req, res); });
  http.Post("/apply-template",
            [&ctx](const httplib::Request& req, httplib::Response& res) { handle_apply_template(ctx, req, res); });
}

}  // namespace hangar::api
