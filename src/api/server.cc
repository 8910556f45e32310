// Server: the listener (limits, auth from the head), httplib's routing and error objects.
#include "api/server.h"

#include <httplib.h>

#include "api/http_listener.h"
#include "api/routes.h"
#include "base/log.h"
#include "manager/sha256.h"

namespace hangar::api {

// httplib as a router and response writer only: HttpListener owns the sockets and hands each
// complete request to process_request.
class Router final : public httplib::Server {
 public:
  using httplib::Server::process_request;
  // httplib calls no stream's content provider once its listening socket is invalid, and then
  // ends the response without its last chunk. The socket is the listener's, so this only
  // raises that flag, for good: a stream ends itself when the server stops (with its last
  // event), and httplib's own listen() and stop() are never called.
  void set_serving() { svr_sock_ = 0; }
};

namespace {

// Compares digests without an early exit, so neither the key nor its length can be found
// byte by byte from response times.
bool same_secret(const std::string& given, const std::string& key) {
  const std::string a = manager::sha256_bytes(given), b = manager::sha256_bytes(key);
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// Health and readiness answer load balancers and probes, which carry no key; readiness says
// only whether a model name is known and why it cannot be taken. The dashboard's page too.
bool is_public_path(std::string_view path) {
  return path == "/health" || path == "/v1/health" || path == "/health/ready" || path.starts_with("/health/ready/") ||
         is_ui_path(path);
}

// The API key check, on the raw head: the value after "Bearer " must be the key, byte for byte.
MaybeError check_api_key(const std::string& key, const HttpHead& head, bool cors) {
  if (key.empty() || is_public_path(head.path())) return std::nullopt;
  // Browsers send CORS preflights without credentials; they only ever get headers.
  if (cors && head.method == "OPTIONS") return std::nullopt;
  const std::string* auth = head.find("Authorization");
  if (auth == nullptr) return api_error(401, "missing API key: send the header 'Authorization: Bearer <key>'", "invalid_api_key");
  const std::string prefix = "Bearer ";
  if (head.count("Authorization") > 1 || auth->compare(0, prefix.size(), prefix) != 0 ||
      !same_secret(auth->substr(prefix.size()), key))
    return api_error(401, "invalid API key", "invalid_api_key");
  return std::nullopt;
}

HeaderList cors_headers(const CorsPolicy& cors, const std::string* origin, bool options,
                        const std::string* request_headers) {
  return cors.headers(origin ? *origin : "", options, request_headers ? *request_headers : "");
}

}  // namespace

Server::Server(manager::Manager& manager, ServerOptions options)
    : ctx_(std::make_unique<ServerContext>(manager, std::move(options))), http_(std::make_unique<Router>()) {
  const ServerOptions& o = ctx_->options;
  HttpListenerOptions lo;
  lo.host = o.host;
  lo.port = o.port;
  lo.threads = o.http_threads;
  lo.max_connections = o.max_connections;
  lo.limits.max_body_bytes = o.max_body_bytes;
  lo.read_timeout_ms = o.read_timeout_ms;
  ServerContext& ctx = *ctx_;
  if (o.cors.enabled()) {
    lo.refusal_headers = [&ctx](const HttpHead& head) {
      std::string lines;
      for (const auto& [k, v] : cors_headers(ctx.options.cors, head.find("Origin"), head.method == "OPTIONS",
                                             head.find("Access-Control-Request-Headers")))
        lines += k + ": " + v + "\r\n";
      return lines;
    };
  }
  listener_ = std::make_unique<HttpListener>(
      lo, [&ctx](const HttpHead& head) { return check_api_key(ctx.options.api_key, head, ctx.options.cors.enabled()); },
      [this](httplib::Stream& stream, bool close_connection, bool* connection_closed) {
        bool closed = false;
        const bool ok = http_->process_request(stream, close_connection, closed, nullptr);
        *connection_closed = closed;
        return ok;
      },
      [&ctx](int status) { ctx.metrics.record_http(status); });
  HttpListener* listener = listener_.get();
  ctx.client_connected = [listener](const httplib::Request& req) {
    return listener->peer_connected(req.remote_addr, req.remote_port);
  };
  install_handlers();
}

Server::~Server() { stop(); }

int Server::port() const { return listener_->port(); }

void Server::install_handlers() {
  ServerContext& ctx = *ctx_;
  // The listener enforces the body limit whatever the framing; httplib's check stays as a guard.
  http_->set_payload_max_length(ctx.options.max_body_bytes);
  // Only the Keep-Alive header's figures: the listener closes idle connections itself.
  http_->set_keep_alive_timeout(5);
  http_->set_keep_alive_max_count(1000);

  // Responses that httplib produced itself (no route, bad request line) get OpenAI's error
  // object too; handlers' own errors already have a body.
  const size_t max_body = ctx.options.max_body_bytes;
  http_->set_error_handler(httplib::Server::HandlerWithResponse(
      [max_body](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string msg;
    switch (res.status) {
      case 404: msg = "no route for " + req.method + " " + req.path; break;
      case 413: msg = "the request body exceeds the limit of " + std::to_string(max_body) + " bytes"; break;
      case 414: msg = "the request URI is too long"; break;
      case 400: msg = "malformed HTTP request"; break;
      default: msg = "HTTP " + std::to_string(res.status);
    }
    send_error(res, api_error(res.status, msg));
    return httplib::Server::HandlerResponse::Handled;
  }));

  http_->set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    log_error("unexpected exception in " + req.method + " " + req.path + ": " + what);
    send_error(res, server_error("internal error: " + what));
  });

  http_->set_logger([&ctx](const httplib::Request& req, const httplib::Response& res) {
    ctx.metrics.record_http(res.status);
    log_debug(req.method + " " + req.path + " -> " + std::to_string(res.status));
  });

  // CORS: the headers go on every answer httplib writes (errors and streams too); a preflight
  // is answered here, whatever its path.
  if (ctx.options.cors.enabled()) {
    http_->set_post_routing_handler([&ctx](const httplib::Request& req, httplib::Response& res) {
      const bool preflight = req.method == "OPTIONS";
      const std::string origin = req.get_header_value("Origin");
      const std::string asked = req.get_header_value("Access-Control-Request-Headers");
      for (const auto& [k, v] : cors_headers(ctx.options.cors, &origin, preflight, &asked)) res.set_header(k, v);
    });
    http_->Options(R"(.*)", [](const httplib::Request&, httplib::Response& res) { res.status = 204; });
  }

  // Order matters: fixed paths before the /v1/models/{id} patterns that would match them.
  add_management_routes(*http_, ctx);
  add_model_routes(*http_, ctx);
  add_settings_routes(*http_, ctx);
  add_chat_routes(*http_, ctx);
  add_completion_routes(*http_, ctx);
  add_embedding_routes(*http_, ctx);
  add_ollama_routes(*http_, ctx);
  add_utility_routes(*http_, ctx);
  add_metrics_routes(*http_, ctx);
  add_ui_routes(*http_, ctx);
}

Status Server::bind() { return listener_->bind(); }

void Server::run() {
  http_->set_serving();
  listener_->run();
}

void Server::drain() {
  ctx_->draining = true;
  listener_->drain();
}

bool Server::wait_drained(int64_t timeout_ms) { return listener_->wait_idle(timeout_ms); }

int Server::in_flight() const { return listener_->in_service(); }

void Server::stop() {
  ctx_->stopping = true;
  listener_->stop();
}

}  // namespace hangar::api
