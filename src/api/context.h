// ServerContext: what every route handler shares (manager, metrics, templates) and small helpers.
#pragma once

#include <httplib.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "api/api_error.h"
#include "api/cors.h"
#include "api/metrics.h"
#include "api/model_list.h"
#include "api/request.h"
#include "base/profiler.h"
#include "chat/chat_template.h"
#include "manager/engine_loader.h"
#include "manager/manager.h"

namespace hangar::api {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                            // 0: any free port (see Server::port())
  std::string api_key;                        // empty: no authentication
  size_t max_body_bytes = 8u << 20;           // larger request bodies get a 413, chunked or not
  int http_threads = 64;                      // requests served at once (streams hold one each)
  int max_connections = 1024;                 // open connections; past it the longest-idle closes
  int64_t read_timeout_ms = 10000;            // a request must arrive within this (408), and waits
                                              // this long at most for a free thread (503)
  std::string default_model;                  // serves requests without `model` (else the only model)
  CorsPolicy cors;                            // --cors-origin (default: off)
  Profiler* profiler = nullptr;               // serve --profile: request parsing, templates,
                                              // tokenization, response writing
  const engine::KvStore* kv_store = nullptr;  // saved prompt prefixes, for /metrics; null: none
};

// Parsed chat templates, one per distinct template source, shared by all models that carry it
// (ChatML for those without one). Failures are kept too, so a template refused for exceeding
// its limits costs its probing budget once, not on every request. Thread-safe.
class TemplateCache {
 public:
  // The template for `source` (empty: ChatML). Errors name the model whose template fails.
  Result<std::shared_ptr<const chat::ChatTemplate>> get(const std::string& model_id, const std::string& source);

 private:
  std::mutex mu_;
  std::map<std::string, Result<std::shared_ptr<const chat::ChatTemplate>>> parsed_;
};

// Shared by the handlers; lives as long as the Server. The manager must outlive it.
struct ServerContext {
  ServerContext(manager::Manager& m, ServerOptions o) : manager(m), options(std::move(o)) {}
  manager::Manager& manager;
  const ServerOptions options;
  Metrics metrics;
  TemplateCache templates;
  ModelList model_list;  // GET /v1/models, rendered again only where something changed
  // Set when the server stops: running generations are cancelled so that shutdown does not
  // wait for long streams.
  std::atomic<bool> stopping{false};
  // Set when a graceful shutdown begins (Server::shutdown): running requests go on, event
  // streams end so that they do not hold the shutdown for its whole grace.
  std::atomic<bool> draining{false};
  // Whether the client of a request being served is still connected (set by the Server;
  // thread-safe).
  std::function<bool(const httplib::Request&)> client_connected = [](const httplib::Request&) { return true; };
};

// A request's hold on a loaded engine model: while it lives the model is not evicted.
struct ModelHold {
  manager::Lease lease;
  manager::EngineModel* model = nullptr;  // owned by the lease
};

// The response for a failed acquire: unknown model 404, never fits 507 (with the numbers), queue
// full 429 and queue timeout 503 (both with Retry-After), integrity mismatch 409, load failure
// 500.
ApiError acquire_error(const std::string& message, const manager::AcquireFailure& failure);
// Acquires the model `name` stands for (its id or an alias; see model_settings.h), loading it
// if needed, possibly waiting for memory or evicting idle models, mapping failures with
// acquire_error().
MaybeError acquire_model(ServerContext& ctx, const std::string& name, std::optional<int64_t> keep_alive_ms,
                         ModelHold* out);

// A request without `model` (empty `*model`) gets --default-model, or the models dir's only
// model; otherwise a 400 naming `model`. A named model is left as it is.
MaybeError resolve_default_model(ServerContext& ctx, std::string* model);

// Writes `body` as JSON with `status`.
void send_json(httplib::Response& res, int status, const Json& body);
void send_error(httplib::Response& res, const ApiError& error);
// Parses the body; on failure writes the 400 and returns false.
bool read_json_body(const httplib::Request& req, httplib::Response& res, Json* out);

// The chat template a model renders with: its settings' chat_template, else the file's (ChatML
// when it has none). A 500 when it cannot be parsed.
MaybeError chat_template_for(ServerContext& ctx, const manager::EngineModel& model,
                             std::shared_ptr<const chat::ChatTemplate>* out);

// The render of `tmpl` (chat_template_for the model) with the model's settings (system prompt)
// and tokens, as /apply-template shows it and chat completions use it.
MaybeError render_chat_prompt(ServerContext& ctx, const manager::EngineModel& model, const chat::ChatTemplate& tmpl,
                              const Json& messages, const Json& tools, bool add_generation_prompt,
                              const Json& template_kwargs, std::string* prompt);

}  // namespace hangar::api
