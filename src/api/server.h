// Server: the HTTP front of hangar serve: our socket layer, httplib's routing, auth, every route.
#pragma once

#include <memory>

#include "api/context.h"
#include "base/result.h"
#include "manager/manager.h"

namespace hangar::api {

class HttpListener;
class Router;

// Routes: OpenAI (/v1/models, /v1/models/{id}, /v1/chat/completions, /v1/completions),
// management (/v1/models/stats, /v1/models/refresh, /v1/models/{id}/load|preload|pin|verify,
// DELETE /v1/models/{id}), and /tokenize, /detokenize, /apply-template, /health, /metrics.
// With an API key every route but /health needs "Authorization: Bearer KEY", checked from the
// request head before any body is read. Errors are OpenAI error objects. Connections are read
// by HttpListener under options' limits; each complete request is served on one of
// options.http_threads threads (a generation holds its thread until its response ends).
// The manager must be open (and started by the caller) and must outlive the server.
class Server {
 public:
  Server(manager::Manager& manager, ServerOptions options);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds the listening socket; an error names the address and why (in use, ...).
  Status bind();
  // The bound port (the chosen one when options.port was 0); valid after bind().
  int port() const;
  // Serves until stop(); returns at once if not bound.
  void run();
  // Stops accepting and ends run(). Thread-safe; may be called before run() starts.
  void stop();
  // Graceful shutdown, step one: new connections are refused, idle ones close, a request
  // still arriving gets a 503 with Retry-After, event streams end, and requests already
  // received go on.
  // Thread-safe. stop() then ends run(), cancelling what still runs.
  void drain();
  // After drain(): waits up to timeout_ms for the requests in flight to finish; true once
  // none is left.
  bool wait_drained(int64_t timeout_ms);
  // Requests queued or being served now.
  int in_flight() const;

 private:
  void install_handlers();

  std::unique_ptr<ServerContext> ctx_;
  std::unique_ptr<Router> http_;
  std::unique_ptr<HttpListener> listener_;
};

}  // namespace hangar::api
