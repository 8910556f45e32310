// Server: httplib set-up, authentication, error objects for unrouted and oversized requests.
#include "api/server.h"

#include <httplib.h>

#include <chrono>
#include <thread>

#include "api/routes.h"
#include "base/log.h"

namespace hangar::api {
namespace {

// Compares without an early exit, so the key cannot be guessed byte by byte from timings.
bool same_secret(const std::string& given, const std::string& key) {
  if (given.size() != key.size()) return false;  // the length is not the secret
  unsigned char diff = 0;
  for (size_t i = 0; i < key.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ key[i]);
  return diff == 0;
}

bool is_public_path(const std::string& path) { return path == "/health" || path == "/v1/health"; }

}  // namespace

Server::Server(manager::Manager& manager, ServerOptions options)
    : ctx_(std::make_unique<ServerContext>(manager, std::move(options))), http_(std::make_unique<httplib::Server>()) {
  install_handlers();
}

Server::~Server() { stop(); }

void Server::install_handlers() {
  ServerContext& ctx = *ctx_;
  const int threads = std::max(4, ctx.options.http_threads);
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http_->set_payload_max_length(ctx.options.max_body_bytes);
  // An idle keep-alive connection holds its thread until this runs out, also at shutdown, so
  // it stays short (httplib's default; clients see it in the Keep-Alive header).
  http_->set_keep_alive_timeout(5);
  http_->set_keep_alive_max_count(1000);

  http_->set_pre_routing_handler([&ctx](const httplib::Request& req, httplib::Response& res) {
    if (ctx.options.api_key.empty() || is_public_path(req.path)) return httplib::Server::HandlerResponse::Unhandled;
    const std::string auth = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    if (auth.compare(0, prefix.size(), prefix) == 0 && same_secret(auth.substr(prefix.size()), ctx.options.api_key))
      return httplib::Server::HandlerResponse::Unhandled;
    ApiError e = api_error(401, auth.empty() ? "missing API key: send the header 'Authorization: Bearer <key>'"
                                             : "invalid API key",
                           "invalid_api_key");
    send_error(res, e);
    return httplib::Server::HandlerResponse::Handled;
  });

  // Responses that httplib produced itself (no route, body too large, bad request line) get
  // OpenAI's error object too; handlers' own errors already have a body.
  const size_t max_body = ctx.options.max_body_bytes;
  http_->set_error_handler(httplib::Server::HandlerWithResponse(
      [max_body](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string msg;
    switch (res.status) {
      case 404: msg = "no route for " + req.method + " " + req.path; break;
      case 413: msg = "the request body exceeds the limit of " + std::to_string(max_body) + " bytes"; break;
      case 414: msg = "the request URI is too long"; break;
      case 400:
        // httplib refuses a POST that gives neither a length nor chunks, before any route runs.
        if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding"))
          msg = req.method + " without a Content-Length header: send a body (curl: -d '' or -d '{}')";
        else
          msg = "malformed HTTP request";
        break;
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

  // Order matters: fixed paths before the /v1/models/{id} patterns that would match them.
  add_management_routes(*http_, ctx);
  add_model_routes(*http_, ctx);
  add_settings_routes(*http_, ctx);
  add_chat_routes(*http_, ctx);
  add_completion_routes(*http_, ctx);
  add_utility_routes(*http_, ctx);
  add_metrics_routes(*http_, ctx);
}

Status Server::bind() {
  const std::string& host = ctx_->options.host;
  const int want = ctx_->options.port;
  if (want == 0) {
    port_ = http_->bind_to_any_port(host);
  } else {
    port_ = http_->bind_to_port(host, want) ? want : -1;
  }
  if (port_ < 0)
    return Error("cannot listen on " + host + ":" + std::to_string(want) +
                 " (address in use, not local, or not permitted; see --host and --port)");
  return Status::Ok();
}

void Server::run() {
  run_entered_ = true;
  if (port_ >= 0 && !stopping_) http_->listen_after_bind();
  run_exited_ = true;
}

void Server::stop() {
  stopping_ = true;
  ctx_->stopping = true;
  while (run_entered_ && !run_exited_ && !http_->is_running())
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  http_->stop();
}

}  // namespace hangar::api
